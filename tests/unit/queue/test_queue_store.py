import concurrent.futures
import dataclasses
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from mailrelay.queue import record, store
from mailrelay.queue.queue_id import parse_queue_id
from mailrelay.queue.record import Envelope, QueueFileError, Recipient
from mailrelay.queue.statuslog import RecipientStatus, StatusLog, delay_reasons
from mailrelay.queue.store import (
    InvalidQueueId,
    LogKind,
    MessageNotFound,
    Queue,
    QueueStore,
)

ENVELOPE = Envelope(
    "cron@host.example.com",
    (Recipient("a@example.com"), Recipient("b@example.net"), Recipient("c@example.org")),
    1_700_000_000.5,
)
CONTENT = b"Subject: test\r\n\r\nhello\r\n"


@pytest.fixture
def queue(tmp_path: Path) -> QueueStore:
    s = QueueStore(tmp_path / "spool")
    s.create_directories()
    return s


def names(s: QueueStore, directory: str) -> list[str]:
    return sorted(os.listdir(s.directory / directory))


def test_a_committed_message_is_in_incoming_complete_and_private(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    assert names(queue, "incoming") == [queue_id] and names(queue, "tmp") == []
    path = queue.path(Queue.INCOMING, queue_id)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert record.decode(path.read_bytes()) == record.QueueFile(ENVELOPE, CONTENT)
    with queue.open(Queue.INCOMING, queue_id) as message:
        assert message.envelope == ENVELOPE
        assert message.size == len(CONTENT)
        assert message.read_content() == CONTENT


@pytest.mark.parametrize("long_ids", [False, True])
def test_the_queue_id_is_made_from_the_time_and_the_files_inode(tmp_path, long_ids):
    s = QueueStore(tmp_path, long_ids=long_ids)
    s.create_directories()
    before = time.time()
    queue_id = s.enqueue(ENVELOPE, CONTENT)
    parts = parse_queue_id(queue_id)
    assert parts is not None and parts.long == long_ids
    assert parts.inode == os.stat(s.path(Queue.INCOMING, queue_id)).st_ino
    if long_ids:
        assert before - 1 <= parts.seconds <= time.time()


def test_a_large_message_is_streamed_to_disk_in_chunks(queue):
    chunks = [bytes([i % 251]) * 4096 for i in range(700)]  # 2.8 MB: several flushes
    with queue.begin() as draft:
        for chunk in chunks:
            draft.write(chunk)
        queue_id = queue.commit(draft, ENVELOPE)
    with queue.open(Queue.INCOMING, queue_id) as message:
        assert message.size == 700 * 4096
        assert b"".join(message.content(chunk_size=10_000)) == b"".join(chunks)


def test_an_abandoned_draft_leaves_nothing(queue):
    with pytest.raises(RuntimeError), queue.begin() as draft:
        draft.write(b"half a message")
        raise RuntimeError("client went away")
    assert names(queue, "tmp") == [] and names(queue, "incoming") == []


def test_a_draft_knows_its_id_before_commit(queue):
    with queue.begin() as draft:
        early = draft.queue_id
        assert queue.commit(draft, ENVELOPE) == early
    with pytest.raises(ValueError):
        draft.write(b"more")
    assert list(queue.ids(Queue.INCOMING)) == [early]


def test_an_envelope_that_cannot_be_stored_leaves_no_file(queue):
    with pytest.raises(ValueError), queue.begin() as draft:
        draft.write(CONTENT)
        queue.commit(draft, Envelope("a", (), float("nan")))
    assert names(queue, "tmp") == [] and names(queue, "incoming") == []


def test_group_commit_renames_each_file_then_syncs_the_directory_once(queue, monkeypatch):
    synced = []
    monkeypatch.setattr(store, "fsync_directory", lambda path: synced.append(Path(path).name))
    drafts = [queue.begin() for _ in range(3)]
    for draft in drafts:
        draft.write(CONTENT)
    assert queue.commit_many((draft, ENVELOPE, False) for draft in drafts) == [None] * 3
    assert sorted(d.queue_id for d in drafts) == names(queue, "incoming")
    assert synced == ["incoming"]


def test_moves_between_queues_are_renames(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    inode = os.stat(queue.path(Queue.INCOMING, queue_id)).st_ino
    queue.move(Queue.INCOMING, queue_id, Queue.ACTIVE)
    assert queue.locate(queue_id) is Queue.ACTIVE
    assert os.stat(queue.path(Queue.ACTIVE, queue_id)).st_ino == inode
    with pytest.raises(MessageNotFound):
        queue.move(Queue.INCOMING, queue_id, Queue.ACTIVE)


def test_defer_records_reasons_and_sets_the_next_attempt_as_mtime(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    queue.move(Queue.INCOMING, queue_id, Queue.ACTIVE, durable=False)
    log = StatusLog((RecipientStatus(1, "b@example.net", "4.4.1", "delayed", "refused"),))
    next_attempt = time.time() + 300
    queue.defer(Queue.ACTIVE, queue_id, log, next_attempt)
    info = queue.stat(Queue.DEFERRED, queue_id)
    assert info.mtime == pytest.approx(next_attempt, abs=1e-3)
    assert queue.read_log(LogKind.DEFER, queue_id) == log
    with queue.open(Queue.DEFERRED, queue_id) as message:
        assert delay_reasons(message.envelope, log) == ("", "refused", "")


def test_done_marks_are_durable_and_survive_reopening(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    with queue.open(Queue.INCOMING, queue_id, writable=True) as message:
        queue.mark_done(message, [0, 2])
        queue.mark_done(message, [2])  # idempotent
        assert [r.done for r in message.envelope.recipients] == [True, False, True]
    with queue.open(Queue.INCOMING, queue_id) as message:
        assert [r.done for r in message.envelope.recipients] == [True, False, True]
        assert message.read_content() == CONTENT
    with queue.open(Queue.INCOMING, queue_id) as message, pytest.raises(OSError):
        queue.mark_done(message, [1])  # opened read-only


def test_remove_deletes_the_message_and_its_logs(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    queue.write_log(LogKind.DEFER, queue_id, StatusLog(()))
    queue.write_log(LogKind.BOUNCE, queue_id, StatusLog(()))
    queue.remove(Queue.INCOMING, queue_id)
    assert all(names(queue, d) == [] for d in ("incoming", "defer", "bounce"))
    with pytest.raises(MessageNotFound):
        queue.remove(Queue.INCOMING, queue_id)
    with pytest.raises(MessageNotFound):
        queue.locate(queue_id)


def test_remove_with_the_wrong_queue_leaves_the_message_and_its_logs_alone(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    queue.write_log(LogKind.DEFER, queue_id, StatusLog(()))
    with pytest.raises(MessageNotFound):
        queue.remove(Queue.DEFERRED, queue_id)
    assert names(queue, "incoming") == [queue_id] and names(queue, "defer") == [queue_id]


def test_deferring_a_message_deleted_meanwhile_leaves_no_orphan_log(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    queue.move(Queue.INCOMING, queue_id, Queue.ACTIVE, durable=False)
    queue.remove(Queue.ACTIVE, queue_id)  # postsuper -d during the delivery
    with pytest.raises(MessageNotFound):
        queue.defer(Queue.ACTIVE, queue_id, StatusLog(()), time.time() + 300)
    assert names(queue, "defer") == []


def test_requeue_makes_the_mtime_now_as_postfix_does(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    queue.defer(Queue.INCOMING, queue_id, StatusLog(()), time.time() + 3600)
    queue.requeue(Queue.DEFERRED, queue_id)
    assert queue.stat(Queue.MAILDROP, queue_id).mtime == pytest.approx(time.time(), abs=5)


def test_hold_and_release(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    queue.hold(Queue.INCOMING, queue_id)
    assert queue.locate(queue_id) is Queue.HOLD
    os.utime(queue.path(Queue.HOLD, queue_id), (0, 0))
    queue.release(queue_id)
    assert queue.stat(Queue.DEFERRED, queue_id).mtime == pytest.approx(time.time(), abs=5)
    queue.requeue(Queue.DEFERRED, queue_id)
    assert queue.locate(queue_id) is Queue.MAILDROP


def test_expire_marks_the_file_as_postsuper_e_does(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    assert not queue.stat(Queue.INCOMING, queue_id).expired
    queue.expire(Queue.INCOMING, queue_id)
    [info] = queue.scan(Queue.INCOMING)
    assert info.expired and info.queue_id == queue_id


@pytest.mark.parametrize("bad", ["../x", "../../etc/passwd", "", "a/b", "ABCDEF/", "."])
def test_ids_with_path_characters_are_refused_everywhere(queue, bad):
    calls = [
        lambda: queue.open(Queue.INCOMING, bad),
        lambda: queue.remove(Queue.INCOMING, bad),
        lambda: queue.move(Queue.INCOMING, bad, Queue.HOLD),
        lambda: queue.locate(bad),
        lambda: queue.read_log(LogKind.DEFER, bad),
        lambda: queue.release(bad),
        lambda: queue.expire(Queue.HOLD, bad),
    ]
    for call in calls:
        with pytest.raises(InvalidQueueId):
            call()


def test_a_damaged_file_is_refused_and_can_be_moved_aside(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    path = queue.path(Queue.INCOMING, queue_id)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(QueueFileError):
        queue.open(Queue.INCOMING, queue_id)
    queue.quarantine(Queue.INCOMING, queue_id)
    assert names(queue, "corrupt") == [queue_id] and names(queue, "incoming") == []


def test_damaged_content_is_found_when_it_is_streamed(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    path = queue.path(Queue.INCOMING, queue_id)
    data = bytearray(path.read_bytes())
    data[record.CONTENT_OFFSET + 3] ^= 0x20
    path.write_bytes(bytes(data))
    with queue.open(Queue.INCOMING, queue_id) as message:
        assert message.envelope == ENVELOPE  # the envelope is intact and readable
        with pytest.raises(record.CorruptQueueFile, match="content checksum"):
            message.read_content()


def test_symlinks_fifos_and_hard_links_in_maildrop_are_refused(queue, tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(record.encode(ENVELOPE, CONTENT))
    os.symlink(secret, queue.path(Queue.MAILDROP, "ABCDE1"))
    os.mkfifo(queue.path(Queue.MAILDROP, "ABCDE2"))
    os.link(secret, queue.path(Queue.MAILDROP, "ABCDE3"))
    for queue_id in ("ABCDE1", "ABCDE2", "ABCDE3"):
        with pytest.raises(QueueFileError):
            queue.open(Queue.MAILDROP, queue_id)


def test_listing_skips_temporary_and_stray_names(queue):
    queue_id = queue.enqueue(ENVELOPE, CONTENT)
    (queue.directory / "incoming" / ".tmp.1.x").write_bytes(b"")
    (queue.directory / "incoming" / "README").write_bytes(b"")
    assert list(queue.ids(Queue.INCOMING)) == [queue_id]


def test_recover_removes_what_crashed_writers_left(queue):
    live = queue.enqueue(ENVELOPE, CONTENT)
    queue.write_log(LogKind.DEFER, live, StatusLog(()))
    (queue.directory / "tmp" / ".tmp.99.abc").write_bytes(b"MRQF")
    old = queue.directory / "maildrop" / ".tmp.98.old"
    old.write_bytes(b"")
    os.utime(old, (0, 0))
    (queue.directory / "maildrop" / ".tmp.97.new").write_bytes(b"")  # sendmail writing now
    (queue.directory / "defer" / "ABCDEF12").write_bytes(b"")  # its message is gone
    (queue.directory / "defer" / f".{live}.x.tmp").write_bytes(b"")
    report = queue.recover()
    assert report == store.RecoveryReport(temporary_files=3, orphan_logs=1)
    assert names(queue, "tmp") == [] and names(queue, "defer") == [live]
    assert names(queue, "maildrop") == [".tmp.97.new"]


def test_directories_get_the_modes_of_the_permission_model_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        s = QueueStore(tmp_path / "q")
        s.create_directories()
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in s.directory.iterdir()}
    assert modes.pop("maildrop") == 0o3733
    assert set(modes.values()) == {0o700}
    assert stat.S_IMODE(s.directory.stat().st_mode) == 0o755


def test_a_maildrop_submission_is_readable_by_the_mail_system_group_only(queue):
    old = os.umask(0o077)
    try:
        queue_id = queue.submit_maildrop(ENVELOPE, [CONTENT[:5], CONTENT[5:]])
    finally:
        os.umask(old)
    assert stat.S_IMODE(queue.path(Queue.MAILDROP, queue_id).stat().st_mode) == 0o640
    with queue.open(Queue.MAILDROP, queue_id) as message:
        assert message.read_content() == CONTENT
        assert message.stat.st_uid == os.getuid()


def test_a_submitter_that_cannot_open_maildrop_falls_back_to_sync(queue, monkeypatch):
    calls = []

    def refuse(path):
        raise PermissionError(path)

    monkeypatch.setattr(store, "fsync_directory", refuse)
    monkeypatch.setattr(os, "sync", lambda: calls.append("sync"))
    queue.submit_maildrop(ENVELOPE, [CONTENT])
    assert calls == ["sync"]


def python_for_nobody() -> str:
    """An interpreter that user nobody may run (ours may live under /root)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; assert sys.version_info >= (3, 11)"],
                user="nobody",
                capture_output=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return candidate
    pytest.skip("no Python 3.11 that user nobody can run")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a submission as nobody")
def test_an_unprivileged_user_can_submit_but_not_list_maildrop():
    top = Path(tempfile.mkdtemp(prefix="mailrelay-queue-"))
    try:
        os.chmod(top, 0o755)
        s = QueueStore(top / "spool")
        s.create_directories()
        script = (
            "import sys, os\n"
            "from mailrelay.queue.store import QueueStore\n"
            "from mailrelay.queue.record import Envelope, Recipient\n"
            "s = QueueStore(sys.argv[1])\n"
            "print(s.submit_maildrop(Envelope('u', (Recipient('r@x'),), 0.0), [b'hi\\r\\n']))\n"
            "try:\n    os.listdir(sys.argv[1] + '/maildrop')\nexcept PermissionError:\n"
            "    print('cannot list')\n"
        )
        src = str(Path(store.__file__).parents[2])  # the directory holding mailrelay/
        done = subprocess.run(
            [python_for_nobody(), "-c", script, str(s.directory)],
            user="nobody",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": src},
        )
        assert done.returncode == 0, done.stderr
        queue_id, listing = done.stdout.split()[0], done.stdout.split("\n")[1]
        assert listing == "cannot list"
        with s.open(Queue.MAILDROP, queue_id) as message:
            assert message.read_content() == b"hi\r\n"
            assert message.stat.st_uid != 0
    finally:
        shutil.rmtree(top)


def test_a_held_commit_goes_straight_into_hold(queue):
    with queue.begin() as draft:
        draft.write(CONTENT)
        queue_id = queue.commit(draft, ENVELOPE, hold=True)
    assert names(queue, "hold") == [queue_id] and names(queue, "incoming") == []


@pytest.mark.parametrize("parallel", [False, True])
def test_commit_many_keeps_each_outcome_and_removes_a_refused_draft(queue, parallel):
    """A batch committed at once: the envelope the trailer refuses fails its message alone
    (its temporary file removed), the others land, outcomes in batch order."""
    good = Envelope(sender="a@example.com", recipients=(Recipient("b@example.org"),),
                    arrival_time=1_700_000_000.0)
    bad = dataclasses.replace(good, dsn_ret="SOMETIMES")
    drafts = [queue.begin() for _ in range(4)]
    for n, draft in enumerate(drafts):
        draft.write(f"Subject: {n}\r\n\r\nbody\r\n".encode())
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        errors = queue.commit_many([(d, bad if n == 2 else good, n == 3)
                                    for n, d in enumerate(drafts)], pool if parallel else None)
    assert [type(e) for e in errors] == [type(None), type(None), ValueError, type(None)]
    assert sorted(names(queue, "incoming")) == sorted(d.queue_id for d in drafts[:2])
    assert names(queue, "hold") == [drafts[3].queue_id]
    assert names(queue, store.TEMP) == []


def test_commit_many_seals_a_batch_in_parallel_with_an_executor(queue, monkeypatch):
    """Each fdatasync waits for the device; with an executor the batch waits about once."""
    threads: set[str] = set()
    real = os.fdatasync

    def slow(fd: int) -> None:
        threads.add(threading.current_thread().name)
        time.sleep(0.1)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", slow)
    env = Envelope(sender="a@example.com", recipients=(Recipient("b@example.org"),),
                   arrival_time=1_700_000_000.0)
    drafts = [queue.begin() for _ in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        started = time.monotonic()
        errors = queue.commit_many([(d, env, False) for d in drafts], pool)
        took = time.monotonic() - started
    assert errors == [None] * 6
    assert len(threads) > 1 and took < 0.4, (threads, took)
    assert sorted(names(queue, "incoming")) == sorted(d.queue_id for d in drafts)
