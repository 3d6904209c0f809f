"""What Postfix 3.7's sendmail(1) does to its input, and what cleanup does to a local submission.

Pure: bytes and strings in, values out.  ``mailrelay sendmail`` reads stdin through
:func:`message_lines`, extracts ``-t`` recipients with :class:`HeaderRecipients`, parses ``-f``
and command-line recipients with :func:`address_list`; pickup drops ``message_drop_headers``
(:func:`drop_headers`) and takes source routes off (:func:`envelope_recipient`).

The rules, each checked against Postfix (``sendmail -C`` of a private instance):

* Every line is stored with CRLF, whatever its end was: all trailing CRs are removed first
  (``sendmail_fix_line_endings = always``), so ``a\\r\\r\\n`` is ``a``.  A last line without a
  newline is ended too.
* Leading ``From `` lines (also ``>From ``, ``>>From ``...) are skipped, as mbox separators.
* Without ``-i``/``-oi``, a line holding only ``.`` (after the CRs are removed) ends the input.
* Addresses are parsed as Postfix's tok822_parse() does, a parser more lenient than RFC 5322:
  comments are dropped, a phrase before ``<...>`` is ignored, a group (``name: a, b;``) yields
  its members, and two words without a comma are two addresses (``John Doe`` is ``John`` and
  ``Doe``).  The result is the internal form: quotes and backslashes removed.
* ``-t`` takes recipients from To:, Cc: and Bcc: of the primary header section, added after
  the command-line ones; once a Resent-To:, Resent-Cc: or Resent-Bcc: is seen, only the
  Resent- headers count.
* cleanup drops the headers named in ``message_drop_headers`` (default ``bcc, content-length,
  resent-bcc, return-path``) from every message, local or not.  That belongs in
  :mod:`mailrelay.cleanup.message`; :func:`drop_headers` is here until it moves there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mailrelay.cleanup.headers import HEADER_LINE
from mailrelay.cleanup.tok822 import addresses

#: Envelope attributes that sendmail writes into a maildrop file for pickup.
FULL_NAME_ATTRIBUTE = "sender_fullname"
REWRITE_CONTEXT_ATTRIBUTE = "rewrite_context"
#: Postfix's MAIL_ADDR_MAIL_DAEMON: what an empty recipient becomes.
MAIL_DAEMON = "MAILER-DAEMON"

CRLF = b"\r\n"


# ---------------------------------------------------------------- reading the message


def message_lines(lines: Iterable[bytes], *, dot_ends: bool) -> Iterator[bytes]:
    """The message as sendmail stores it: one CRLF-terminated line per input line."""
    skipping_from = True
    for line in lines:
        if skipping_from:
            if line.lstrip(b">").startswith(b"From "):
                continue
            skipping_from = False
        text = line[:-1] if line.endswith(b"\n") else line
        text = text.rstrip(b"\r")
        if dot_ends and text == b".":
            return
        yield text + CRLF


# ---------------------------------------------------------------- RFC 822 addresses


def address_list(text: str) -> list[str]:
    """Every address in *text* (a header value or a command-line argument), internal form."""
    return addresses(text)


def sender_address(text: str) -> tuple[str, bool]:
    """``-f``: the first address ("" for ``<>`` or nothing) and whether there were more."""
    found = address_list(text)
    return (found[0] if found else ""), len(found) > 1


def envelope_recipient(address: str) -> str:
    """As trivial-rewrite takes it: no source route (``@a,@b:u@d`` is ``u@d``); "" is
    MAILER-DAEMON."""
    if address.startswith("@") and ":" in address:
        address = address[address.index(":") + 1 :]
    return address or MAIL_DAEMON


# ---------------------------------------------------------------- headers


_EXTRACT = frozenset({"to", "cc", "bcc"})
_RESENT_EXTRACT = frozenset({"resent-to", "resent-cc", "resent-bcc"})


def _header_name(line: bytes) -> str:
    return line[: line.index(b":")].strip().decode("ascii").lower()


class HeaderRecipients:
    """``-t``: feed the message's lines; the recipients of its primary header section."""

    def __init__(self) -> None:
        self._in_headers = True
        self._current: list[bytes] = []
        self._plain: list[str] = []
        self._resent: list[str] | None = None

    def feed(self, line: bytes) -> None:
        if not self._in_headers:
            return
        if line[:1] in (b" ", b"\t") and self._current:
            self._current.append(line)
            return
        self._finish_header()
        if HEADER_LINE.match(line):
            self._current = [line]
        else:
            self._in_headers = False

    def recipients(self) -> list[str]:
        self._finish_header()
        self._in_headers = False
        return self._plain if self._resent is None else self._resent

    def _finish_header(self) -> None:
        if not self._current:
            return
        header = b"".join(self._current)
        self._current = []
        name = _header_name(header)
        if name in _RESENT_EXTRACT:
            if self._resent is None:
                self._resent = []
            target = self._resent
        elif name in _EXTRACT and self._resent is None:
            target = self._plain
        else:
            return
        value = header[header.index(b":") + 1 :].decode("utf-8", "surrogateescape")
        target += address_list(value)


# ---------------------------------------------------------------- the user


def gecos_full_name(gecos: str, login: str) -> str:
    """Postfix's fullname(): the GECOS field up to ``,``, ``;`` or ``%``; ``&`` is the login
    name with its first letter in upper case."""
    out: list[str] = []
    for c in gecos:
        if c in ",;%":
            break
        out.append(login[:1].upper() + login[1:] if c == "&" else c)
    return "".join(out)
