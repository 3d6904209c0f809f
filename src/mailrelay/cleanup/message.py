"""cleanup(8) on one message: qualify the envelope, write Received:, add missing headers.

Only the header section is scanned, line by line; the body is carried over as one slice, so
the cost per message does not grow with its size beyond one copy.  Content is in SMTP form
(CRLF line ends).  Where the header section ends with a line that is not a header, a blank
line is put before it, as Postfix does, so the result always has a well-formed header section.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailrelay.cleanup.headers import HEADER_LINE, Arrival, mail_date, message_id
from mailrelay.cleanup.qualify import qualify
from mailrelay.cleanup.settings import CleanupSettings

CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class HeaderSection:
    """Where the header section ends and what it holds."""

    #: Bytes of the header lines (each ending in CRLF), without the separator line.
    headers: bytes
    #: Everything after the header lines: starts with the blank separator, or with the
    #: first non-header line, or is empty.
    rest: bytes
    #: Lower-case names of the fields present.
    names: frozenset[str]
    #: The Message-ID field's value as written, if any.
    message_id: str | None


def split_headers(content: bytes, drop: frozenset[str] = frozenset()) -> HeaderSection:
    """The header section of *content*, without the fields named in *drop* (lower case:
    message_drop_headers, which Postfix removes from every message)."""
    if content and not content.endswith(CRLF):
        content += CRLF  # BDAT content need not end with a line end; the queue's does
    names: set[str] = set()
    msgid: str | None = None
    pos, last_name = 0, ""
    dropped: list[tuple[int, int]] = []  # spans of dropped fields, folded lines included
    while pos < len(content):
        end = content.find(CRLF, pos)
        line = content[pos:end]
        if line[:1] in (b" ", b"\t") and last_name:
            if last_name == "message-id" and msgid is not None:
                msgid = (msgid + " " + line.strip().decode("utf-8", "replace")).strip()
            if dropped and dropped[-1][1] == pos:
                dropped[-1] = (dropped[-1][0], end + 2)
            pos = end + 2
            continue
        m = HEADER_LINE.match(line)
        if not m:
            break
        last_name = line[: line.index(b":")].strip().decode("ascii").lower()
        if last_name in drop:
            dropped.append((pos, end + 2))
        else:
            names.add(last_name)
        if last_name == "message-id":
            msgid = line[m.end():].strip().decode("utf-8", "replace")
        pos = end + 2
    headers = content[:pos]
    if dropped:
        kept, at = [], 0
        for start, stop in dropped:
            kept.append(headers[at:start])
            at = stop
        headers = b"".join(kept) + headers[at:]
    return HeaderSection(headers, content[pos:], frozenset(names), msgid)


@dataclass(frozen=True, slots=True)
class Cleaned:
    content: bytes
    sender: str
    recipients: tuple[str, ...]
    #: For the log line ``QUEUEID: message-id=<...>``: as written or added; "" when none.
    message_id: str


_SPECIALS = set('()<>@,;:\\".[]')


def from_header(sender: str, full_name: str) -> str:
    """``From: Full Name <sender>``; the name is quoted when it holds RFC 5322 specials."""
    if not sender:
        return "From: MAILER-DAEMON"
    if not full_name:
        return f"From: {sender}"
    if _SPECIALS & set(full_name):
        escaped = full_name.replace("\\", "\\\\").replace('"', '\\"')
        full_name = f'"{escaped}"'
    return f"From: {full_name} <{sender}>"


def added_headers(section: HeaderSection, sender: str, arrival: Arrival,
                  settings: CleanupSettings, full_name: str = "") -> tuple[list[str], str]:
    """The headers Postfix appends when missing, in its order, and the message-id to log."""
    added: list[str] = []
    msgid = section.message_id or ""
    if "message-id" not in section.names:
        msgid = message_id(arrival.queue_id, arrival.when, settings)
        added.append(f"Message-Id: {msgid}")
    if "date" not in section.names:
        added.append(f"Date: {mail_date(arrival.when)}")
    if "from" not in section.names:
        added.append(from_header(sender, full_name))
    return added, msgid


def cleanup(content: bytes, sender: str, recipients: tuple[str, ...], arrival: Arrival,
            received: bytes, settings: CleanupSettings, *, local_context: bool,
            full_name: str = "") -> Cleaned:
    """The message as it goes into the queue.

    *local_context* is true for a client in local_header_rewrite_clients (and for local
    submission): only then are missing headers added, unless always_add_missing_headers.
    *full_name* is sendmail's -F (or the user's GECOS name), used in an added From:.
    """
    sender = qualify(sender, settings)
    recipients = tuple(qualify(r, settings) for r in recipients)
    section = split_headers(content, settings.drop_headers)
    msgid = section.message_id or ""
    extra = b""
    if local_context or settings.always_add_missing_headers:
        added, msgid = added_headers(section, sender, arrival, settings, full_name)
        extra = "".join(f"{h}\r\n" for h in added).encode("utf-8", "surrogateescape")
    separator = CRLF if section.rest and not section.rest.startswith(CRLF) else b""
    body = received + section.headers + extra + separator + section.rest
    return Cleaned(body, sender, recipients, msgid)
