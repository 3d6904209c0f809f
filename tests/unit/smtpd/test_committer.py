"""The worker's batch committer: durable files, shared directory fsyncs, failures kept apart."""

import asyncio
import threading
import time
from pathlib import Path

import pytest

from mailrelay.queue import record
from mailrelay.queue.store import Queue, QueueStore
from mailrelay.smtpd.committer import Committer


class SlowSyncStore(QueueStore):
    """A real store whose directory fsyncs are slow and counted."""

    def __init__(self, directory: Path, fail_sync: bool = False) -> None:
        super().__init__(directory)
        self.syncs: list[tuple[Queue, float]] = []
        self.fail_sync = fail_sync
        self.lock = threading.Lock()

    def sync(self, queue: Queue) -> None:
        with self.lock:
            self.syncs.append((queue, time.monotonic()))
        time.sleep(0.02)
        if self.fail_sync:
            raise OSError(5, "Input/output error")
        super().sync(queue)


def envelope(n: int) -> record.Envelope:
    return record.Envelope(sender=f"s{n}@example.com",
                           recipients=(record.Recipient(f"r{n}@example.org"),),
                           arrival_time=1_700_000_000.0)


def commit_all(store: QueueStore, count: int, *, hold_every: int = 0,
               spacing: float = 0.001) -> list[tuple[str, object]]:
    committer = Committer(store)

    async def one(n: int) -> tuple[str, object]:
        await asyncio.sleep(n * spacing)
        draft = committer.draft()
        try:
            await committer.commit(draft, f"Subject: {n}\r\n\r\nbody {n}\r\n".encode(),
                                   envelope(n), hold=bool(hold_every) and n % hold_every == 0)
        except OSError as error:
            return draft.queue_id, error
        return draft.queue_id, None

    async def main() -> list[tuple[str, object]]:
        try:
            return await asyncio.gather(*(one(n) for n in range(count)))
        finally:
            committer.close()

    return asyncio.run(main())


def test_every_message_lands_and_they_share_directory_fsyncs(tmp_path: Path) -> None:
    store = SlowSyncStore(tmp_path)
    store.create_directories()
    results = commit_all(store, 40)
    assert all(error is None for _, error in results)
    assert sorted(store.ids(Queue.INCOMING)) == sorted(qid for qid, _ in results)
    for n, (qid, _) in enumerate(results):
        with store.open(Queue.INCOMING, qid) as message:
            assert message.envelope.sender == f"s{n}@example.com"
            assert b"".join(message.content()) == f"Subject: {n}\r\n\r\nbody {n}\r\n".encode()
    # 40 messages 1 ms apart against 20 ms fsyncs: a handful of batches, not 40
    assert 2 <= len(store.syncs) <= 10
    assert not list((tmp_path / "tmp").iterdir())


def test_held_messages_go_to_hold_and_hold_is_synced(tmp_path: Path) -> None:
    store = SlowSyncStore(tmp_path)
    store.create_directories()
    results = commit_all(store, 6, hold_every=3, spacing=0)
    held = {qid for n, (qid, _) in enumerate(results) if n % 3 == 0}
    assert set(store.ids(Queue.HOLD)) == held
    assert set(store.ids(Queue.INCOMING)) == {qid for qid, _ in results} - held
    assert {queue for queue, _ in store.syncs} == {Queue.HOLD, Queue.INCOMING}


def test_a_failed_directory_fsync_fails_its_batch(tmp_path: Path) -> None:
    store = SlowSyncStore(tmp_path, fail_sync=True)
    store.create_directories()
    results = commit_all(store, 5, spacing=0)
    assert all(isinstance(error, OSError) for _, error in results)


def test_a_failing_message_fails_alone(tmp_path: Path) -> None:
    store = SlowSyncStore(tmp_path)
    store.create_directories()
    committer = Committer(store)

    async def main() -> tuple[BaseException | None, str]:
        bad, good = store.begin(), store.begin()
        bad.abort()  # sealing an aborted draft raises ValueError
        outcomes = await asyncio.gather(
            committer.commit(bad, b"x\r\n", envelope(1)),
            committer.commit(good, b"y\r\n", envelope(2)), return_exceptions=True)
        assert outcomes[1] is None
        return outcomes[0], good.queue_id

    error, good_id = asyncio.run(main())
    assert isinstance(error, ValueError)
    assert list(store.ids(Queue.INCOMING)) == [good_id]


def test_a_new_event_loop_gets_a_working_committer(tmp_path: Path) -> None:
    """A worker's loop is replaced on reload in tests that reuse one store."""
    store = SlowSyncStore(tmp_path)
    store.create_directories()
    committer = Committer(store)
    for n in range(2):
        async def once(n: int = n) -> None:
            await committer.commit(store.begin(), b"z\r\n", envelope(n))
        asyncio.run(once())
    assert len(list(store.ids(Queue.INCOMING))) == 2


def test_spare_drafts_are_used_while_fresh_and_removed_on_close(tmp_path: Path,
                                                                monkeypatch) -> None:
    from mailrelay.smtpd import committer as module
    store = QueueStore(tmp_path)
    store.create_directories()
    committer = Committer(store)
    temp = tmp_path / "tmp"

    async def main() -> None:
        first = committer.draft()  # made here, or the thread's first spare
        for _ in range(200):
            if len(list(temp.iterdir())) >= module.SPARES:
                break
            await asyncio.sleep(0.01)
        spares = set(temp.iterdir())
        assert len(spares) >= module.SPARES  # (no refill for one spare taken: at half)
        second = committer.draft()
        assert tmp_path / "tmp" / second._temp.name in spares  # a spare, not a new file
        monkeypatch.setattr(module, "SPARE_AGE", 0.0)  # every spare is stale now
        await asyncio.sleep(0.01)
        third = committer.draft()
        assert third._temp not in spares
        for n, draft in enumerate((first, second, third)):
            await committer.commit(draft, b"x\r\n", envelope(n))
        committer.close()

    asyncio.run(main())
    assert list(temp.iterdir()) == []  # stale spares removed by the thread, the rest by close
    assert len(list(store.ids(Queue.INCOMING))) == 3


def test_the_master_removes_a_dead_workers_temporary_files(tmp_path: Path) -> None:
    store = QueueStore(tmp_path)
    store.create_directories()
    mine = [store.begin() for _ in range(3)]
    other = tmp_path / "tmp" / ".tmp.1.abcdef"
    other.write_bytes(b"")
    import os
    assert store.remove_temporary(os.getpid()) == 3
    assert list((tmp_path / "tmp").iterdir()) == [other]
    for draft in mine:
        draft.abort()  # already gone: no error


def test_a_bug_in_the_commit_fails_the_batch_instead_of_hanging_it(tmp_path: Path,
                                                                   monkeypatch) -> None:
    store = QueueStore(tmp_path)
    store.create_directories()

    def broken(batch: object, executor: object = None) -> list[object]:
        raise RuntimeError("bug")

    monkeypatch.setattr(store, "commit_many", broken)
    committer = Committer(store)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="bug"):
            await asyncio.wait_for(committer.commit(store.begin(), b"x\r\n", envelope(1)), 5)
        committer.close()

    asyncio.run(main())
