"""The last part of a notification: the original message, or its headers.

What Postfix 3.7 returns (tests/golden/bounce):

* a failure notice returns the whole message (``message/rfc822``, "Undelivered Message")
  unless the sender asked for RET=HDRS or the message is larger than bounce_size_limit; then
  only its header section (``text/rfc822-headers``, "Undelivered Message Headers").  The size
  is the queued size (CRLF line ends): a message of exactly the limit is returned whole.
  Nothing is ever cut in the middle (Postfix 2.4 and earlier truncated);
* a delay notice always returns the headers ("Undelivered Message Headers"), a success
  notice too ("Message Headers"), whatever RET says;
* for an SMTPUTF8 message the types are ``message/global`` and ``message/global-headers``;
* a ``Return-Path: <sender>`` line comes first (``MAILER-DAEMON@$myhostname`` for the null
  sender; a non-ASCII sender escaped as headers.quoted_strict does).  The content follows as
  queued, then one blank line before the closing boundary.
"""

from __future__ import annotations

import re

from mailrelay.bounce.entry import NoticeKind
from mailrelay.bounce.headers import reported_sender

_HEADER = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")


def returns_headers_only(kind: NoticeKind, dsn_ret: str, size: int, limit: int) -> bool:
    """Whether the notice returns the header section rather than the whole message."""
    return kind is not NoticeKind.FAILURE or dsn_ret == "HDRS" or size > limit


def returned_part(kind: NoticeKind, content: bytes, *, sender: str, myhostname: str,
                  headers_only: bool, smtputf8: bool, transfer_encoding: str) -> list[bytes]:
    """The part's MIME headers, a blank line and the returned lines (without line ends)."""
    if headers_only:
        what = "Message Headers" if kind is NoticeKind.SUCCESS else "Undelivered Message Headers"
        mime_type = "message/global-headers" if smtputf8 else "text/rfc822-headers"
    else:
        what = "Undelivered Message"
        mime_type = "message/global" if smtputf8 else "message/rfc822"
    lines = [b"Content-Description: " + what.encode(), b"Content-Type: " + mime_type.encode()]
    if transfer_encoding == "8bit":
        lines.append(b"Content-Transfer-Encoding: 8bit")
    lines.append(b"")
    path = f"Return-Path: <{reported_sender(sender, myhostname)}>"
    lines.append(path.encode("utf-8", "surrogateescape"))
    message = _lines(content)
    lines += _header_section(message) if headers_only else message
    return lines


def _lines(content: bytes) -> list[bytes]:
    """The content's lines; a last line without CRLF is a line all the same."""
    lines = content.split(b"\r\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _header_section(lines: list[bytes]) -> list[bytes]:
    """The lines before the blank line (or the first line that is no header) that ends it."""
    for i, line in enumerate(lines):
        continued = line[:1] in (b" ", b"\t") and i > 0
        if not line or not (continued or _HEADER.match(line)):
            return lines[:i]
    return lines
