"""One mail transaction's way into the queue: from the first accepted RCPT to ``queued as``.

SECURITY: writes the queue (through QueueStore only).

The queue file is created at the first accepted recipient, as Postfix's smtpd does (its queue
ID appears in the log from then on).  Content arrives as MessageData chunks; at the end of DATA
cleanup() adds Received: and the missing headers and qualifies the envelope, and the store
writes, fsyncs and renames the file, and incoming/ is fsynced.  Only then does the caller say
250.  The fsyncs run in a thread so the event loop keeps serving the other sessions of this
worker meanwhile.

Group commit: each message's file is written, fdatasynced and renamed on its own, but the
fsync of incoming/ that makes the rename durable is shared.  A session waits for a directory
fsync that *started after* its rename; one such fsync covers every rename before it, so under
load one directory fsync serves many messages, and no message is acknowledged before both
its data and its name are on stable storage.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from mailrelay.cleanup.headers import Arrival, received_header
from mailrelay.cleanup.message import Cleaned, cleanup
from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.mail.esmtp import MailParams, Notify, RcptParams
from mailrelay.queue import record, trigger
from mailrelay.queue.queuefile import Draft
from mailrelay.queue.store import Queue, QueueStore

_NOTIFY_BITS = {
    Notify.SUCCESS: record.Notify.SUCCESS,
    Notify.DELAY: record.Notify.DELAY,
    Notify.FAILURE: record.Notify.FAILURE,
}


@dataclass(frozen=True, slots=True)
class ClientFacts:
    name: str
    address: str
    port: str
    #: The address as Received: and the logs show it (``IPv6:::1`` for IPv6).
    rfc_address: str
    #: Client in local_header_rewrite_clients: missing headers are added, as for local mail.
    local_context: bool


@dataclass(slots=True)
class Transaction:
    """What the session has accepted so far in the current MAIL transaction."""

    sender: str = ""
    sender_raw: str = ""
    params: MailParams = field(default_factory=MailParams)
    recipients: list[tuple[str, RcptParams]] = field(default_factory=list)
    draft: Draft | None = None
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0

    @property
    def queue_id(self) -> str | None:
        return self.draft.queue_id if self.draft is not None else None


def _recipient(address: str, params: RcptParams) -> record.Recipient:
    notify = record.Notify.NONE
    if params.notify is not None and not params.notify:
        notify = record.Notify.NEVER  # NOTIFY=NEVER parses to the empty set
    for n in params.notify or ():
        notify |= _NOTIFY_BITS[n]
    orcpt = f"{params.orcpt.type};{params.orcpt.address}" if params.orcpt else f"rfc822;{address}"
    return record.Recipient(address=address, orcpt=orcpt, notify=notify)


class GroupSync:
    """Shared fsyncs of one queue directory (see the module's group commit)."""

    def __init__(self, store: QueueStore, queue: Queue) -> None:
        self.store = store
        self.queue = queue
        self._running: asyncio.Future[None] | None = None

    async def sync(self) -> None:
        """Return once an fsync of the directory that started after this call has ended."""
        earlier = self._running
        if earlier is not None:
            await asyncio.shield(earlier)  # it may have begun before our rename: not enough
        if self._running is None or self._running is earlier:
            self._running = asyncio.ensure_future(asyncio.to_thread(self.store.sync, self.queue))
            self._running.add_done_callback(self._clear)
        # Here _running began after this call (after `earlier` ended, or with none running).
        await asyncio.shield(self._running)

    def _clear(self, future: asyncio.Future[None]) -> None:
        if self._running is future:
            self._running = None


class Spool:
    """Writes accepted messages into the queue for one smtpd service."""

    def __init__(self, store: QueueStore, settings: CleanupSettings,
                 incoming: GroupSync | None = None) -> None:
        self.store = store
        self.settings = settings
        self.incoming = incoming or GroupSync(store, Queue.INCOMING)
        #: qmgr's wake-up: it takes the message at once, without scanning incoming/.
        self.qmgr = trigger.Sender(store.directory, trigger.QMGR)

    async def open(self, txn: Transaction) -> str:
        """Create the queue file (first accepted RCPT); returns its queue ID.

        Creating the file is an open(O_CREAT) and an fstat: cheaper than a thread hop."""
        if txn.draft is None:
            txn.draft = self.store.begin()
        return txn.draft.queue_id

    def abort(self, txn: Transaction) -> None:
        if txn.draft is not None:
            txn.draft.abort()
            txn.draft = None
        txn.chunks.clear()
        txn.size = 0

    async def commit(self, txn: Transaction, client: ClientFacts, helo: str | None,
                     protocol: str, tls_comment: tuple[str, ...] = ()) -> Cleaned:
        """cleanup, write, fsync, rename: durable when this returns."""
        draft = txn.draft
        assert draft is not None, "commit without an accepted recipient"
        now = time.time()
        raw_rcpts = tuple(r for r, _ in txn.recipients)
        arrival = Arrival(draft.queue_id, now, helo, client.name, client.rfc_address, protocol,
                          raw_rcpts, tls_comment)
        cleaned = cleanup(b"".join(txn.chunks), txn.sender, raw_rcpts, arrival,
                          received_header(arrival, self.settings), self.settings,
                          local_context=client.local_context)
        # A recipient given twice with the same original address, NOTIFY and ORCPT is queued
        # once, as cleanup's duplicate filter (been_here) does.
        unique: dict[record.Recipient, None] = {}
        for (raw, params), address in zip(txn.recipients, cleaned.recipients, strict=True):
            r = _recipient(raw, params)
            unique[r if address == raw else
                   record.Recipient(address, r.orcpt, r.notify, original=raw)] = None
        recipients = list(unique)
        envelope = record.Envelope(
            sender=cleaned.sender,
            recipients=tuple(recipients),
            arrival_time=now,
            client=record.Client(name=client.name, address=client.address, port=client.port,
                                 helo=helo or "", protocol=protocol),
            dsn_ret=txn.params.ret.value if txn.params.ret else "",
            dsn_envid=txn.params.envid or "",
            body_type=txn.params.body.value if txn.params.body else "",
            smtputf8=txn.params.smtputf8,
        )
        content = cleaned.content

        def write() -> None:
            draft.write(content)
            self.store.commit(draft, envelope, sync=False)  # data fdatasynced, renamed

        try:
            await asyncio.to_thread(write)
        finally:
            txn.draft = None
            txn.chunks.clear()
        await self.incoming.sync()  # the rename is durable: now 250 may be said
        self.qmgr.send(trigger.INCOMING + draft.queue_id.encode())
        return cleaned
