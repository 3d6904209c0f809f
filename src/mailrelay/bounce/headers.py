r"""Dates and addresses as a notification writes them.

Postfix hands its notices to cleanup, which qualifies bare addresses with ``@$myorigin`` in
the envelope and in From:/To:; mailrelay's queue manager queues a notice directly, so the
same qualification is done here (`qualify`, `qualify_header`).  Addresses are kept in
internal form and quoted where Postfix quotes them, in one of two ways (as captured):

* `quoted` (8-bit clean) for To:, Final-Recipient: and the ``<...>`` of the text:
  ``john doe@x`` -> ``"john doe"@x``, ``älice@x`` unchanged;
* `quoted_strict` for the original sender in X-Postfix-Sender: and Return-Path:, where an
  8-bit byte is no atom character: ``älice@x`` -> ``"\<C3>\<A4>lice"@x`` (a backslash
  before each 8-bit byte, as Postfix's quote_822_local() without its 8-bit-clean flag).
"""

from __future__ import annotations

import re

from mailrelay.maps.lookup import quote_localpart

#: The local part Postfix's notices use for the null sender (at $myhostname).
MAILER_DAEMON = "MAILER-DAEMON"


def quoted(address: str) -> str:
    """The external form: ``john doe@x`` -> ``"john doe"@x``."""
    return quote_localpart(address) if address else address


_SPECIALS = b'()<>@,;:\\"[] '


def quoted_strict(address: str) -> str:
    """The external form with 8-bit local parts quoted and their 8-bit bytes escaped."""
    at = address.rfind("@")
    local, domain = (address, "") if at < 0 else (address[:at], address[at:])
    raw = local.encode("utf-8", "surrogateescape")
    atoms = raw.split(b".")
    if all(atom and all(32 < c < 127 and c not in _SPECIALS for c in atom) for atom in atoms):
        return address
    escaped = b"".join(b"\\" + bytes([c]) if c > 127 or c in b'"\\\r' else bytes([c])
                       for c in raw)
    return '"' + escaped.decode("utf-8", "surrogateescape") + '"' + domain


def qualify(address: str, myorigin: str) -> str:
    """A bare local name gets ``@$myorigin``, as cleanup appends it (append_at_myorigin)."""
    return address if not address or "@" in address else f"{address}@{myorigin}"


_ANGLE = re.compile(r"<([^<>@]*)>")
_BARE = re.compile(r"^\s*([^\s<>()@,;:\"]+)(\s*(?:\(.*\))?\s*)$")


def qualify_header(value: str, myorigin: str) -> str:
    """A template's From: with its address qualified: ``Name <MAILER-DAEMON>``,
    ``MAILER-DAEMON (Mail Delivery System)`` or a bare name."""
    angle = _ANGLE.search(value)
    if angle is not None:
        inside = angle.group(1)
        return value if not inside else (
            value[:angle.start(1)] + qualify(inside, myorigin) + value[angle.end(1):])
    bare = _BARE.match(value)
    if bare is not None:
        return value[:bare.start(1)] + qualify(bare.group(1), myorigin) + value[bare.end(1):]
    return value


def reported_sender(sender: str, myhostname: str) -> str:
    """The original sender as X-Postfix-Sender: and Return-Path: show it."""
    return quoted_strict(sender) if sender else f"{MAILER_DAEMON}@{myhostname}"
