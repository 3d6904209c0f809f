"""The two report parts of a notification: the text per recipient, and the RFC 3464 fields.

Formats are Postfix 3.7's, captured in tests/golden/bounce:

* text: ``<address>: reason``, or ``<address> (expanded from <original>): reason`` when the
  address before rewriting differs; wrapped at 79 columns (`mailrelay.bounce.wrap`), one
  blank line before each recipient.
* ``message/delivery-status`` (``message/global-delivery-status``, 8bit, for an SMTPUTF8
  message): Reporting-MTA, Original-Envelope-Id (with ENVID), X-Postfix-Queue-ID,
  X-Postfix-Sender (always ``rfc822``, a non-ASCII sender escaped: headers.quoted_strict),
  Arrival-Date;
  then per recipient Final-Recipient (``utf-8;`` for a non-ASCII address), Original-Recipient
  (the ORCPT as stored), Action, Status, Remote-MTA, Diagnostic-Code (wrapped; ``X-Postfix;
  reason`` when the agent gave none) and, in a delay notice, Will-Retry-Until (arrival plus
  maximal_queue_lifetime).  ``Postfix`` in the field names is mail_name.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailrelay.bounce.entry import NoticeEntry, NoticeKind
from mailrelay.bounce.headers import quoted, reported_sender
from mailrelay.bounce.settings import BounceSettings
from mailrelay.bounce.wrap import wrap
from mailrelay.mail.date import mail_date
from mailrelay.queue.record import Envelope


def recipient_text(entries: Sequence[NoticeEntry], kind: NoticeKind) -> list[str]:
    """The per-recipient paragraphs of the human-readable part."""
    lines: list[str] = []
    for entry in entries:
        address = f"<{quoted(entry.address)}>"
        if entry.original and entry.original.lower() != entry.address.lower():
            address += f" (expanded from <{quoted(entry.original)}>)"
        lines.append("")
        lines += wrap(f"{address}: {entry.text(kind)}")
    return lines


def report(kind: NoticeKind, settings: BounceSettings, queue_id: str, envelope: Envelope,
           entries: Sequence[NoticeEntry]) -> list[str]:
    """The body of the delivery-status part."""
    name = settings.mail_name
    lines = [f"Reporting-MTA: dns; {settings.myhostname}"]
    if envelope.dsn_envid:
        lines.append(f"Original-Envelope-Id: {envelope.dsn_envid}")
    lines.append(f"X-{name}-Queue-ID: {queue_id}")
    sender = reported_sender(envelope.sender, settings.myhostname)
    lines.append(f"X-{name}-Sender: rfc822; {sender}")
    if envelope.arrival_time > 0:
        lines.append(f"Arrival-Date: {mail_date(envelope.arrival_time)}")
    for entry in entries:
        lines.append("")
        lines += _recipient_fields(kind, settings, envelope, entry)
    return lines


def _recipient_fields(kind: NoticeKind, settings: BounceSettings, envelope: Envelope,
                      entry: NoticeEntry) -> list[str]:
    address = quoted(entry.address)
    address_type = "rfc822" if address.isascii() else "utf-8"
    lines = [f"Final-Recipient: {address_type}; {address}"]
    if entry.orcpt:
        lines.append(f"Original-Recipient: {entry.orcpt}")
    lines += [f"Action: {entry.action}", f"Status: {entry.status}"]
    if entry.remote_mta:
        lines.append(f"Remote-MTA: {entry.remote_mta}")
    diagnostic = entry.diagnostic or f"X-{settings.mail_name}; {entry.text(kind)}"
    lines += wrap(f"Diagnostic-Code: {diagnostic}")
    if kind is NoticeKind.DELAY:
        until = envelope.arrival_time + settings.maximal_queue_lifetime
        lines.append(f"Will-Retry-Until: {mail_date(until)}")
    return lines
