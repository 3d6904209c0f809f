"""Envelope addresses as Postfix's smtpd reads them, and the MAIL/RCPT ESMTP parameters.

``parse_path`` is Postfix's ``extract_addr()`` plus the syntax half of ``smtpd_check_addr()``:
it takes one argument of a MAIL FROM / RCPT TO / VRFY command (as the command tokenizer left
it, quotes and brackets included) and returns the address in *internal* form, the form the
queue, the maps and the replies use: comments, quotes, backslash escapes and source routes
removed (``<"a b"@x>`` → ``a b@x``, ``<@r1,@r2:u@x>`` → ``u@x``).

Postfix is lenient where RFC 5321 is strict, and mailrelay accepts what Postfix accepts (the
cases are in ``tests/golden/smtpd/addresses.dialogue``): no brackets (``MAIL FROM:a@b``), stray
dots in the local part, several ``@`` (``user@foreign@relay``, internal form kept so the relay
checks see it), ``%`` and ``!``.  It refuses what Postfix refuses: two addresses (``a b@c``,
``a,b@c``), a group end ``;``, junk after ``>``, an empty domain (``a@``, ``@``), a domain that
is not a valid host name or address literal, and a non-ASCII domain without SMTPUTF8.

The MAIL and RCPT parameters are in :mod:`mailrelay.mail.esmtp`.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass

from mailrelay.mail import hostname

# --- the address itself --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    """An envelope address: ``address`` in internal form, ``raw`` as the client sent it."""

    #: Internal form; ``""`` is the null sender.
    address: str
    #: The command argument as received (``<"a b"@x.example>``), for ORCPT and logging.
    raw: str

    @property
    def is_null(self) -> bool:
        return self.address == ""

    @property
    def localpart(self) -> str:
        at = self.address.rfind("@")
        return self.address if at < 0 else self.address[:at]

    @property
    def domain(self) -> str:
        """The part after the last ``@`` (``""`` when there is none)."""
        at = self.address.rfind("@")
        return "" if at < 0 else self.address[at + 1 :]


_SPECIALS = '()<>@,;:\\".[]'
_ATOM_END = re.compile(r'[\s()<>@,;:\\".\[\]]')


class _Tok(enum.Enum):
    ATOM = "atom"
    QUOTED = "quoted"
    LITERAL = "literal"
    SPECIAL = "special"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Tok
    #: The unquoted value (for SPECIAL, the character itself).
    value: str


def _scan(text: str) -> list[_Token] | None:
    """RFC 822 tokens, as Postfix's tok822_scan: comments dropped; None on unbalanced input."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "(":
            depth = 0
            while i < n:
                if text[i] == "\\":
                    i += 1
                elif text[i] == "(":
                    depth += 1
                elif text[i] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            if i >= n:
                return None
            i += 1
        elif c == '"':
            value, i = _until(text, i + 1, '"')
            if value is None:
                return None
            tokens.append(_Token(_Tok.QUOTED, value))
        elif c == "[":
            value, i = _until(text, i + 1, "]")
            if value is None:
                return None
            tokens.append(_Token(_Tok.LITERAL, "[" + value + "]"))
        elif c in _SPECIALS and c != "\\":
            tokens.append(_Token(_Tok.SPECIAL, c))
            i += 1
        else:
            # An atom; a backslash escapes the next character, even a space (``a\ b``).  One
            # at the very end escapes nothing and is dropped, as tok822_scan's COLLECT drops
            # it (it once stopped this loop without consuming it: ``RCPT TO:a\`` spun forever).
            out: list[str] = []
            while i < n:
                if text[i] == "\\":
                    if i + 1 < n:
                        out.append(text[i + 1])
                    i += 2
                    continue
                if _ATOM_END.match(text, i):
                    break
                out.append(text[i])
                i += 1
            tokens.append(_Token(_Tok.ATOM, "".join(out)))
    return tokens


def _until(text: str, i: int, close: str) -> tuple[str | None, int]:
    out: list[str] = []
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif c == close:
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    return None, i


def _is(tok: _Token, char: str) -> bool:
    return tok.kind is _Tok.SPECIAL and tok.value == char


def _strip_route_and_group(tokens: list[_Token]) -> list[_Token] | None:
    """Drop a source route (``@a,@b:``) or a group name (``name:``) in front of the address."""
    colon = next((i for i, t in enumerate(tokens) if _is(t, ":")), -1)
    if colon < 0:
        return tokens
    head = tokens[:colon]
    if head and _is(head[0], "@"):
        return tokens[colon + 1 :]  # source route: anything up to the colon
    if any(t.kind is _Tok.SPECIAL and t.value != "." for t in head):
        return None  # an address before the colon (``a@b.c:``)
    return tokens[colon + 1 :]


def _internal(tokens: list[_Token]) -> str | None:
    """The addr-spec in internal form, or None when the tokens hold more than one address."""
    out: list[str] = []
    prev_word = False
    for tok in tokens:
        if tok.kind is _Tok.SPECIAL:
            if tok.value not in ".@":
                return None  # ``,`` ``;`` ``:`` ``<``: a list or a group, not one address
            out.append(tok.value)
            prev_word = False
        else:
            if prev_word:
                return None  # two words in a row: ``a b@c`` is two addresses to Postfix
            out.append(tok.value)
            prev_word = True
    return "".join(out)


# extract() runs for every MAIL FROM and RCPT TO, and the per-command profile had it in _scan(),
# a regex match and an append per character.  Nearly every client sends a plain
# ``<local@domain>``, and on text with no white space (str.isspace(), which is exactly what
# ``\s`` matches in a str pattern) and no special but ``.`` and ``@``, the general path gives
# the text back unchanged, however the dots and at-signs fall (``a..b@c``, ``@``, ``a@b@c``):
# _scan() yields only maximal atoms between those two specials, so never two words in a row;
# with no ``<`` or ``:`` there is no phrase or route to drop; _internal() joins the tokens
# again.  So one fullmatch settles it, in C; group 1 is the text between the brackets.  A
# ``<`` without its ``>`` or the reverse leaves a bracket in the text and takes the general
# path, as does everything else.  tests/unit/mail/test_address_fast.py holds the two equal.
_PLAIN_TEXT = r"[^\s" + re.escape(_SPECIALS.replace(".", "").replace("@", "")) + r"]*"
_PLAIN = re.compile(rf"<({_PLAIN_TEXT})>|{_PLAIN_TEXT}")


def extract(raw: str) -> str | None:
    """The internal form of a command's address argument, or None when it is not one address."""
    plain = _PLAIN.fullmatch(raw)
    if plain is not None:
        inner: str | None = plain[1]
        return raw if inner is None else inner
    return _extract_general(raw)


def _extract_general(raw: str) -> str | None:
    """:func:`extract` for any input: the tokenizer, the reference the shortcut must agree with."""
    text = raw
    if text.startswith("<"):
        if not text.endswith(">") or len(text) < 2:
            return None
        text = text[1:-1]
    tokens = _scan(text)
    if tokens is None:
        return None
    # A route-addr inside (``<Name <a@b>>``, ``<<a@b>>``): the address is what the brackets
    # hold; the phrase around it is ignored, as Postfix does when not strict_rfc821_envelopes.
    opens = [i for i, t in enumerate(tokens) if _is(t, "<")]
    if opens:
        start = opens[-1] + 1
        end = next((i for i in range(start, len(tokens)) if _is(tokens[i], ">")), len(tokens))
        tokens = tokens[start:end]
    tokens = [t for t in tokens if not _is(t, ">")]
    stripped = _strip_route_and_group(tokens)
    if stripped is None:
        return None
    return _internal(stripped)


# --- host names (Postfix's valid_hostname / valid_hostaddr) --------------------------------



def valid_hostname(name: str, *, utf8: bool = False) -> bool:
    """Postfix's valid_hostname(); with *utf8*, non-ASCII letters count as letters."""
    if utf8 and not name.isascii():
        name = re.sub(r"[^\x00-\x7f]", "a", name)
    return hostname.valid_hostname(name)


def valid_address_literal(literal: str) -> bool:
    """``[192.0.2.1]`` or ``[IPv6:2001:db8::1]``."""
    inner = literal[1:-1]
    try:
        if inner[:5].lower() == "ipv6:":
            ipaddress.IPv6Address(inner[5:])
        else:
            if inner.count(".") != 3:
                return False
            ipaddress.IPv4Address(inner)
    except ValueError:
        return False
    return True


def valid_domain(domain: str, *, smtputf8: bool) -> bool:
    """The domain of an envelope address: trailing dots are dropped, as trivial-rewrite does."""
    if domain.startswith("[") and domain.endswith("]"):
        return valid_address_literal(domain)
    domain = domain.rstrip(".")
    if not domain.isascii() and not smtputf8:
        return False
    return valid_hostname(domain, utf8=True)


def parse_path(raw: str, *, allow_null: bool, smtputf8: bool) -> Address | None:
    """A MAIL FROM / RCPT TO / VRFY argument as an :class:`Address`; None on bad syntax."""
    internal = extract(raw)
    if internal is None:
        return None
    if internal == "":
        return Address("", raw) if allow_null else None
    at = internal.rfind("@")
    if at >= 0 and not valid_domain(internal[at + 1 :], smtputf8=smtputf8):
        return None
    return Address(internal, raw)
