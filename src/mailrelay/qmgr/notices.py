"""New messages qmgr queues itself: delivery status notifications and local forwards.

SECURITY: writes the queue (new messages into incoming, through QueueStore only).

Postfix's bounce(8) daemon writes notifications through cleanup into incoming; here the
content comes from :mod:`mailrelay.bounce` (pure) and is committed by the store, durably,
*before* the original recipients are marked done or the original message removed, so that a
crash never loses both the message and its notification.  The new queue ID is logged as
Postfix's bounce logs it (``ID: sender non-delivery notification: NEWID``) and handed back to
qmgr so that it is delivered at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mailrelay.bounce.notice import NoticeEntry, NoticeKind, build_notice
from mailrelay.bounce.settings import BounceSettings
from mailrelay.cleanup.headers import message_id
from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.config.model import Config
from mailrelay.delivery.local import Forward
from mailrelay.maillog.writer import Logger
from mailrelay.queue.record import Client, Envelope, Notify, Recipient
from mailrelay.queue.store import QueueStore
from mailrelay.util.diagnostic import Fatal


def bounce_settings(config: Config, log: Logger) -> BounceSettings:
    """bounce(8)'s settings, with bounce_template_file read here (the pure layer reads no
    files); Postfix's warnings about the template are logged, as bounce logs them."""
    path = config.get_str("bounce_template_file").strip()
    text = None
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise Fatal(f"open {path}: {exc.strerror}", config.origin("bounce_template_file"),
                        "bounce_template_file") from None
    settings = BounceSettings.from_config(config, text)
    if text is not None:  # the built-in templates' own remarks are not news to anyone
        for warning in settings.templates.warnings:
            log(f"warning: {warning}")
    return settings


_LOG_TEXT = {
    NoticeKind.FAILURE: "sender non-delivery notification",
    NoticeKind.DELAY: "sender delay notification",
    NoticeKind.SUCCESS: "sender delivery status notification",
}


class Notices:
    def __init__(self, store: QueueStore, settings: BounceSettings, cleanup: CleanupSettings,
                 bounce_log: Logger, cleanup_log: Logger,
                 queued: Callable[[str], None]) -> None:
        self._store = store
        self._settings = settings
        self._cleanup = cleanup
        self._bounce_log = bounce_log
        self._cleanup_log = cleanup_log
        #: Tells qmgr a new message is in incoming.
        self._queued = queued

    def send(self, kind: NoticeKind, queue_id: str, envelope: Envelope,
             entries: Sequence[NoticeEntry], content: bytes) -> str | None:
        """Build and queue one notification; returns its queue ID, None when none is due.

        Blocking (fdatasync): run it in a thread.
        """
        now = time.time()
        with self._store.begin() as draft:
            mid = message_id(draft.queue_id, now, self._cleanup)
            notice = build_notice(kind, self._settings, queue_id=queue_id, envelope=envelope,
                                  entries=entries, content=content, now=now, message_id=mid,
                                  notice_queue_id=draft.queue_id)
            if notice is None or not notice.recipients:
                return None
            recipients = tuple(Recipient(r, f"rfc822;{r}", Notify.NEVER)
                               for r in notice.recipients)
            new = Envelope(notice.sender, recipients, now, Client(),
                           body_type=notice.body_type, smtputf8=notice.smtputf8)
            draft.write(notice.content)
            new_id = self._store.commit(draft, new)
        self._cleanup_log(f"{new_id}: message-id={mid}")
        self._bounce_log(f"{queue_id}: {_LOG_TEXT[kind]}: {new_id}")
        self._queued(new_id)
        return new_id

    def forward(self, request: Forward) -> str:
        """The local agent's alias expansion: a new message to the alias's addresses."""
        now = time.time()
        with self._store.begin() as draft:
            original = request.original_recipient
            recipients = tuple(Recipient(r, f"rfc822;{original or r}",
                                         original=original if original != r else "")
                               for r in request.recipients)
            envelope = Envelope(request.sender, recipients, now, Client())
            draft.write(request.content)
            new_id = self._store.commit(draft, envelope)
        self._cleanup_log(f"{new_id}: message-id={header_message_id(request.content)}")
        self._queued(new_id)
        return new_id


def header_message_id(content: bytes) -> str:
    """The Message-Id: of a stored message, as cleanup logs it ("<>" when there is none)."""
    end = content.find(b"\r\n\r\n")
    headers = content[: end if end >= 0 else len(content)]
    for line in headers.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == b"message-id":
            return value.strip().decode("utf-8", "replace") or "<>"
    return "<>"
