"""The queue commits of one smtpd worker, in batches.

SECURITY: writes the queue (through QueueStore only).

A session that reaches the end of DATA hands its draft and envelope over and waits.  One
committer thread takes *every* message handed over since its last batch, writes each one's
content, fdatasyncs the batch's files in parallel (SYNCERS threads: the device merges flushes
that wait together) and renames them into their queue; then one fsync per directory covers
all the renames of the batch, and one wake-up of the event loop acknowledges them all.

Why a batch thread rather than a thread hop per message: the blocking calls must stay off the
event loop (a slow disk would stall every session of the worker), but each hop to a worker
thread and back costs futex calls, context switches and GIL hand-offs on both sides; measured
with py-spy and perf, those hand-offs took about a quarter of a worker's CPU at 10 sessions.
Here the event loop's side of a hand-off is a list append under an uncontended lock (plus one
wake-up when the thread sleeps), and the thread's answer is one ``call_soon_threadsafe`` per
batch, not per message.

The thread also keeps a few spare drafts (temporary files created in tmp/, their queue IDs
fixed) for the sessions' first accepted recipients: creating a file takes the journal's lock,
which waits while a journal commit (someone's fsync) runs, and on the event loop that stalled
every session of the worker (0.45 ms per create on average under load, measured with
cProfile).  A spare is used only while fresh (SPARE_AGE), since its queue ID carries its
creation time; stale ones are removed by the thread.  A worker that exits removes its
spares; the master removes those of a worker that died (the temporary names carry its pid).

Durability is unchanged (invariant 1 of queue/store.py): a file is fdatasynced before its
rename, and a message is acknowledged only after an fsync of its directory that began after
its rename.  A failure is the failing message's alone, except a failed directory fsync, which
fails every message of the batch in that directory (none of them is acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mailrelay.queue.queuefile import Draft
from mailrelay.queue.record import Envelope
from mailrelay.queue.store import QueueStore

#: Spare drafts kept ready per worker; under load a batch commits about as many.
SPARES = 8
#: Seconds a spare may wait: its queue ID shows its creation time (long queue IDs).
SPARE_AGE = 1.0
#: Threads that fdatasync a batch's files at once; a batch is about SPARES messages.
SYNCERS = 8


@dataclass(slots=True)
class _Job:
    draft: Draft
    content: bytes
    envelope: Envelope
    hold: bool
    future: asyncio.Future[None]
    error: BaseException | None = field(default=None)


class Committer:
    """Commits drafts for the sessions of one event loop (see the module's text)."""

    def __init__(self, store: QueueStore) -> None:
        self.store = store
        self._thread: _Thread | None = None

    def draft(self) -> Draft:
        """A new draft in incoming's tmp/ for the running loop's session: a fresh spare, or
        one created here when there is none."""
        thread = self._for(asyncio.get_running_loop())
        draft = thread.take_spare()
        return draft if draft is not None else self.store.begin()

    async def commit(self, draft: Draft, content: bytes, envelope: Envelope, *,
                     hold: bool = False) -> None:
        """Write *content* into *draft*, seal it with *envelope*, rename it into incoming/
        (hold/ with *hold*): durable, file and name, when this returns."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._for(loop).put(_Job(draft, content, envelope, hold, future))
        await future

    def close(self) -> None:
        """Stop the thread once it has committed what it holds; its spares are removed."""
        if self._thread is not None:
            self._thread.stop()
            self._thread.join(timeout=10)
            self._thread = None

    def _for(self, loop: asyncio.AbstractEventLoop) -> _Thread:
        thread = self._thread
        if thread is None or thread.loop is not loop:
            if thread is not None:  # a new event loop (tests): the old thread's may be closed
                thread.stop()
            thread = self._thread = _Thread(self.store, loop)
        return thread


class _Thread:
    """The committer thread of one event loop."""

    def __init__(self, store: QueueStore, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._pending: list[_Job] = []
        #: (monotonic creation time, draft), oldest first; taken by the loop's thread.
        self._spares: deque[tuple[float, Draft]] = deque()
        self._stale: list[Draft] = []
        self._sleeping = False
        self._stopped = False
        #: False after a spare could not be created: no retry before the next take.
        self._hungry = True
        #: Seal a batch's files in parallel (see QueueStore.commit_many).
        self._syncers = ThreadPoolExecutor(SYNCERS, thread_name_prefix="queue-sync")
        self._thread = threading.Thread(target=self._run, name="queue-committer", daemon=True)
        self._thread.start()

    def put(self, job: _Job) -> None:
        with self._lock:
            self._pending.append(job)
            if self._sleeping:
                self._ready.notify()

    def take_spare(self) -> Draft | None:
        draft = None
        with self._lock:
            now = time.monotonic()
            while self._spares:
                created, spare = self._spares.popleft()
                if now - created <= SPARE_AGE:
                    draft = spare
                    break
                self._stale.append(spare)
            self._hungry = True
            # Refill (and remove the stale ones) once half are gone: the thread refills after
            # every batch anyway, and waking it for each draft cost a futex hand-off a message.
            if self._sleeping and len(self._spares) <= SPARES // 2:
                self._ready.notify()
        return draft

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._ready.notify()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not (self._pending or self._stale or self._stopped
                           or (self._hungry and len(self._spares) < SPARES)):
                    self._sleeping = True
                    self._ready.wait()
                self._sleeping = False
                batch, self._pending = self._pending, []
                stale, self._stale = self._stale, []
                stopped = self._stopped
                missing = SPARES - len(self._spares) if self._hungry and not stopped else 0
            if batch:
                try:
                    self._commit(batch)
                except BaseException as error:  # a bug: no session may wait forever
                    for job in batch:
                        job.error = job.error or error
                # A closed loop: nobody waits for these any more (they are queued, though).
                with contextlib.suppress(RuntimeError):
                    self.loop.call_soon_threadsafe(_settle, batch)
            for draft in stale:
                with contextlib.suppress(OSError):
                    draft.abort()
            if stopped:
                self._syncers.shutdown(wait=False)
                with self._lock:
                    spares, self._spares = self._spares, deque()
                for _, draft in spares:
                    with contextlib.suppress(OSError):
                        draft.abort()
                return
            self._refill(missing)

    def _refill(self, missing: int) -> None:
        fresh = []
        for _ in range(missing):
            try:
                fresh.append((time.monotonic(), self.store.begin()))
            except Exception:  # the sessions will create their own, and see the error
                with self._lock:
                    self._hungry = False
                break
        with self._lock:
            self._spares.extend(fresh)

    def _commit(self, batch: list[_Job]) -> None:
        written: list[_Job] = []
        for job in batch:
            try:
                job.draft.write(job.content)
            except BaseException as error:  # this message only
                job.draft.abort()
                job.error = error
            else:
                written.append(job)
        errors = self.store.commit_many(((j.draft, j.envelope, j.hold) for j in written),
                                        self._syncers)
        for job, outcome in zip(written, errors, strict=True):
            job.error = outcome


def _settle(batch: list[_Job]) -> None:
    for job in batch:
        if job.future.done():  # the session was cancelled meanwhile
            continue
        if job.error is None:
            job.future.set_result(None)
        else:
            job.future.set_exception(job.error)
