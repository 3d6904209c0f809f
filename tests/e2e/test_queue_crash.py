"""Crash test of the queue store: kill -9 a writer at random moments, then audit the queue.

A writer process commits messages in a loop (some in one piece, some streamed in chunks) and
prints each queue ID with the SHA-256 of its content only after the commit has returned, which is
when smtpd would say 250.  The test kills it with SIGKILL at random moments, several times,
then checks that every printed message is in incoming/ and intact, that every file in incoming/
is a complete message (a half-written one is never visible), and that recover() clears what
the killed writers left in tmp/.  kill -9 loses the process, not the page cache: power loss is
covered by the fsync argument in store.py, not by this test.
"""

import hashlib
import os
import random
import signal
import subprocess
import sys
import time

from mailrelay.queue import record
from mailrelay.queue.store import Queue, QueueStore

WRITER = r"""
import hashlib, random, sys
from mailrelay.queue.record import Envelope, Recipient
from mailrelay.queue.store import QueueStore

store = QueueStore(sys.argv[1])
rnd = random.Random(int(sys.argv[2]))
envelope = Envelope("crash@example.com", (Recipient("r@example.net"),), 1_700_000_000.0)
print("ready", flush=True)
while True:
    content = rnd.randbytes(rnd.choice([200, 1024, 30_000, 102_400, 1_500_000]))
    if rnd.random() < 0.5:
        queue_id = store.enqueue(envelope, content)
    else:
        with store.begin() as draft:
            for start in range(0, len(content), 4096):
                draft.write(content[start : start + 4096])
            queue_id = store.commit(draft, envelope)
    print(queue_id, hashlib.sha256(content).hexdigest(), flush=True)
"""


def test_killed_writers_never_lose_a_committed_message_nor_show_a_partial_one(tmp_path):
    queue = QueueStore(tmp_path / "spool")
    queue.create_directories()
    committed: dict[str, str] = {}
    deadline = time.monotonic() + 8
    for seed in range(8):
        if time.monotonic() > deadline:
            break
        committed.update(kill_one(queue, seed, committed))

    assert committed, "the writer never committed anything"
    in_incoming = set(queue.ids(Queue.INCOMING))
    assert set(committed) <= in_incoming
    for queue_id in in_incoming:  # every visible file is complete, printed or not
        with queue.open(Queue.INCOMING, queue_id) as message:
            content = message.read_content()
        if queue_id in committed:
            assert hashlib.sha256(content).hexdigest() == committed[queue_id]
    assert len(in_incoming) - len(committed) <= 8  # at most one unprinted commit per kill

    leftovers = len(os.listdir(queue.directory / "tmp"))  # drafts the kills interrupted
    assert queue.recover().temporary_files == leftovers
    assert os.listdir(queue.directory / "tmp") == []
    assert set(queue.ids(Queue.INCOMING)) == in_incoming


def kill_one(queue: QueueStore, seed: int, seen: dict[str, str]) -> dict[str, str]:
    rnd = random.Random(seed)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(queue.directory), str(seed)],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    lines = [proc.stdout.readline() for _ in range(rnd.randrange(0, 12))]
    time.sleep(rnd.uniform(0, 0.02))  # land anywhere inside the next commit
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    lines += proc.stdout.read().splitlines(keepends=True)
    proc.stdout.close()
    committed = {}
    for line in lines:
        if line.endswith(b"\n"):  # a line cut by the kill was not fully reported: ignore it
            queue_id, digest = line.decode().split()
            assert queue_id not in seen and queue_id not in committed, "queue ID reused"
            committed[queue_id] = digest
    return committed


def test_a_file_cut_short_by_hand_is_refused_not_delivered(tmp_path):
    queue = QueueStore(tmp_path)
    queue.create_directories()
    envelope = record.Envelope("a@b", (record.Recipient("c@d"),), 0.0)
    queue_id = queue.enqueue(envelope, b"x" * 1000)
    path = queue.path(Queue.INCOMING, queue_id)
    data = path.read_bytes()
    for cut in (0, 5, 13, 500, len(data) - 1):
        path.write_bytes(data[:cut])
        try:
            queue.open(Queue.INCOMING, queue_id).close()
        except record.TruncatedQueueFile:
            continue
        raise AssertionError(f"a file cut at {cut} bytes was accepted")
