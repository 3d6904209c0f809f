"""What a server offers in its EHLO reply, read as Postfix's smtp(8) reads it.

Each line after the first is ``code (SP|-) keyword (SP|=) parameters``; the ``=`` form is the
one old Microsoft servers use for AUTH (``250-AUTH=LOGIN PLAIN``).  The first line names the
server.  Keywords are compared without regard to case; those listed in
``smtp_discard_ehlo_keywords`` are ignored (``silent-discard`` only suppresses the log line).
ENHANCEDSTATUSCODES, CHUNKING and the rest are not used by the client.

A server that offers SMTPUTF8 but not 8BITMIME is treated as offering 8BITMIME too, as Postfix
does ("our primary mission is to deliver mail, not to force people into compliance").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mailrelay.smtp.client_reply import ServerReply


@dataclass(frozen=True, slots=True)
class Features:
    """The server's ESMTP features as the client will use them."""

    esmtp: bool = False
    #: The name in the first line of the EHLO reply ("" after HELO).
    server_name: str = ""
    pipelining: bool = False
    size: bool = False
    #: SIZE's argument; 0 when absent (no limit announced).
    size_limit: int = 0
    eight_bit_mime: bool = False
    smtputf8: bool = False
    dsn: bool = False
    starttls: bool = False
    #: AUTH mechanisms in the server's order, upper case; empty when AUTH is not offered.
    auth: tuple[str, ...] = ()
    #: What the client should log (discarded keywords, odd SIZE values...).
    notes: tuple[str, ...] = field(default=(), compare=False)


def _words(line: str) -> tuple[str, str]:
    """``250-AUTH=LOGIN PLAIN`` → (``AUTH``, ``LOGIN PLAIN``); ("", "") for an empty line."""
    rest = line[3:].lstrip("- ")
    for i, ch in enumerate(rest):
        if ch in " \t=":
            return rest[:i], rest[i + 1:].strip()
    return rest, ""


def parse_ehlo(reply: ServerReply, discard: Iterable[str] = (), *, peer: str = "") -> Features:
    """The features offered in a positive EHLO *reply*."""
    discarded = {word.lower() for word in discard}
    flags: set[str] = set()
    size_limit = 0
    auth: list[str] = []
    notes: list[str] = []
    dropped: list[str] = []
    lines = reply.text.split("\n")
    for line in lines[1:]:
        keyword, params = _words(line)
        name = keyword.lower()
        if not name:
            continue
        if name in discarded:
            dropped.append(keyword.upper())
            continue
        flags.add(name)
        if name == "size" and params:
            limit = params.split()[0]
            if limit.isdigit():
                size_limit = int(limit)
            else:
                notes.append(f'warning: bad EHLO SIZE limit "{limit}" from {peer}')
        elif name == "auth":
            auth.extend(m.upper() for m in params.split() if m.upper() not in auth)
    if dropped and "silent-discard" not in discarded:
        notes.append(f"discarding EHLO keywords: {' '.join(dropped)}")
    if "smtputf8" in flags and "8bitmime" not in flags:
        notes.append(f"host {peer} offers SMTPUTF8 support, but not 8BITMIME")
        flags.add("8bitmime")
    return Features(
        esmtp=True,
        server_name=_words(lines[0])[0],
        pipelining="pipelining" in flags,
        size="size" in flags,
        size_limit=size_limit,
        eight_bit_mime="8bitmime" in flags,
        smtputf8="smtputf8" in flags,
        dsn="dsn" in flags,
        starttls="starttls" in flags,
        auth=tuple(auth) if "auth" in flags else (),
        notes=tuple(notes),
    )


def helo_features(reply: ServerReply) -> Features:
    """After HELO: plain SMTP, nothing offered."""
    return Features(esmtp=False, server_name=_words(reply.text.split("\n")[0])[0])
