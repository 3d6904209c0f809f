"""One message in the active queue: route its recipients, deliver, and settle the outcome.

SECURITY: reads and changes queue files (through QueueStore only); hands content to the
delivery agents.

Theory of operation
-------------------
A message arrives here already renamed into active/.  Its pending recipients (those not
marked done) are routed (trivial-rewrite's resolve; a message with a content filter sends
them all to the filter's transport and nexthop instead), grouped by (transport, nexthop) and cut
into requests of at most the transport's recipient limit.  Each request waits for a place
in its destination's concurrency window (:class:`Destinations`), then goes to the agent.  When
every request has answered, the message is settled, in an order that never loses mail:

1. notifications are queued (durably) first: failures for bounced recipients, and a delay
   warning when one is due;
2. if recipients remain deferred: the delivered and bounced ones are marked done (fdatasync),
   the reasons written to the defer log, and the file moves to deferred with its next
   attempt time as mtime;
3. otherwise the file is removed (not durably: if a crash undoes the unlink, every recipient
   is found done, or is delivered again -- a message in flight, as the spec allows).

A recipient that fails temporarily after the queue lifetime is bounced instead of deferred
("status=expired, returned to sender").  Nothing here raises for a bad message: a file that
cannot be read is moved to corrupt with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import deque
from dataclasses import dataclass, field

from mailrelay.bounce.notice import NoticeEntry, NoticeKind
from mailrelay.cleanup.content_checks import FILTER_ATTRIBUTE
from mailrelay.maillog.writer import Logger, MailLog
from mailrelay.maps.base import MapLookupError
from mailrelay.qmgr.notices import Notices
from mailrelay.qmgr.request import DeliveryRecipient, DeliveryRequest, RecipientResult, Status
from mailrelay.qmgr.schedule import (
    QmgrSettings,
    TransportLimits,
    Window,
    batches,
    pretty_delay,
)
from mailrelay.qmgr.transports import Transports
from mailrelay.queue.queuefile import QueuedMessage
from mailrelay.queue.record import Envelope, Notify, QueueFileError
from mailrelay.queue.statuslog import RecipientStatus, StatusLog
from mailrelay.queue.store import EXPIRED_BIT, LogKind, MessageNotFound, Queue, QueueStore
from mailrelay.route.resolve import Route, RouteError, Routes

Key = tuple[str, str]


class Destinations:
    """Concurrency windows per (transport, nexthop), with FIFO waiting (see schedule.Window)."""

    def __init__(self, settings: QmgrSettings) -> None:
        self._settings = settings
        self._windows: dict[Key, Window] = {}
        self._waiters: dict[Key, deque[asyncio.Future[None]]] = {}

    def window(self, key: Key, limits: TransportLimits) -> Window:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = Window(limits)
        return window

    async def acquire(self, key: Key, limits: TransportLimits) -> Window:
        window = self.window(key, limits)
        waiters = self._waiters.setdefault(key, deque())
        if window.may_start() and not waiters:
            window.active += 1
            return window
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(future)
        try:
            await future  # release() counted us in
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(key, None, "")
            else:
                with contextlib.suppress(ValueError):
                    waiters.remove(future)
            raise
        return window

    def release(self, key: Key, reached: bool | None, reason: str) -> None:
        """One delivery ended: *reached* says whether it got to the destination (feedback)."""
        window = self._windows[key]
        window.active -= 1
        now = time.time()
        if reached is True:
            window.succeeded()
        elif reached is False:
            window.failed(now, reason, self._settings.minimal_backoff_time)
        waiters = self._waiters.get(key)
        while waiters and window.may_start():
            future = waiters.popleft()
            if not future.done():
                window.active += 1
                future.set_result(None)
        if waiters is not None and not waiters:
            del self._waiters[key]


@dataclass(slots=True)
class Context:
    """What delivering a message needs from the service; one per qmgr."""

    store: QueueStore
    settings: QmgrSettings
    routes: Routes
    transports: Transports
    destinations: Destinations
    notices: Notices
    maillog: MailLog
    log: Logger
    limits: dict[str, TransportLimits] = field(default_factory=dict)
    #: defer_transports: mail for these waits until a flush (postqueue -f).
    defer_transports: frozenset[str] = frozenset()
    #: soft_bounce: every would-be bounce is deferred instead (a safety net while testing).
    soft_bounce: bool = False

    def transport_limits(self, name: str) -> TransportLimits | None:
        limits = self.limits.get(name)
        if limits is None:
            transport = self.transports.get(name)
            if transport is None:
                return None
            limits = self.limits[name] = TransportLimits.from_config(transport.config, name)
        return limits


@dataclass(slots=True)
class _Job:
    """One message's bookkeeping while its requests run."""

    queue_id: str
    message: QueuedMessage
    envelope: Envelope
    activated: float
    content: bytes | None = None
    #: postsuper -e: return the pending recipients without an attempt.
    expired: bool = False
    #: Taken by a flush (postqueue -f/-i/-s): defer_transports are delivered too.
    flushed: bool = False
    results: dict[int, tuple[RecipientResult, str, str, float]] = field(default_factory=dict)

    def read(self) -> bytes:
        if self.content is None:
            self.content = self.message.read_content()
        return self.content


def _deferred(index: int, dsn: str, reason: str) -> RecipientResult:
    return RecipientResult(index, Status.DEFERRED, dsn, reason)


async def deliver_message(ctx: Context, queue_id: str, *, flushed: bool = False,
                          new: bool = False) -> None:
    """Deliver a message that is in active/ (the service moved it there); *new*: it came
    from incoming/, so it has no defer log to read (one open(2) less per message)."""
    try:
        message = ctx.store.open(Queue.ACTIVE, queue_id, writable=True)
    except MessageNotFound:
        return
    except (QueueFileError, PermissionError) as exc:
        _quarantine(ctx, queue_id, str(exc))
        return
    with message:
        job = _Job(queue_id, message, message.envelope, time.time(), flushed=flushed)
        env = job.envelope
        pending = [i for i, r in enumerate(env.recipients) if not r.done]
        ctx.log(f"{queue_id}: from=<{env.sender}>, size={message.size}, "
                f"nrcpt={len(pending)} (queue active)")
        previous = None if new else _read_defer_log(ctx, queue_id)
        if message.stat.st_mode & EXPIRED_BIT:
            _expire_without_attempt(job, pending, previous)
        else:
            await _attempt(ctx, job, pending)
        try:
            await _settle(ctx, job, previous)
        except QueueFileError as exc:
            _quarantine(ctx, queue_id, str(exc))
        except (MessageNotFound, FileNotFoundError):
            # postsuper -d while it was being delivered: nothing left to settle.
            ctx.log(f"{queue_id}: removed")


def _read_defer_log(ctx: Context, queue_id: str) -> StatusLog | None:
    try:
        return ctx.store.read_log(LogKind.DEFER, queue_id)
    except (QueueFileError, OSError):
        return None


def _expire_without_attempt(job: _Job, pending: list[int], previous: StatusLog | None) -> None:
    """postsuper -e: the pending recipients go back to the sender with their last reasons."""
    reasons = {e.recipient: e for e in previous.entries} if previous else {}
    for index in pending:
        entry = reasons.get(index)
        result = RecipientResult(index, Status.DEFERRED, entry.status if entry else "4.0.0",
                                 entry.reason if entry else "message expired",
                                 diagnostic=entry.diagnostic if entry else "",
                                 remote_mta=entry.remote_mta if entry else "")
        job.results[index] = (result, job.envelope.recipients[index].address, "", job.activated)
    job.expired = True


def _content_filter(envelope: Envelope) -> str:
    """The message's content filter (the last one stored wins), or ""."""
    found = ""
    for key, value in envelope.attributes:
        if key == FILTER_ATTRIBUTE:
            found = value
    return found


async def _attempt(ctx: Context, job: _Job, pending: list[int]) -> None:
    groups: dict[Key, list[tuple[int, Route]]] = {}
    content_filter = _content_filter(job.envelope)
    for index in pending:
        address = job.envelope.recipients[index].address
        try:
            if content_filter:  # every recipient goes to the filter, none is routed
                route = ctx.routes.content_filter(content_filter, address)
            else:
                route = ctx.routes.resolve(address, job.envelope.sender)
        except (MapLookupError, RouteError) as exc:
            ctx.log(f"warning: {job.queue_id}: {address}: {exc}")
            _record(ctx, job, _deferred(index, "4.3.0", "address resolver failure"), address,
                    "qmgr", job.activated)
            continue
        groups.setdefault((route.transport, route.nexthop), []).append((index, route))
    requests = []
    for key, members in groups.items():
        limits = ctx.transport_limits(key[0])
        size = limits.recipients if limits is not None else 0
        by_index = dict(members)
        for batch in batches([i for i, _ in members], size):
            requests.append(_request(ctx, job, key, [(i, by_index[i]) for i in batch], limits))
    if requests:
        await asyncio.gather(*requests)


async def _request(ctx: Context, job: _Job, key: Key, members: list[tuple[int, Route]],
                   limits: TransportLimits | None) -> None:
    transport = ctx.transports.get(key[0]) if limits is not None else None
    if transport is None or transport.agent is None or limits is None:
        ctx.log(f"warning: connect to transport private/{key[0]}: No such file or directory")
        for index, route in members:
            # Postfix hands them to its error service, which logs them.
            _record(ctx, job, _deferred(index, "4.3.0", "mail transport unavailable"),
                    route.recipient, "error", job.activated)
        return
    if key[0] in ctx.defer_transports and not job.flushed:
        # Postfix hands these to its retry service: logged by error(8), 4.3.2.
        for index, route in members:
            _record(ctx, job, _deferred(index, "4.3.2", "deferred transport"), route.recipient,
                    "error", time.time())
        return
    window = await ctx.destinations.acquire(key, limits)
    started = time.time()
    daemon = transport.daemon
    if window.is_dead(started):
        ctx.destinations.release(key, None, "")
        for index, route in members:
            result = RecipientResult(index, Status.DEFERRED, "4.4.1",
                                     f"delivery temporarily suspended: {window.dead_reason}")
            _record(ctx, job, result, route.recipient, daemon, started)
        return
    env = job.envelope
    recipients = tuple(
        DeliveryRecipient(i, r.recipient, env.recipients[i].orcpt, env.recipients[i].notify,
                          env.recipients[i].original) for i, r in members)
    request = DeliveryRequest(job.queue_id, key[0], key[1], env.sender, recipients, env,
                              job.message.size, members[0][1].fallback_relay)
    reached: bool | None = None
    reason = ""
    try:
        results = await transport.agent.deliver(request, job.read())
    except Exception as exc:  # a bug in an agent must not take qmgr down: defer, say so
        ctx.log(f"warning: {job.queue_id}: {key[0]} delivery failed: {exc!r}")
        results = [_deferred(i, "4.3.0", "delivery agent failure") for i, _ in members]
    else:
        reached = any(r.relay != "none" or r.status is not Status.DEFERRED for r in results)
        reason = results[0].reason if results else ""
    ctx.destinations.release(key, reached, reason)
    answered = {r.index for r in results}
    for result in results:
        _record(ctx, job, result, _address(members, result.index), daemon, started)
    for index, route in members:
        if index not in answered:
            _record(ctx, job, _deferred(index, "4.3.0", "unknown delivery status"),
                    route.recipient, daemon, started)


def _address(members: list[tuple[int, Route]], index: int) -> str:
    for i, route in members:
        if i == index:
            return route.recipient
    return ""


def _record(ctx: Context, job: _Job, result: RecipientResult, address: str, daemon: str,
            started: float) -> None:
    """Keep the result and log Postfix's ``to=<...>`` line for it."""
    if ctx.soft_bounce and result.status is Status.BOUNCED:
        result = dataclasses.replace(result, status=Status.DEFERRED, dsn="4" + result.dsn[1:],
                                     soft_bounced=True)
    job.results[result.index] = (result, address, daemon, started)
    now = time.time()
    env = job.envelope
    arrival = env.arrival_time
    a = max(0.0, job.activated - arrival)
    b = max(0.0, started - job.activated)
    c, d = result.setup_time, result.transmit_time
    original = env.recipients[result.index].original
    orig = f"orig_to=<{original}>, " if original and original != address else ""
    use = f"conn_use={result.conn_use}, " if result.conn_use > 1 else ""
    ctx.maillog.write(daemon, (
        f"{job.queue_id}: to=<{address}>, {orig}relay={result.relay}, {use}"
        f"delay={pretty_delay(now - arrival)}, delays={pretty_delay(a)}/{pretty_delay(b)}/"
        f"{pretty_delay(c)}/{pretty_delay(d)}, dsn={result.dsn}, "
        f"status={'SOFTBOUNCE' if result.soft_bounced else result.status.value} "
        f"({result.reason})"))


def _entry(job: _Job, index: int, result: RecipientResult, address: str,
           action: str) -> NoticeEntry:
    rcpt = job.envelope.recipients[index]
    return NoticeEntry(address or rcpt.address, rcpt.orcpt, rcpt.original, result.dsn, action,
                       result.reason, result.diagnostic, result.remote_mta,
                       relay=result.relay if action in _SUCCESS_ACTIONS else "",
                       notify=rcpt.notify)


#: The actions of a success notice (the relay reports them itself; see RecipientResult).
_SUCCESS_ACTIONS = frozenset({"relayed", "delivered", "expanded"})


async def _settle(ctx: Context, job: _Job, previous: StatusLog | None) -> None:
    store, env, now = ctx.store, job.envelope, time.time()
    forced = job.expired
    done: list[int] = []
    failed: list[NoticeEntry] = []
    succeeded: list[NoticeEntry] = []
    delayed: list[tuple[int, RecipientResult, str]] = []
    for index, (result, address, _daemon, _started) in sorted(job.results.items()):
        if result.status is Status.DEFERRED:
            delayed.append((index, result, address))
        else:
            done.append(index)
            if result.status is Status.BOUNCED:
                failed.append(_entry(job, index, result, address, "failed"))
            elif (result.action in _SUCCESS_ACTIONS
                  and env.recipients[index].notify & Notify.SUCCESS):
                succeeded.append(_entry(job, index, result, address, result.action))
    if delayed and (forced or ctx.settings.expired(env.arrival_time, now, env.sender)):
        ctx.log(f"{job.queue_id}: from=<{env.sender}>, status=expired, returned to sender")
        failed += [_entry(job, i, r, a, "failed") for i, r, a in delayed]
        done += [i for i, _, _ in delayed]
        delayed = []
    warned = previous.warning_sent if previous else False
    content = job.read() if failed or delayed or succeeded else b""
    if failed:
        await asyncio.to_thread(ctx.notices.send, NoticeKind.FAILURE, job.queue_id, env,
                                failed, content)
    if succeeded:
        await asyncio.to_thread(ctx.notices.send, NoticeKind.SUCCESS, job.queue_id, env,
                                succeeded, content)
    if delayed and ctx.settings.warning_due(env.arrival_time, now, warned):
        entries = [_entry(job, i, r, a, "delayed") for i, r, a in delayed
                   if env.recipients[i].notify & Notify.DELAY or not env.recipients[i].notify]
        if entries:
            await asyncio.to_thread(ctx.notices.send, NoticeKind.DELAY, job.queue_id, env,
                                    entries, content)
        warned = True
    if not delayed:
        with contextlib.suppress(MessageNotFound):
            store.remove(Queue.ACTIVE, job.queue_id, durable=False)
        ctx.log(f"{job.queue_id}: removed")
        return
    log = StatusLog(tuple(
        RecipientStatus(i, env.recipients[i].address, r.dsn, "delayed", r.reason, r.diagnostic,
                        r.remote_mta) for i, r, _ in delayed), warned)
    next_attempt = ctx.settings.next_attempt(env.arrival_time, now)

    def write() -> None:
        if done:
            store.mark_done(job.message, done)
        store.defer(Queue.ACTIVE, job.queue_id, log, next_attempt)

    await asyncio.to_thread(write)


def _quarantine(ctx: Context, queue_id: str, reason: str) -> None:
    try:
        ctx.store.quarantine(Queue.ACTIVE, queue_id)
    except (MessageNotFound, OSError):
        return
    ctx.log(f'warning: saving corrupt file "{queue_id}" from queue "active" to queue '
            f'"corrupt": {reason}')

