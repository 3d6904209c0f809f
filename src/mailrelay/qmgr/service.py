"""qmgr(8), the service: takes messages from incoming and deferred into active and delivers.

SECURITY: moves queue files (through QueueStore only); binds ``private/qmgr`` (mode 0600,
the mail system only); runs the delivery agents, which talk to the network.

Theory of operation
-------------------
New mail is delivered at once: smtpd and pickup send ``I<queue id>`` to ``private/qmgr``
right after the message is durable in incoming/, and the service takes it from there with
no directory scan.  A datagram can be lost (the socket queues only a few), so incoming/ is
also scanned: at start, every few seconds when quiet, and every quarter second while mail
is flowing; a trigger or a scan only *names* a file, the rename
into active/ is what claims it, so a name seen twice is delivered once.

Deferred mail is taken when its time has come: the deferred queue is scanned every
``queue_run_delay`` (and on ``F``, a flush: every deferred message, due or not).  What was in
active/ when the previous qmgr stopped or crashed is delivered first.

At most ``qmgr_message_active_limit`` messages are in active at once; each is one task
(:func:`mailrelay.qmgr.active.deliver_message`), and per-destination windows bound the
deliveries.  On stop, no new message is taken; those in flight get a grace period, then are
cancelled (their files stay in active/ and are retried at the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.config.mastercf import MasterCf
from mailrelay.config.model import Config
from mailrelay.delivery.local import Forward
from mailrelay.maillog.writer import MailLog
from mailrelay.policy.resolve import resolve
from mailrelay.policy.settings import TableCache, build_site
from mailrelay.qmgr.active import Context, Destinations, deliver_message
from mailrelay.qmgr.notices import Notices, bounce_settings
from mailrelay.qmgr.schedule import QmgrSettings
from mailrelay.qmgr.transports import Transports
from mailrelay.queue import trigger
from mailrelay.queue.store import MessageNotFound, Queue, QueueStore
from mailrelay.route.resolve import Classify, Routes

#: How often incoming/ is scanned for messages whose trigger was lost: when quiet, and while
#: mail is flowing.  A Unix datagram socket queues only net.unix.max_dgram_qlen datagrams (10
#: by default): under load, triggers are lost, so a busy qmgr looks at incoming/ itself.
INCOMING_SCAN = 5.0
INCOMING_SCAN_BUSY = 0.25
#: How long deliveries in flight may take to finish once stop is asked.
STOP_GRACE = 10.0


def classifier(config: Config) -> Classify:
    """Relay control's own address classes, so routing and smtpd agree on what is local."""
    parents = {p.lower() for p in config.get_list("parent_domain_matches_subdomains")}
    site = build_site(config, TableCache(), parents)

    def classify(address: str) -> tuple[str, str]:
        resolved = resolve(site, address)
        return resolved.recipient, resolved.address_class.value

    return classify


class QmgrService:
    def __init__(self, config: Config, master: MasterCf, store: QueueStore,
                 maillog: MailLog) -> None:
        self.store = store
        self.settings = QmgrSettings.from_config(config)
        self.log = maillog.logger("qmgr")
        self.notices = Notices(store, bounce_settings(config, maillog.logger("bounce")),
                               CleanupSettings.from_config(config), maillog.logger("bounce"),
                               maillog.logger("cleanup"), self.queued)
        self.transports = Transports(config, master, maillog, self._forward)
        self.ctx = Context(store, self.settings, Routes.from_config(config, classifier(config)),
                           self.transports, Destinations(self.settings), self.notices,
                           maillog, self.log,
                           defer_transports=frozenset(config.get_list("defer_transports")),
                           soft_bounce=config.get_bool("soft_bounce"))
        #: Names taken by a flush: their defer_transports are delivered this time.
        self._flushed: set[str] = set()
        #: Names waiting for room in active, by where they are now.
        self._waiting: deque[tuple[str, Queue]] = deque()
        #: Every name waiting or in flight: a second trigger or scan for it is ignored.
        self._known: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    # ------------------------------------------------------------ naming work

    def queued(self, queue_id: str) -> None:
        """A new message is in incoming (a trigger, a notification, a forward)."""
        self._offer(queue_id, Queue.INCOMING)

    def _offer(self, queue_id: str, queue: Queue, *, first: bool = False) -> None:
        if queue_id in self._known:
            return
        self._known.add(queue_id)
        if first:
            self._waiting.appendleft((queue_id, queue))
        else:
            self._waiting.append((queue_id, queue))
        self._wake.set()

    async def _forward(self, request: Forward) -> str:
        return await asyncio.to_thread(self.notices.forward, request)

    def _on_trigger(self, datagrams: list[bytes]) -> None:
        for data in datagrams:
            if data.startswith(trigger.INCOMING):
                queue_id = data[1:].decode("ascii", "replace")
                with contextlib.suppress(ValueError):
                    self.store.path(Queue.INCOMING, queue_id)  # a valid name, or ignored
                    self.queued(queue_id)
            elif data.startswith(trigger.FLUSH):
                self.flush(data[1:].decode("ascii", "replace"))
            elif data.startswith(trigger.SITE):
                self.flush_site(data[1:].decode("utf-8", "replace"))
            else:
                self.scan_incoming()

    def scan_incoming(self) -> None:
        for queue_id in sorted(self.store.ids(Queue.INCOMING)):
            self._offer(queue_id, Queue.INCOMING)

    def scan_deferred(self, *, flush: bool = False) -> None:
        now = time.time()
        for found in self.store.scan(Queue.DEFERRED):
            if flush or found.mtime <= now:
                self._offer(found.queue_id, Queue.DEFERRED)

    def flush(self, queue_id: str = "") -> None:
        """postqueue -f (every deferred message now) or -i ID (that one, deferred or held
        back by nothing else)."""
        if not queue_id:
            for found in self.store.scan(Queue.DEFERRED):
                self._flushed.add(found.queue_id)
            self.scan_deferred(flush=True)
            return
        with contextlib.suppress(ValueError):
            if self.store.path(Queue.DEFERRED, queue_id).exists():
                self._flushed.add(queue_id)
                self._offer(queue_id, Queue.DEFERRED)

    def flush_site(self, site: str) -> None:
        """postqueue -s SITE: deferred mail with a recipient in that domain, now."""
        site = site.lower().strip().strip("[]")
        for queue_id in list(self.store.ids(Queue.DEFERRED)):
            try:
                with self.store.open(Queue.DEFERRED, queue_id) as message:
                    domains = {r.address.rpartition("@")[2].lower()
                               for r in message.envelope.recipients if not r.done}
            except Exception:  # gone, or corrupt: qmgr deals with it when it is due
                continue
            if site in domains:
                self._flushed.add(queue_id)
                self._offer(queue_id, Queue.DEFERRED)

    def recover_active(self) -> None:
        for queue_id in sorted(self.store.ids(Queue.ACTIVE)):
            self._offer(queue_id, Queue.ACTIVE, first=False)

    # ------------------------------------------------------------ the loop

    def _feed(self) -> None:
        limit = self.settings.message_active_limit
        while self._waiting and len(self._tasks) < limit:
            queue_id, queue = self._waiting.popleft()
            if queue is not Queue.ACTIVE:
                try:
                    self.store.move(queue, queue_id, Queue.ACTIVE, durable=False)
                except (MessageNotFound, OSError):
                    self._known.discard(queue_id)  # taken by postsuper, or never there
                    continue
            task = asyncio.create_task(self._deliver(queue_id, queue is Queue.INCOMING))
            self._tasks.add(task)

    async def _deliver(self, queue_id: str, new: bool) -> None:
        try:
            await deliver_message(self.ctx, queue_id, flushed=queue_id in self._flushed,
                                  new=new)
        except Exception as exc:  # a bug: say so, and try the message again later
            self.log(f"warning: {queue_id}: delivery failed: {exc!r}")
            with contextlib.suppress(MessageNotFound, OSError):
                self.store.postpone(Queue.ACTIVE, queue_id,
                                    time.time() + self.settings.minimal_backoff_time)
        finally:
            self._known.discard(queue_id)
            self._flushed.discard(queue_id)
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        sock = trigger.bind(self.store.directory, trigger.QMGR, 0o600)
        loop.add_reader(sock.fileno(), lambda: self._on_trigger(trigger.receive(sock)))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            self.recover_active()
            self.scan_incoming()
            self.scan_deferred()
            next_incoming = time.monotonic() + INCOMING_SCAN
            next_deferred = time.monotonic() + self.settings.queue_run_delay
            while not stop.is_set():
                self._feed()
                self._wake.clear()
                now = time.monotonic()
                if self._tasks or self._waiting:
                    next_incoming = min(next_incoming, now + INCOMING_SCAN_BUSY)
                timeout = max(0.0, min(next_incoming, next_deferred) - now)
                waker = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({waker, stopper}, timeout=timeout,
                                   return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                now = time.monotonic()
                if self._tasks or self._waiting:
                    next_incoming = min(next_incoming, now + INCOMING_SCAN_BUSY)
                if now >= next_incoming:
                    self.scan_incoming()
                    next_incoming = now + INCOMING_SCAN
                if now >= next_deferred:
                    self.scan_deferred()
                    next_deferred = now + self.settings.queue_run_delay
        finally:
            stopper.cancel()
            loop.remove_reader(sock.fileno())
            sock.close()
            await self._drain()

    async def _drain(self) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        await self.transports.close()
