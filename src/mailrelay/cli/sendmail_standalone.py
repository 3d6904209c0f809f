"""``mailrelay sendmail -bs``: SMTP on stdin and stdout, each message into maildrop.

SECURITY: runs as any local user, with no privilege; writes only maildrop files (one per
message, through QueueStore) and pokes pickup, as ``mailrelay sendmail`` does.

Postfix runs its smtpd in stand-alone mode (``smtpd -S``) for this: no access restrictions
("mail relaying and other access controls are disabled by default"), the client is
``localhost[127.0.0.1]``, and each message goes into maildrop with smtpd's own Received: header
(``from HELO (localhost [127.0.0.1]) by HOST (Postfix) with ESMTP id MAILDROP-ID``); pickup
adds its own above it.  The reply to the end of data names the maildrop file's ID.  Here the
sans-IO :class:`~mailrelay.smtp.ServerConnection` is driven synchronously over the two file
descriptors, every question answered yes, with the protocol settings of main.cf less TLS.
Pipelining is judged by the machine, but never refused: stdin is the local user's own pipe.
"""

from __future__ import annotations

import dataclasses
import os
import select
import time
from typing import BinaryIO

from mailrelay.cleanup.headers import Arrival, received_header
from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.cli.context import Context
from mailrelay.cli.sendmail import queue_store
from mailrelay.config.model import Config
from mailrelay.mail import esmtp
from mailrelay.pickup.service import wake_pickup
from mailrelay.queue import record
from mailrelay.queue.queuefile import Draft
from mailrelay.queue.store import Queue, QueueStore
from mailrelay.smtp import ServerConnection, ServerSettings, TlsLevel
from mailrelay.smtp import events as ev
from mailrelay.smtp import replies as R

CLIENT_NAME = "localhost"
CLIENT_ADDRESS = "127.0.0.1"
_NOTIFY_BITS = {
    esmtp.Notify.SUCCESS: record.Notify.SUCCESS,
    esmtp.Notify.DELAY: record.Notify.DELAY,
    esmtp.Notify.FAILURE: record.Notify.FAILURE,
}


@dataclasses.dataclass(slots=True)
class _Message:
    """The current mail transaction and its maildrop file."""

    sender: str = ""
    params: esmtp.MailParams = dataclasses.field(default_factory=esmtp.MailParams)
    recipients: list[record.Recipient] = dataclasses.field(default_factory=list)
    draft: Draft | None = None
    failed: bool = False

    def abort(self) -> None:
        if self.draft is not None:
            self.draft.abort()
        self.draft = None
        self.failed = False


def _recipient(address: str, params: esmtp.RcptParams) -> record.Recipient:
    notify = record.Notify.NONE
    if params.notify is not None and not params.notify:
        notify = record.Notify.NEVER
    for n in params.notify or ():
        notify |= _NOTIFY_BITS[n]
    orcpt = f"{params.orcpt.type};{params.orcpt.address}" if params.orcpt else ""
    return record.Recipient(address, orcpt, notify)


class _Session:
    def __init__(self, config: Config, store: QueueStore, stdin: int, stdout: BinaryIO):
        settings = dataclasses.replace(ServerSettings.from_config(config),
                                       tls_level=TlsLevel.NONE, tls_wrapper=False,
                                       forbid_unauth_pipelining=False)
        self.conn = ServerConnection(settings, client=f"{CLIENT_NAME}[{CLIENT_ADDRESS}]")
        self.cleanup = CleanupSettings.from_config(config)
        self.timeout = float(config.get_time("smtpd_timeout"))
        self.store = store
        self.stdin = stdin
        self.stdout = stdout
        self.message = _Message()
        self.queued = 0

    def run(self) -> None:
        conn = self.conn
        while True:
            event = conn.next_event()
            self._write(conn.data_to_send())
            match event:
                case ev.NeedData():
                    self._read()
                case ev.Pause(seconds):
                    time.sleep(seconds)
                case ev.StartTls():  # never offered; refused by the machine before this
                    conn.tls_failed()
                case ev.ConnectionClosed():
                    self.message.abort()
                    return
                case ev.MailFrom(address, params):
                    self.message = _Message(address.address, params)
                    conn.accept()
                case ev.RcptTo(address, params):
                    self.message.recipients.append(_recipient(address.address, params))
                    conn.accept()
                case ev.DataCommand():
                    self._begin()
                case ev.MessageData(data):
                    self._spool(data)
                case ev.MessageComplete():
                    self._commit()
                case ev.MessageAborted() | ev.TransactionReset():
                    self.message.abort()
                case ev.Connected() | ev.Helo() | ev.Vrfy():
                    conn.accept()
                case _:
                    pass  # Notice: Postfix logs these; there is no log here

    def _write(self, data: bytes) -> None:
        if data:
            try:
                self.stdout.write(data)
                self.stdout.flush()
            except BrokenPipeError:
                self.conn.receive_data(b"")

    def _read(self) -> None:
        ready, _, _ = select.select([self.stdin], [], [], self.timeout)
        if not ready:
            self.conn.timeout()
            return
        self.conn.receive_data(os.read(self.stdin, 65536))

    def _begin(self) -> None:
        message = self.message
        try:
            message.draft = self.store.begin(Queue.MAILDROP)
        except OSError:
            self.conn.reject(R.QUEUE_WRITE_ERROR)
            return
        session = self.conn.session
        arrival = Arrival(message.draft.queue_id, time.time(), session.helo_name, CLIENT_NAME,
                          CLIENT_ADDRESS, "ESMTP" if session.esmtp else "SMTP",
                          tuple(r.address for r in message.recipients))
        self._spool(received_header(arrival, self.cleanup))
        self.conn.accept()

    def _spool(self, data: bytes) -> None:
        draft = self.message.draft
        if draft is None or self.message.failed:
            return
        try:
            draft.write(data)
        except (OSError, ValueError):
            self.message.failed = True

    def _commit(self) -> None:
        message = self.message
        draft = message.draft
        params = message.params
        if draft is None or message.failed:
            message.abort()
            self.conn.reject(R.QUEUE_WRITE_ERROR)
            return
        envelope = record.Envelope(
            sender=message.sender,
            recipients=tuple(message.recipients),
            arrival_time=time.time(),
            dsn_ret=params.ret.value if params.ret else "",
            dsn_envid=params.envid or "",
            body_type=params.body.value if params.body else "",
            smtputf8=params.smtputf8,
        )
        try:
            queue_id = self.store.commit(draft, envelope)
        except (OSError, ValueError):
            message.abort()
            self.conn.reject(R.QUEUE_WRITE_ERROR)
            return
        message.draft = None
        self.queued += 1
        self.conn.accept(queue_id=queue_id)


def serve(config: Config, ctx: Context) -> int:
    """One SMTP session on the command's stdin and stdout; 0 when it ends."""
    store = queue_store(config)
    ctx.stdout.flush()
    session = _Session(config, store, ctx.stdin.fileno(), ctx.stdout.buffer)
    try:
        session.run()
    finally:
        if session.queued:
            wake_pickup(store.directory)
    return 0
