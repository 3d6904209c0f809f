"""bounce(8): delivery status notifications, byte for byte as Postfix 3.7 writes them.

Theory of operation.  qmgr decides *when* a notification is due (a recipient bounced, a
message is older than delay_warning_time, a NOTIFY=SUCCESS recipient was delivered) and
gives this module the message, its envelope and one `NoticeEntry` per recipient concerned;
`build_notice` and `build_postmaster_copy` say whether a notice goes out, to whom, and
write it whole (headers, the three MIME parts, CRLF line ends, not dot-stuffed).  qmgr
queues the result with `Notice.sender` as the envelope sender.  Nothing here reads a clock:
*now* and the new Message-Id come from the caller, so the output is reproducible.

Who gets what (checked against Postfix, tests/golden/bounce):

* The notice goes to the envelope sender (`notice_recipients`), from the null sender.  The
  recipients listed are those whose NOTIFY asks for this kind: FAILURE, DELAY or SUCCESS;
  NOTIFY not given counts as FAILURE,DELAY; NEVER asks for nothing.  No such recipient, no
  notice.
* A message from the null sender (a notice itself) never gets a delay notice.  Its failure
  is a *double bounce*: with ``2bounce`` in notify_classes it goes to
  2bounce_notice_recipient in the postmaster form (below) with every recipient and the whole
  message (size limit permitting); otherwise it is dropped, as by default.  A success notice
  for it goes to 2bounce_notice_recipient too, in the normal form, only with ``2bounce``.
* A message from ``double_bounce_sender@$myhostname`` gets nothing (Postfix logs
  "undeliverable postmaster notification discarded").
* Postmaster copies (`build_postmaster_copy`): with ``bounce`` in notify_classes a failure,
  and with ``delay`` a delay, is also reported to bounce_notice_recipient /
  delay_notice_recipient -- every recipient whatever its NOTIFY, the headers only -- unless
  the sender is null or the double-bounce address.
* The postmaster form has no template text, the template's Postmaster-Subject, and
  ``Auto-Submitted: auto-generated``.  Notices to a postmaster are sent from
  ``double_bounce_sender@$myhostname`` so that a failure of theirs is discarded.
* Recipients from main.cf without a domain (``postmaster``) get ``@$myorigin``, and so does
  the address in the template's From:, as Postfix's cleanup would add it.

The parts: `mailrelay.bounce.dsn` (text and delivery report), `mailrelay.bounce.original`
(the returned message) and, for charset and transfer encoding, `_encoding` below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailrelay.bounce.dsn import recipient_text, report
from mailrelay.bounce.entry import NoticeEntry, NoticeKind
from mailrelay.bounce.headers import qualify, qualify_header, quoted
from mailrelay.bounce.original import returned_part, returns_headers_only
from mailrelay.bounce.settings import BounceSettings
from mailrelay.bounce.template import Template
from mailrelay.mail.date import mail_date
from mailrelay.queue.record import Envelope, Notify

__all__ = ["Notice", "NoticeEntry", "NoticeKind", "build_notice", "build_postmaster_copy",
           "double_bounce_address", "notice_recipients", "postmaster_copy_recipients"]


@dataclass(frozen=True, slots=True)
class Notice:
    #: The envelope sender to queue it with: "" or double_bounce_sender@$myhostname.
    sender: str
    #: Who gets it.
    recipients: tuple[str, ...]
    #: The whole message, CRLF line ends, not dot-stuffed.
    content: bytes
    #: "8BITMIME" when the notice is 8-bit (MAIL FROM ... BODY=8BITMIME), else "".
    body_type: str = ""
    #: The original was an SMTPUTF8 message, and so is its notice.
    smtputf8: bool = False


def double_bounce_address(settings: BounceSettings) -> str:
    return f"{settings.double_bounce_sender}@{settings.myhostname}"


def notice_recipients(kind: NoticeKind, settings: BounceSettings,
                      sender: str) -> tuple[str, ...]:
    """Who gets the *kind* notice about a message from *sender* (empty: nobody)."""
    if sender.lower() == double_bounce_address(settings).lower():
        return ()
    if sender:
        return (sender,)
    if kind is NoticeKind.DELAY or "2bounce" not in settings.notify_classes:
        return ()
    return (qualify(settings.double_bounce_recipient, settings.myorigin),)


def postmaster_copy_recipients(kind: NoticeKind, settings: BounceSettings,
                               sender: str) -> tuple[str, ...]:
    """Who gets a postmaster copy of the *kind* notice (notify_classes bounce / delay)."""
    if not sender or sender.lower() == double_bounce_address(settings).lower():
        return ()
    if kind is NoticeKind.FAILURE and "bounce" in settings.notify_classes:
        return (qualify(settings.bounce_notice_recipient, settings.myorigin),)
    if kind is NoticeKind.DELAY and "delay" in settings.notify_classes:
        return (qualify(settings.delay_notice_recipient, settings.myorigin),)
    return ()


@dataclass(frozen=True, slots=True)
class _Form:
    """How one notice is written."""

    kind: NoticeKind
    to: str
    sender: str
    #: No template text, Postmaster-Subject, Auto-Submitted: auto-generated.
    postmaster: bool
    headers_only: bool


def build_notice(kind: NoticeKind, settings: BounceSettings, *, queue_id: str,
                 envelope: Envelope, entries: Sequence[NoticeEntry], content: bytes,
                 now: float, message_id: str, notice_queue_id: str = "") -> Notice | None:
    """The *kind* notice about message *queue_id*, or None when none is to be sent.

    *entries* are the recipients concerned, in the order to list them; those whose NOTIFY
    does not ask for this kind are left out.  *message_id* is the Message-Id: value
    (``<...>``) and *notice_queue_id* the notice's own queue ID for its Received: header
    (left out when "").
    """
    recipients = notice_recipients(kind, settings, envelope.sender)
    if not recipients:
        return None
    double = not envelope.sender and kind is NoticeKind.FAILURE
    chosen = list(entries) if double else [e for e in entries if _asks(e, envelope, kind)]
    if not chosen:
        return None
    # A notice to the sender comes from the null sender; one to a postmaster from the
    # double-bounce address, so that its own failure is discarded.
    sender = "" if envelope.sender else double_bounce_address(settings)
    ret = "FULL" if double else envelope.dsn_ret  # the postmaster gets the whole message
    headers_only = returns_headers_only(kind, ret, len(content), settings.bounce_size_limit)
    form = _Form(kind, recipients[0], sender, postmaster=double, headers_only=headers_only)
    return _assemble(form, settings, queue_id, envelope, chosen, content, now, message_id,
                     notice_queue_id)


def build_postmaster_copy(kind: NoticeKind, settings: BounceSettings, *, queue_id: str,
                          envelope: Envelope, entries: Sequence[NoticeEntry], content: bytes,
                          now: float, message_id: str,
                          notice_queue_id: str = "") -> Notice | None:
    """The postmaster's copy of the *kind* notice (every recipient, headers only), or None."""
    recipients = postmaster_copy_recipients(kind, settings, envelope.sender)
    if not recipients or not entries:
        return None
    form = _Form(kind, recipients[0], double_bounce_address(settings), postmaster=True,
                 headers_only=True)
    return _assemble(form, settings, queue_id, envelope, list(entries), content, now,
                     message_id, notice_queue_id)


def _asks(entry: NoticeEntry, envelope: Envelope, kind: NoticeKind) -> bool:
    notify = entry.notify if entry.notify is not None else _envelope_notify(entry, envelope)
    if notify == Notify.NONE:
        return kind is not NoticeKind.SUCCESS
    return bool(notify & kind.notify)


def _envelope_notify(entry: NoticeEntry, envelope: Envelope) -> Notify:
    """The NOTIFY of the envelope recipient *entry* stands for (the closest match)."""
    keys = (
        lambda r: (r.address, r.orcpt, r.original) == (entry.address, entry.orcpt,
                                                       entry.original),
        lambda r: (r.address, r.orcpt) == (entry.address, entry.orcpt),
        lambda r: r.address == entry.address,
    )
    for matches in keys:
        for rcpt in envelope.recipients:
            if matches(rcpt):
                return rcpt.notify
    return Notify.NONE


def _encoding(settings: BounceSettings, envelope: Envelope) -> str:
    """The notice's Content-Transfer-Encoding: "8bit", "7bit" or "" (no header).

    As Postfix 3.7 does: 8bit with smtputf8_enable (addresses and reasons may be UTF-8) or
    an 8BITMIME original, 7bit for an original declared BODY=7BIT, otherwise none.
    """
    if settings.smtputf8_enable or envelope.body_type == "8BITMIME":
        return "8bit"
    return "7bit" if envelope.body_type == "7BIT" else ""


def _assemble(form: _Form, settings: BounceSettings, queue_id: str, envelope: Envelope,
              entries: list[NoticeEntry], content: bytes, now: float, message_id: str,
              notice_queue_id: str) -> Notice:
    template = settings.templates.of(form.kind.value)
    encoding = _encoding(settings, envelope)
    boundary = f"{queue_id}.{int(now)}/{settings.myhostname}"
    text = _headers(form, settings, template, encoding, boundary, now, message_id,
                    notice_queue_id)
    text += ["", "This is a MIME-encapsulated message.", "", f"--{boundary}"]
    text += _notification(form, template, encoding, entries)
    text += ["", f"--{boundary}", "Content-Description: Delivery report"]
    if envelope.smtputf8:
        text += ["Content-Type: message/global-delivery-status", "Content-Transfer-Encoding: 8bit"]
    else:
        text.append("Content-Type: message/delivery-status")
    text.append("")
    text += report(form.kind, settings, queue_id, envelope, entries)
    text += ["", f"--{boundary}"]
    lines = [line.encode("utf-8", "surrogateescape") for line in text]
    lines += returned_part(form.kind, content, sender=envelope.sender,
                           myhostname=settings.myhostname, headers_only=form.headers_only,
                           smtputf8=envelope.smtputf8, transfer_encoding=encoding)
    lines += [b"", f"--{boundary}--".encode(), b""]
    return Notice(form.sender, (form.to,), b"\r\n".join(lines),
                  body_type="8BITMIME" if encoding == "8bit" else "",
                  smtputf8=envelope.smtputf8)


def _headers(form: _Form, settings: BounceSettings, template: Template, encoding: str,
             boundary: str, now: float, message_id: str, notice_queue_id: str) -> list[str]:
    """The message header, in Postfix's order (cleanup's Received: first, Message-Id: last)."""
    date = mail_date(now)
    lines = [f"Received: by {settings.myhostname} ({settings.mail_name})",
             f"\tid {notice_queue_id}; {date}"] if notice_queue_id else []
    lines += [
        f"Date: {date}",
        f"From: {qualify_header(template.sender, settings.myorigin)}",
        f"Subject: {template.postmaster_subject if form.postmaster else template.subject}",
        f"To: {quoted(form.to)}",
        f"Auto-Submitted: {'auto-generated' if form.postmaster else 'auto-replied'}",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        f'\tboundary="{boundary}"',
    ]
    lines += [f"Content-Transfer-Encoding: {encoding}"] if encoding else []
    lines += [f"Message-Id: {message_id}"] if message_id else []
    return lines


def _notification(form: _Form, template: Template, encoding: str,
                  entries: list[NoticeEntry]) -> list[str]:
    """The human-readable part: the template's text (not for a postmaster), the reasons."""
    charset = template.charset
    if encoding == "8bit" and charset.lower() == "us-ascii":
        charset = "utf-8"  # the reasons and addresses may be UTF-8
    lines = ["Content-Description: Notification", f"Content-Type: text/plain; charset={charset}"]
    lines += ["Content-Transfer-Encoding: 8bit"] if encoding == "8bit" else []
    lines.append("")
    lines += [] if form.postmaster else list(template.text)
    return lines + recipient_text(entries, form.kind)
