"""The SMTP server's command table and command-line tokenizer.

The table is data, as Postfix's ``smtpd_cmd_table``: each verb has flags that the server reads
instead of special-casing verbs in code.

* ``LIMIT`` — a "junk" command (NOOP, VRFY, ETRN, RSET, HELO, EHLO): past
  ``smtpd_junk_command_limit`` of them each one counts as an error.
* ``PRE_TLS`` — allowed before STARTTLS when TLS is required (``smtpd_tls_security_level =
  encrypt``); every other command gets ``530 5.7.0 Must issue a STARTTLS command first``.
* ``LAST`` — must be the last command of a pipelined group (RFC 2920): input already waiting
  behind it is improper pipelining.

The tokenizer is Postfix's ``smtpd_token()``: words separated by white space, where ``<...>``
(nesting) and ``"..."`` may contain white space, and ``FROM:`` / ``TO:`` end a word so that
``MAIL FROM:<a@b>`` and ``MAIL FROM: <a@b>`` both give ``[MAIL, FROM:, <a@b>]``.  An
unterminated ``<`` or ``"`` marks the word as an error (Postfix's SMTPD_TOK_ERROR).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Verb(enum.Enum):
    HELO = "HELO"
    EHLO = "EHLO"
    XCLIENT = "XCLIENT"
    XFORWARD = "XFORWARD"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    BDAT = "BDAT"
    RSET = "RSET"
    NOOP = "NOOP"
    VRFY = "VRFY"
    ETRN = "ETRN"
    QUIT = "QUIT"


class Flag(enum.Flag):
    NONE = 0
    LIMIT = enum.auto()
    PRE_TLS = enum.auto()
    LAST = enum.auto()


@dataclass(frozen=True, slots=True)
class Command:
    verb: Verb
    flags: Flag


_TABLE = (
    Command(Verb.HELO, Flag.LIMIT | Flag.PRE_TLS | Flag.LAST),
    Command(Verb.EHLO, Flag.LIMIT | Flag.PRE_TLS | Flag.LAST),
    Command(Verb.XCLIENT, Flag.NONE),
    Command(Verb.XFORWARD, Flag.NONE),
    Command(Verb.STARTTLS, Flag.PRE_TLS),
    Command(Verb.AUTH, Flag.NONE),
    Command(Verb.MAIL, Flag.NONE),
    Command(Verb.RCPT, Flag.NONE),
    Command(Verb.DATA, Flag.LAST),
    Command(Verb.BDAT, Flag.NONE),
    Command(Verb.RSET, Flag.LIMIT),
    Command(Verb.NOOP, Flag.LIMIT | Flag.PRE_TLS | Flag.LAST),
    Command(Verb.VRFY, Flag.LIMIT | Flag.LAST),
    Command(Verb.ETRN, Flag.LIMIT),
    Command(Verb.QUIT, Flag.PRE_TLS),
)

#: Upper-case verb → command.
COMMANDS: dict[str, Command] = {c.verb.value: c for c in _TABLE}


def lookup(word: str) -> Command | None:
    return COMMANDS.get(word.upper()) if word.isascii() else None


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    #: An unterminated ``<`` or ``"``.
    error: bool = False


def _quoted(line: str, i: int, out: list[str], close: str) -> tuple[int, bool]:
    """Copy a ``<...>`` or ``"..."`` group starting after its opener; (index, terminated)."""
    stack = [close]
    n = len(line)
    while i < n:
        c = line[i]
        out.append(c)
        i += 1
        if c == "\\":
            if i < n:
                out.append(line[i])
                i += 1
        elif c == stack[-1]:
            stack.pop()
            if not stack:
                return i, True
        elif c == '"':
            stack.append('"')  # a quoted string inside <...> has the highest precedence
        elif c == "<" and stack[-1] == ">":
            stack.append(">")
    return i, False


#: C's isspace() set: Python's str.isspace() also accepts Unicode spaces, Postfix does not.
_SPACE = frozenset(" \t\n\v\f\r")


#: Lines that split correctly on " " alone: no other C white space, no ``"`` or ``\``, and
#: each ``<`` closes at the next ``>`` with nothing inside that could make the group span
#: words, nest or stay open.  Written as an unrolled, possessive loop so that a long hostile
#: line costs linear time to reject.
_PLAIN_LINE = re.compile(
    r'[^\t\n\v\f\r<"\\]*+(?:<[^ \t\n\v\f\r<>"\\]*+>[^\t\n\v\f\r<"\\]*+)*+'
)
_SPLIT_WORDS = ("from:", "to:")


def tokenize(line: str) -> list[Token]:
    """Split a command line into words, as Postfix's smtpd_token()."""
    # Runs on every command line, and the character loop of _tokenize_general() was a
    # large share of per-command CPU.  Nearly all real lines (EHLO x, MAIL FROM:<a@b> SIZE=n,
    # RCPT TO:<c@d>, DATA, QUIT) are plain words that one regex check and str.split() handle
    # in C; anything else goes to the reference loop.
    if _PLAIN_LINE.fullmatch(line) is None:
        return _tokenize_general(line)
    if ":" not in line:
        return [Token(word) for word in line.split(" ") if word]
    tokens: list[Token] = []
    for word in line.split(" "):
        if not word:
            continue
        # smtpd_token() ends a word after a ":" that makes it "from:" or "to:"; only the first
        # ":" can (the word so far would hold another ":" or a "<" otherwise), and the rest of
        # the word is a new word that may end the same way ("FROM:TO:x").
        colon = word.find(":")
        while colon >= 0 and word[:colon + 1].lower() in _SPLIT_WORDS:
            tokens.append(Token(word[:colon + 1]))
            word = word[colon + 1:]
            colon = word.find(":")
        if word:
            tokens.append(Token(word))
    return tokens


def _tokenize_general(line: str) -> list[Token]:
    """The reference smtpd_token() loop, for the lines tokenize() cannot split in C."""
    tokens: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        out: list[str] = []
        error = False
        while i < n:
            c = line[i]
            if c in _SPACE:
                while i < n and line[i] in _SPACE:
                    i += 1
                if out:
                    break
                continue
            i += 1
            if c in '<"':
                out.append(c)
                i, ok = _quoted(line, i, out, ">" if c == "<" else '"')
                error = error or not ok
            elif c == ":":
                out.append(c)
                word = "".join(out).lower()
                if word in ("from:", "to:"):
                    break
            else:
                if c == "\\":
                    out.append(c)
                    if i >= n:
                        break
                    c = line[i]
                    i += 1
                out.append(c)
        if out:
            tokens.append(Token("".join(out), error))
    return tokens


def looks_like_header(word: str) -> bool:
    """``Label:`` as the first word: a mail header sent as a command (Postfix's is_header)."""
    colon = word.find(":")
    if colon <= 0:
        return False
    return all("!" <= c <= "~" for c in word[:colon])
