"""cleanup(8) on one message: qualify the envelope, write Received:, add missing headers.

In Postfix's order: the envelope is qualified, mapped (sender_canonical_maps,
recipient_canonical_maps, canonical_maps: :mod:`canonical`), masqueraded (:mod:`masquerade`)
and each recipient expanded (virtual_alias_maps: :mod:`virtual`); header_checks and
body_checks (:mod:`content_checks`) see the header section, our Received: first, and the
body; fields longer than header_size_limit are cut (in MIME part headers too); the address
headers are qualified (local context, or remote with remote_header_rewrite_domain), mapped
and masqueraded.  A table that
cannot answer raises CleanupDefer (an OSError): the message is not accepted.

Without body_checks, only the header section is scanned, line by line; the body is carried
over as one slice, so the cost per message does not grow with its size beyond a copy.
Content is in SMTP form (CRLF line ends).  Where the header section ends with a line that
is not a header, a blank line is put before it, as Postfix does, so the result always has a
well-formed header section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailrelay.cleanup.canonical import AddressClass, OpenCanonical
from mailrelay.cleanup.content_checks import FILTER_ATTRIBUTE, Outcome
from mailrelay.cleanup.fields import cut_long_fields, cut_part_fields
from mailrelay.cleanup.header_addresses import ADDRESS_FIELDS, RESENT_FIELDS, rewrite_header
from mailrelay.cleanup.headers import HEADER_LINE, Arrival, message_id
from mailrelay.cleanup.masquerade import Masquerade, masquerade_header
from mailrelay.cleanup.qualify import qualify
from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.mail.date import mail_date

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
    #: Whether a Resent-* field is present: then missing headers are added as Resent-*.
    resent: bool = False


def split_headers(content: bytes, drop: frozenset[str] = frozenset(),
                  rewrite: Callable[[bytes], bytes | None] | None = None) -> HeaderSection:
    """The header section of *content*, without the fields named in *drop* (lower case:
    message_drop_headers, which Postfix removes from every message).  *rewrite*, when
    given, gets each field of ADDRESS_FIELDS (folded lines included) and returns its
    replacement, or None to keep it as written."""
    if content and not content.endswith(CRLF):
        content += CRLF  # BDAT content need not end with a line end; the queue's does
    names: set[str] = set()
    msgid: str | None = None
    resent = False
    pos, last_name, start = 0, "", 0
    edits: list[tuple[int, int, bytes]] = []  # (start, stop, replacement) of whole fields

    def finish(stop: int) -> None:
        if not last_name:
            return
        if last_name in drop:
            edits.append((start, stop, b""))
        elif rewrite is not None and last_name in ADDRESS_FIELDS:
            new = rewrite(content[start:stop])
            if new is not None:
                edits.append((start, stop, new))

    while pos < len(content):
        end = content.find(CRLF, pos)
        line = content[pos:end]
        if line[:1] in (b" ", b"\t") and last_name:
            if last_name == "message-id" and msgid is not None:
                msgid = (msgid + " " + line.strip().decode("utf-8", "replace")).strip()
            pos = end + 2
            continue
        m = HEADER_LINE.match(line)
        finish(pos)
        if not m:
            last_name = ""
            break
        last_name = line[: line.index(b":")].strip().decode("ascii").lower()
        start = pos
        if last_name not in drop:
            names.add(last_name)
        if last_name in RESENT_FIELDS:
            resent = True
        if last_name == "message-id":
            msgid = line[m.end():].strip().decode("utf-8", "replace")
        pos = end + 2
    finish(pos)
    headers = content[:pos]
    if edits:
        kept: list[bytes] = []
        at = 0
        for begin, stop, replacement in edits:
            kept += (headers[at:begin], replacement)
            at = stop
        headers = b"".join(kept) + headers[at:]
    return HeaderSection(headers, content[pos:], frozenset(names), msgid, resent)


@dataclass(frozen=True, slots=True)
class Cleaned:
    content: bytes
    sender: str
    recipients: tuple[str, ...]
    #: For the log line ``QUEUEID: message-id=<...>``: as written or added; "" when none.
    message_id: str
    #: Warnings for the log (``warning: `` is the logger's), in order.
    warnings: tuple[str, ...] = ()
    #: What header_checks and body_checks decided (None when there are none); its ``log``
    #: lines are for cleanup's log.
    checks: Outcome | None = None
    #: virtual_alias_maps: what each of *recipients* expanded into (None: no aliases).
    aliases: tuple[tuple[str, ...], ...] | None = None
    #: Where the ``message-id=`` line goes among the checks' log lines (its index), as
    #: Postfix's cleanup logs it when it meets the Message-Id header, else at the end of
    #: the header section; None: not logged (a DISCARD or REJECT came first).
    message_id_at: int | None = 0

    def log_lines(self, queue_id: str) -> list[str]:
        """cleanup's log lines for this message, in Postfix's order: the checks' lines with
        ``QUEUEID: message-id=<...>`` among them (``<>`` when there is none)."""
        lines = list(self.checks.log) if self.checks is not None else []
        if self.message_id_at is not None:
            lines.insert(self.message_id_at, f"{queue_id}: message-id={self.message_id or '<>'}")
        return lines


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
    prefix = "Resent-" if section.resent else ""
    if f"{prefix}message-id".lower() not in section.names:
        new_id = message_id(arrival.queue_id, arrival.when, settings)
        if not prefix:
            msgid = new_id  # a Resent-Message-Id is logged as resent-message-id=
        added.append(f"{prefix}Message-Id: {new_id}")
    if f"{prefix}date".lower() not in section.names:
        added.append(f"{prefix}Date: {mail_date(arrival.when)}")
    if f"{prefix}from".lower() not in section.names:
        added.append(prefix + from_header(sender, full_name))
    return added, msgid


def cleanup(content: bytes, sender: str, recipients: tuple[str, ...], arrival: Arrival,
            received: bytes, settings: CleanupSettings, *, local_context: bool,
            full_name: str = "") -> Cleaned:
    """The message as it goes into the queue.

    *local_context* is true for a client in local_header_rewrite_clients (and for local
    submission): only then, or with remote_header_rewrite_domain set (the remote context),
    are header addresses qualified (:mod:`header_addresses`) and missing headers added,
    unless always_add_missing_headers.
    *full_name* is sendmail's -F (or the user's GECOS name), used in an added From:.
    """
    sender = qualify(sender, settings)
    recipients = tuple(qualify(r, settings) for r in recipients)
    warnings: list[str] = []
    canonical = settings.canonical.open(warnings.append) if settings.canonical else None
    if canonical is not None:
        sender = canonical.envelope_sender(sender)
        recipients = tuple(canonical.envelope_recipient(r) for r in recipients)
    sender, recipients = _masquerade_envelope(settings.masquerade, sender, recipients)
    aliases = None
    if settings.virtual is not None:
        maps = settings.virtual.tables()
        aliases = tuple(tuple(settings.virtual.expand(maps, r)) for r in recipients)
    outcome = None
    content = received + content  # checks see cleanup's own Received: too
    if settings.checks is not None:
        where = check_context(arrival, sender, recipients)
        content, outcome = settings.checks.run(arrival.queue_id, content, where)
    content = cut_long_fields(content, settings.header_size_limit)
    content = cut_part_fields(content, settings.header_size_limit, settings.mime)
    context = settings.header_context(local_context)
    rewrite = _header_rewriter(context, canonical, settings.masquerade)
    section = split_headers(content, settings.drop_headers, rewrite)
    msgid = section.message_id or ""
    extra = b""
    if context is not None or settings.always_add_missing_headers:
        added, msgid = added_headers(section, sender, arrival, settings, full_name)
        extra = "".join(f"{h}\r\n" for h in added).encode("utf-8", "surrogateescape")
    separator = CRLF if section.rest and not section.rest.startswith(CRLF) else b""
    body = section.headers + extra + separator + section.rest
    return Cleaned(body, sender, recipients, msgid, tuple(warnings), outcome, aliases,
                   outcome.message_id_at if outcome is not None else 0)


def _masquerade_envelope(masquerade: Masquerade | None, sender: str,
                         recipients: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    if masquerade is None:
        return sender, recipients
    if masquerade.applies(AddressClass.ENVELOPE_SENDER):
        sender = masquerade.address(sender)
    if masquerade.applies(AddressClass.ENVELOPE_RECIPIENT):
        recipients = tuple(masquerade.address(r) for r in recipients)
    return sender, recipients


def check_context(arrival: Arrival, sender: str, recipients: tuple[str, ...]) -> str:
    """`` from host[addr]; from=<s> to=<r> proto=ESMTP helo=<h>`` of a checks log line."""
    address = arrival.client_address.removeprefix("IPv6:")
    text = f" from {arrival.client_name}[{address}];" if arrival.client_name else " from local;"
    text += f" from=<{sender}>"
    if recipients:
        text += f" to=<{recipients[0]}>"
    if arrival.protocol:
        text += f" proto={arrival.protocol}"
    if arrival.helo:
        text += f" helo=<{arrival.helo}>"
    return text


def _header_rewriter(context: CleanupSettings | None, canonical: OpenCanonical | None,
                     masquerade: Masquerade | None,
                     ) -> Callable[[bytes], bytes | None] | None:
    """What happens to an address header: qualification in the *context* (local, remote;
    None: none), then canonical mapping and masquerading (whatever the context), as
    cleanup_rewrite_sender and cleanup_rewrite_recip do."""
    if context is None and canonical is None and masquerade is None:
        return None

    def rewrite(field: bytes) -> bytes | None:
        new = rewrite_header(field, context) if context is not None else None
        if canonical is not None:
            new = canonical.header(new or field) or new
        if masquerade is not None:
            new = masquerade_header(new or field, masquerade) or new
        return new

    return rewrite


def filter_attributes(settings: CleanupSettings,
                      outcome: Outcome | None) -> tuple[tuple[str, str], ...]:
    """The queue file's content_filter: a FILTER action's, else the receiving service's
    content_filter (Postfix's smtpd and pickup pass theirs to cleanup, where FILTER
    overrides it); qmgr sends every recipient there instead of routing them.  A FILTER
    without a colon is ignored, as Postfix's cleanup ignores it ("bad FILTER command")."""
    action = outcome.filter if outcome is not None else None
    value = action if action and ":" in action else settings.content_filter
    return ((FILTER_ATTRIBUTE, value),) if value else ()
