"""The queue commits of one smtpd worker, in batches.

SECURITY: writes the queue (through QueueStore only).

A session that reaches the end of DATA hands its draft and envelope over and waits.  One
committer thread takes *every* message handed over since its last batch, and for each writes
the content, fdatasyncs and renames the file into its queue; then one fsync per directory
covers all the renames of the batch, and one wake-up of the event loop acknowledges them all.

Why a batch thread rather than a thread hop per message: the blocking calls must stay off the
event loop (a slow disk would stall every session of the worker), but each hop to a worker
thread and back costs futex calls, context switches and GIL hand-offs on both sides; measured
with py-spy and perf, those hand-offs took about a quarter of a worker's CPU at 10 sessions.
Here the event loop's side of a hand-off is a list append under an uncontended lock (plus one
wake-up when the thread sleeps), and the thread's answer is one ``call_soon_threadsafe`` per
batch, not per message.

Durability is unchanged (invariant 1 of queue/store.py): a file is fdatasynced before its
rename, and a message is acknowledged only after an fsync of its directory that began after
its rename.  A failure is the failing message's alone, except a failed directory fsync, which
fails every message of the batch in that directory (none of them is acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field

from mailrelay.queue.queuefile import Draft
from mailrelay.queue.record import Envelope
from mailrelay.queue.store import Queue, QueueStore


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

    async def commit(self, draft: Draft, content: bytes, envelope: Envelope, *,
                     hold: bool = False) -> None:
        """Write *content* into *draft*, seal it with *envelope*, rename it into incoming/
        (hold/ with *hold*): durable, file and name, when this returns."""
        loop = asyncio.get_running_loop()
        thread = self._thread
        if thread is None or thread.loop is not loop:
            if thread is not None:  # a new event loop (tests): the old thread's may be closed
                thread.stop()
            thread = self._thread = _Thread(self.store, loop)
        future = loop.create_future()
        thread.put(_Job(draft, content, envelope, hold, future))
        await future


class _Thread:
    """The committer thread of one event loop."""

    def __init__(self, store: QueueStore, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._pending: list[_Job] = []
        self._sleeping = False
        self._stopped = False
        threading.Thread(target=self._run, name="queue-committer", daemon=True).start()

    def put(self, job: _Job) -> None:
        with self._lock:
            self._pending.append(job)
            if self._sleeping:
                self._ready.notify()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopped:
                    self._sleeping = True
                    self._ready.wait()
                self._sleeping = False
                batch, self._pending = self._pending, []
                stopped = self._stopped
            if batch:
                self._commit(batch)
                # A closed loop: nobody waits for these any more (they are queued, though).
                with contextlib.suppress(RuntimeError):
                    self.loop.call_soon_threadsafe(_settle, batch)
            if stopped:
                return

    def _commit(self, batch: list[_Job]) -> None:
        renamed: dict[Queue, list[_Job]] = {}
        for job in batch:
            try:
                job.draft.write(job.content)
                # Not synced here: the batch's directory fsyncs follow.
                self.store.commit(job.draft, job.envelope, sync=False, hold=job.hold)
            except BaseException as error:  # this message only; its draft is aborted
                job.draft.abort()
                job.error = error
                continue
            renamed.setdefault(Queue.HOLD if job.hold else Queue.INCOMING, []).append(job)
        for queue, jobs in renamed.items():
            try:
                self.store.sync(queue)
            except BaseException as error:
                for job in jobs:
                    job.error = error


def _settle(batch: list[_Job]) -> None:
    for job in batch:
        if job.future.done():  # the session was cancelled meanwhile
            continue
        if job.error is None:
            job.future.set_result(None)
        else:
            job.future.set_exception(job.error)
