"""``mailrelay mailq``, ``postqueue``, ``postsuper`` and ``postcat`` as subprocesses.

Most tests build the queue with QueueStore, as the daemon would have left it, and run the
commands with no daemon (they must work while it is down).  Where Postfix 3.7 was asked the
same thing (tests/golden/queue_commands/, see the README there), the output is compared with
its output line for line, queue IDs mapped and ``mailrelay/`` taken off the program names.
The last tests run the real ``mailrelay serve`` with a smarthost that answers 4xx, so that mail
is deferred for real, and flush, hold, release, requeue and delete it while it runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import smtplib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailrelay.queue.record import Client, Envelope, Notify, Recipient
from mailrelay.queue.showq import ShowqEntry, ShowqRecipient, compat_listing
from mailrelay.queue.statuslog import RecipientStatus, StatusLog
from mailrelay.queue.store import LogKind, Queue, QueueStore
from tests.e2e.daemon import MAILRELAY, Daemon, free_ports
from tests.e2e.smarthost import SmartHost

GOLDEN = Path(__file__).parents[1] / "golden" / "queue_commands"
GREYLISTED = "450 4.2.0 Greylisted, come back"

pytestmark = pytest.mark.usefixtures("utc")  # tests/conftest.py; the children get TZ too


# ---------------------------------------------------------------- helpers


@pytest.fixture
def relay(tmp_path: Path) -> tuple[Path, QueueStore]:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "main.cf").write_text(f"queue_directory = {tmp_path / 'spool'}\n")
    store = QueueStore(tmp_path / "spool")
    store.create_directories()
    return etc, store


def command(etc: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILRELAY_CONFIG_DIR"}
    env["TZ"] = "UTC"
    return subprocess.run([MAILRELAY, "-c", str(etc), *args], input=stdin, text=True,
                          errors="surrogateescape",
                          capture_output=True, timeout=60, env=env, check=False)


def message(store: QueueStore, sender: str, recipients: list[str], *,
            content: bytes = b"Subject: test\r\n\r\nbody\r\n") -> str:
    env = Envelope(sender, tuple(Recipient(r) for r in recipients), 1_795_565_837.0)
    return store.enqueue(env, content)


def deferred(store: QueueStore, sender: str, recipients: list[str], reason: str = "", *,
             content: bytes = b"Subject: test\r\n\r\nbody\r\n") -> str:
    queue_id = message(store, sender, recipients, content=content)
    entries = tuple(RecipientStatus(i, r, "4.2.0", "delayed", reason)
                    for i, r in enumerate(recipients)) if reason else ()
    store.defer(Queue.INCOMING, queue_id, StatusLog(entries), time.time() + 3600)
    return queue_id


def json_entries(text: str) -> list[ShowqEntry]:
    entries = []
    for line in text.splitlines():
        obj = json.loads(line)
        entries.append(ShowqEntry(
            obj["queue_name"], obj["queue_id"], obj["arrival_time"], obj["message_size"],
            obj["forced_expire"], obj["sender"],
            tuple(ShowqRecipient(r["address"], r.get("delay_reason", ""))
                  for r in obj["recipients"])))
    return entries


def transcript(name: str) -> Iterator[tuple[str, str, int]]:
    """(command line, output, exit status) of each step of a captured Postfix session."""
    text = (GOLDEN / name).read_text()
    for block in re.finditer(r"^\$ (.*)\n((?:(?!\[exit).*\n)*)\[exit (\d+)\]\n", text, re.M):
        yield block[1], block[2], int(block[3])


def postfix_names(text: str, ids: dict[str, str]) -> str:
    """Our output in Postfix's words: program names without ``mailrelay/``, Postfix's IDs."""
    text = re.sub(r"^mailrelay/(\w+):", r"\1:", text, flags=re.M)
    for ours, theirs in ids.items():
        text = text.replace(ours, theirs)
    return text


# ---------------------------------------------------------------- listing


def test_mailq_and_postqueue_list_every_queue_in_showqs_order_and_format(
        relay: tuple[Path, QueueStore]) -> None:
    etc, store = relay
    held = message(store, "alice@corp.local", ["h@example.com"], content=b"x" * 3000)
    store.hold(Queue.INCOMING, held)
    store.expire(Queue.HOLD, held)
    late = deferred(store, "", ["a@example.com", "b@example.com", "c@example.com"])
    store.write_log(LogKind.DEFER, late, StatusLog((
        RecipientStatus(2, "c@example.com", "4.4.1", "delayed", "connect to mx: refused"),
        RecipientStatus(0, "a@example.com", "4.2.0", "delayed", "host mx said: 450 later"))))
    busy = message(store, "bob@corp.local", ["x@example.org"])
    store.move(Queue.INCOMING, busy, Queue.ACTIVE)
    new = message(store, "john doe@corp.local", ["y@example.org"])
    dropped = store.submit_maildrop(Envelope("root", (Recipient("z@example.net"),), 1.0),
                                    [b"Subject: hi\r\n\r\n"])

    listing = command(etc, "postqueue", "-j")
    assert (listing.returncode, listing.stderr) == (0, "")
    entries = json_entries(listing.stdout)
    assert [(e.queue_name, e.queue_id) for e in entries] == [
        ("maildrop", dropped), ("active", busy), ("incoming", new), ("deferred", late),
        ("hold", held)]
    by_queue = {e.queue_name: e for e in entries}
    assert by_queue["hold"].forced_expire and by_queue["hold"].message_size == 3000
    assert by_queue["incoming"].sender == '"john doe"@corp.local'
    assert by_queue["deferred"].sender == "MAILER-DAEMON"
    assert by_queue["deferred"].recipients == (
        ShowqRecipient("c@example.com", "connect to mx: refused"),
        ShowqRecipient("a@example.com", "host mx said: 450 later"),
        ShowqRecipient("b@example.com"))
    assert [e.arrival_time for e in entries] == [1, *[1_795_565_837] * 4]

    text = command(etc, "mailq")
    assert (text.returncode, text.stderr) == (0, "")
    assert text.stdout == "".join(compat_listing(entries))
    assert command(etc, "postqueue", "-p").stdout == text.stdout
    lines = text.stdout.splitlines()
    assert lines[0] == "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------"
    assert f"{held}!#" in text.stdout and f"{busy}*" in text.stdout
    assert " " * 54 + "(connect to mx: refused)" in lines  # ends in column 78
    assert " " * 58 + "(reason unavailable)" in lines
    assert lines[-1] == "-- 3 Kbytes in 5 Requests."


def test_an_empty_queue_is_listed_as_postfix_lists_it(relay: tuple[Path, QueueStore]) -> None:
    etc, _ = relay
    for args, output in ((("mailq",), "Mail queue is empty\n"), (("postqueue", "-j"), "")):
        result = command(etc, *args)
        assert (result.returncode, result.stdout, result.stderr) == (0, output, "")


def test_long_queue_ids_get_postfixs_wider_columns(relay: tuple[Path, QueueStore]) -> None:
    etc, _ = relay
    with (etc / "main.cf").open("a") as f:
        f.write("enable_long_queue_ids = yes\n")
    store = QueueStore(etc.parent / "spool", long_ids=True)
    queue_id = message(store, "a@corp.local", ["b@example.com"])
    lines = command(etc, "mailq").stdout.splitlines()
    assert lines[:3] == [
        "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------",
        f"{queue_id:<17}       23 Wed Nov 25 00:17:17 a@corp.local",  # 23 bytes of content
        " " * 47 + "b@example.com"]


def test_postqueue_refuses_what_postfix_refuses_with_its_messages_and_status(
        relay: tuple[Path, QueueStore]) -> None:
    etc, _ = relay
    compared = 0
    for line, output, status in transcript("postqueue-session.ref"):
        args = shlex.split(line)
        if args[1:] in (["-f"], ["-i", "NOSUCH1"], ["-s", "example.com"]):
            continue  # these need a running mail system (and -s differs on purpose)
        result = command(etc, *args)
        # Postfix warns that its showq service is down; mailrelay has none to miss.
        expected = re.sub(r".*Mail system is down -- accessing queue directly.*\n", "", output)
        assert postfix_names(result.stderr + result.stdout, {}) == expected, line
        assert result.returncode == status, line
        compared += 1
    assert compared >= 11  # both halves of the capture, with and without Postfix running


def test_flushing_while_the_mail_system_is_down_fails_as_postfix_does(
        relay: tuple[Path, QueueStore]) -> None:
    etc, _ = relay
    for args in (["-f"], ["-i", "3F2A1C0DE5"], ["-s", "example.com"]):
        result = command(etc, "postqueue", *args)
        assert result.returncode == 69
        assert result.stderr == (
            "mailrelay/postqueue: warning: unable to look up private/qmgr: No such file or "
            "directory\nmailrelay/postqueue: fatal: Cannot flush mail queue - mail system is "
            "down\n")
    result = command(etc, "mailq", "bob@example.com")
    assert (result.returncode, result.stderr) == (
        75, "mailrelay/mailq: fatal: display queue mode requires no recipient\n")


# ---------------------------------------------------------------- postsuper


def test_postsuper_says_what_postfixs_said_in_the_same_session(
        relay: tuple[Path, QueueStore]) -> None:
    """tests/golden/queue_commands/postsuper-session.ref, replayed on the same queue."""
    etc, store = relay
    ids = {deferred(store, "frank@corp.local", ["first@example.com"]): "639AA210107",
           deferred(store, "", ["only@example.com"]): "6415A210108",
           deferred(store, "john@corp.local", ["a@example.com"]): "4jZ0cn4vQjzJHSr"}
    theirs = {v: k for k, v in ids.items()}
    for line, output, status in transcript("postsuper-session.ref"):
        stdin = ""
        piped = re.fullmatch(r'printf "(.*)" \| (.*)', line)
        if piped:
            stdin, line = piped[1].replace("\\n", "\n"), piped[2]
            for ours, their in ids.items():
                stdin = stdin.replace(their, ours)
        args = [theirs.get(a, a) for a in shlex.split(line)]
        result = command(etc, *args, stdin=stdin)
        assert postfix_names(result.stderr, ids) == output, line
        assert result.returncode == status, line
    assert {q: list(store.ids(q)) for q in Queue} == {q: [] for q in Queue}


def test_postsuper_moves_each_message_where_postfixs_would(
        relay: tuple[Path, QueueStore]) -> None:
    etc, store = relay
    a = deferred(store, "a@corp.local", ["x@example.com"], "later")
    b = deferred(store, "b@corp.local", ["y@example.com"], "later")
    c = message(store, "c@corp.local", ["z@example.com"])
    assert command(etc, "postsuper", "-h", "ALL").returncode == 0
    assert sorted(store.ids(Queue.HOLD)) == sorted([a, b, c])
    assert command(etc, "postsuper", "-H", a, "-e", b).returncode == 0
    assert store.locate(a) is Queue.DEFERRED and store.stat(Queue.DEFERRED, a).mtime <= time.time()
    assert store.stat(Queue.HOLD, b).expired
    assert store.read_log(LogKind.DEFER, a) is not None  # hold and release keep the reasons
    result = command(etc, "postsuper", "-r", c, "-d", a, "-f", b)
    assert result.stderr.splitlines() == [
        f"mailrelay/postsuper: {c}: requeued", f"mailrelay/postsuper: {a}: removed",
        f"mailrelay/postsuper: {b}: released from hold",
        "mailrelay/postsuper: Requeued: 1 message", "mailrelay/postsuper: Deleted: 1 message",
        "mailrelay/postsuper: Force-expired: 0 messages",
        "mailrelay/postsuper: Released from hold: 1 message"]
    assert list(store.ids(Queue.MAILDROP)) == [c]
    assert list(store.ids(Queue.DEFERRED)) == [b] and store.stat(Queue.DEFERRED, b).expired
    assert store.read_log(LogKind.DEFER, a) is None  # deleted with its message
    # Only the queues named are searched; maildrop mail is never held.
    assert "Placed on hold: 0 messages" in command(etc, "postsuper", "-h", b, "hold").stderr
    assert "Placed on hold: 0 messages" in command(etc, "postsuper", "-h", c).stderr
    assert command(etc, "postsuper", "-d", "ALL", "deferred").stderr.endswith(
        "Deleted: 1 message\n")
    assert list(store.ids(Queue.MAILDROP)) == [c]


def test_ids_with_path_characters_touch_nothing(relay: tuple[Path, QueueStore]) -> None:
    etc, store = relay
    keep = deferred(store, "a@corp.local", ["x@example.com"], "later")
    outside = relay[0].parent / "x"
    outside.write_text("not mail")
    for bad in ("../x", f"../deferred/{keep}", "/etc/passwd", f"{keep}/", ".", ""):
        result = command(etc, "postsuper", "-d", bad, "-h", bad, "-r", bad)
        assert result.returncode == 0
        assert f"mailrelay/postsuper: warning: invalid mail queue id: {bad}" in result.stderr
        assert "Deleted: 0 messages" in result.stderr
        result = command(etc, "postcat", "-q", bad)
        assert (result.returncode, result.stderr) == (
            1, f"mailrelay/postcat: fatal: bad mail queue ID: {bad}\n")
        result = command(etc, "postqueue", "-i", bad)
        assert result.returncode == 69 and "invalid name" in result.stderr
    assert list(store.ids(Queue.DEFERRED)) == [keep] and outside.read_text() == "not mail"


# ---------------------------------------------------------------- damaged files


def test_damaged_files_are_reported_left_alone_and_moved_aside_only_by_postsuper_s(
        relay: tuple[Path, QueueStore]) -> None:
    etc, store = relay
    good = deferred(store, "a@corp.local", ["good@example.com"], "later")
    envelope_hit = deferred(store, "b@corp.local", ["bent@example.com"], "later")
    content_hit = deferred(store, "c@corp.local", ["other@example.com"], "later",
                           content=b"Subject: x\r\n\r\nline one\r\nline two\r\n")
    cut = message(store, "d@corp.local", ["cut@example.com"])
    store.hold(Queue.INCOMING, cut)
    junk = message(store, "e@corp.local", ["junk@example.com"])
    damage(store.path(Queue.DEFERRED, envelope_hit), b"bent@", b"bant@")
    damage(store.path(Queue.DEFERRED, content_hit), b"line two", b"line tw0")
    cut_path = store.path(Queue.HOLD, cut)
    cut_path.write_bytes(cut_path.read_bytes()[:-9])
    store.path(Queue.INCOMING, junk).write_bytes(b"From: someone\n\nnot a queue file\n")
    before = snapshot(store)

    listing = command(etc, "postqueue", "-j")
    assert listing.returncode == 0
    assert {e.queue_id for e in json_entries(listing.stdout)} == {good, content_hit}
    for name in (f"deferred/{envelope_hit}", f"hold/{cut}", f"incoming/{junk}"):
        assert f"mailrelay/postqueue: warning: {name}: unreadable queue file: " in listing.stderr
    shown = command(etc, "postcat", "-q", content_hit)
    assert shown.returncode == 1 and "line one\n" in shown.stdout
    assert shown.stderr.startswith(f"mailrelay/postcat: fatal: deferred/{content_hit}: "
                                   "damaged queue file: content checksum mismatch")
    assert command(etc, "postcat", "-q", cut).returncode == 1
    shown = command(etc, "postcat", "-q", junk)
    assert (shown.returncode, shown.stdout, shown.stderr) == (
        0, "", f"mailrelay/postcat: warning: incoming/{junk}: input is not a valid queue file\n")
    assert snapshot(store) == before  # reading never changes the queue

    checked = command(etc, "postsuper", "-s")
    assert checked.returncode == 0
    for queue, queue_id in (("deferred", envelope_hit), ("deferred", content_hit),
                            ("hold", cut), ("incoming", junk)):
        assert (f'mailrelay/postsuper: warning: saving corrupt file "{queue_id}" from queue '
                f'"{queue}" to queue "corrupt"') in checked.stderr
    assert sorted(store.ids(Queue.CORRUPT)) == sorted([envelope_hit, content_hit, cut, junk])
    assert {f"corrupt/{i}": before[f"{q}/{i}"] for q, i in (
        ("deferred", envelope_hit), ("deferred", content_hit), ("hold", cut),
        ("incoming", junk))} == {k: v for k, v in snapshot(store).items() if "corrupt" in k}
    assert [e.queue_id for e in json_entries(command(etc, "postqueue", "-j").stdout)] == [good]


def damage(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) == 1
    path.write_bytes(data.replace(old, new))


def snapshot(store: QueueStore) -> dict[str, bytes]:
    return {f"{q.value}/{p.name}": p.read_bytes() for q in Queue
            for p in (store.directory / q.value).iterdir()}


# ---------------------------------------------------------------- postcat


def test_postcat_prints_a_message_as_postfixs_postcat_did(relay: tuple[Path, QueueStore]) -> None:
    """The DSN message of the capture, rebuilt in mailrelay's format: the content sections are
    Postfix's byte for byte; the envelope uses Postfix's labels in Postfix's order."""
    etc, store = relay
    golden = (GOLDEN / "postcat-dsn.ref").read_text()
    their_id = re.search(r"ENVELOPE RECORDS deferred/\w/(\w+) ", golden)[1]  # type: ignore[index]
    port = re.search(r"client_port=(\d+)", golden)[1]  # type: ignore[index]
    content = (GOLDEN / "postcat-dsn-bh.ref").read_bytes().replace(b"\n", b"\r\n")
    env = Envelope(
        "erin@srv1.corp.local",
        (Recipient("ok2@example.com", "rfc822;Ok2@Example.com", Notify.SUCCESS | Notify.FAILURE,
                   done=True),
         Recipient("short@example.com", "rfc822;short@example.com", Notify.NEVER),
         Recipient("defer@example.com", "rfc822;defer@example.com")),
        1_795_565_837.0, Client("localhost", "127.0.0.1", port, "client.example", "ESMTP"),
        dsn_ret="HDRS", dsn_envid="env-42", body_type="8BITMIME",
        attributes=(("rewrite_context", "local"),))
    queue_id = store.enqueue(env, content)
    store.defer(Queue.INCOMING, queue_id, StatusLog(()), time.time() + 60)
    store.mark_done(store.open(Queue.DEFERRED, queue_id, writable=True), [0])

    for option in ("-h", "-b", "-bh"):
        shown = command(etc, "postcat", option, "-q", queue_id)
        assert shown.stdout == (GOLDEN / f"postcat-dsn{option}.ref").read_text(), option
    shown = command(etc, "postcat", "-q", queue_id)
    assert shown.returncode == 0
    ours = shown.stdout.replace(f"deferred/{queue_id}", f"deferred/{their_id[0]}/{their_id}")
    ours_lines, their_lines = ours.splitlines(), golden.splitlines()
    assert ours_lines[1] == "message_size: " + " ".join(
        f"{n:>15}" for n in (len(content), 13, 3, 0, len(content), 0))
    assert is_subsequence(ours_lines[2:], their_lines)  # nothing invented, nothing reordered
    assert section(ours_lines, "MESSAGE CONTENTS") == section(their_lines, "MESSAGE CONTENTS")
    assert ours.count("\n") >= 30 and "create_time" not in ours
    assert command(etc, "postcat", "-e", "-q", queue_id).stdout.splitlines() == [
        line for line in shown.stdout.splitlines()
        if line.startswith(("*** ", "message_", "named_attribute", "sender", "original_",
                            "recipient", "done_"))]


def section(lines: list[str], name: str) -> list[str]:
    """The lines from ``*** NAME ...`` to the next ``***`` line, both included."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"*** {name} "))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("*** "))
    return lines[start:end + 1]


def is_subsequence(part: list[str], whole: list[str]) -> bool:
    rest = iter(whole)
    return all(any(line == other for other in rest) for line in part)


def test_postcat_reads_named_files_and_stdin_and_refuses_postfix_only_options(
        relay: tuple[Path, QueueStore]) -> None:
    etc, store = relay
    queue_id = message(store, "", ["a@example.com"], content=b"Subject: s\r\n\r\n\xffbody\r\n")
    path = store.path(Queue.INCOMING, queue_id)
    by_name = command(etc, "postcat", str(path))
    assert by_name.returncode == 0
    assert by_name.stdout.startswith(f"*** ENVELOPE RECORDS {path} ***\n")
    assert "sender: \n" in by_name.stdout and "recipient: a@example.com\n" in by_name.stdout
    raw = subprocess.run([MAILRELAY, "-c", str(etc), "postcat", "-b"], input=path.read_bytes(),
                         capture_output=True, timeout=60, check=False)
    assert raw.stdout == b"\n\xffbody\n"  # the content's bytes as they are, LF line ends
    for option in ("-d", "-o", "-s0"):
        refused = command(etc, "postcat", option, "-q", queue_id)
        assert refused.returncode == 1 and "is not supported" in refused.stderr
    missing = command(etc, "postcat", "-q", "3F2A1C0DE5")
    assert (missing.returncode, missing.stderr) == (
        1, "mailrelay/postcat: fatal: open queue file 3F2A1C0DE5: No such file or directory\n")


# ---------------------------------------------------------------- with the daemon

QUIET_RETRIES = """\
queue_run_delay = 3600s
minimal_backoff_time = 3600s
maximal_backoff_time = 3600s
"""


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Daemon, SmartHost]]:
    ports = free_ports(2)
    # Each "laterN@" recipient is refused once: its first attempt defers, the next one delivers.
    once = [{"stage": "rcpt", "match": f"<later{n}@", "reply": GREYLISTED, "times": 1}
            for n in ("", 1, 2, 3, 4)]
    host = SmartHost(tmp_path, ports[1], rules=[
        *once, {"stage": "rcpt", "match": "<slow@", "reply": "SILENT"}]).start()
    daemon = Daemon(tmp_path, f"relayhost = [127.0.0.1]:{ports[1]}\n" + QUIET_RETRIES
                    + "smtp_rcpt_timeout = 3s\n",
                    f"127.0.0.1:{ports[0]} inet n - n - - smtpd\n", ports[:1], workers=1,
                    deliver=True)
    try:
        yield daemon.start(), host
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()
        host.stop()


def send(daemon: Daemon, recipient: str) -> str:
    with smtplib.SMTP("127.0.0.1", daemon.ports[0], timeout=10) as client:
        client.sendmail("alice@corp.local", [recipient], "Subject: t\r\n\r\nhi\r\n")
    line = daemon.wait_for_log(rf"to=<{re.escape(recipient)}>.*status=deferred")[-1]
    return line.split(": ")[1]


def wait_until(predicate: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_deferred_mail_is_listed_held_released_and_flushed_by_id(
        live: tuple[Daemon, SmartHost]) -> None:
    daemon, host = live
    etc = daemon.etc
    queue_id = send(daemon, "later@example.com")
    listing = command(etc, "mailq").stdout
    assert re.search(rf"^{queue_id} +\d+ \w{{3}} \w{{3}} [ \d]\d \d\d:\d\d:\d\d  "
                     r"alice@corp\.local$", listing, re.M), listing
    assert f"{GREYLISTED} (in reply to RCPT TO command))\n" in listing
    assert listing.endswith("\n                                         later@example.com\n\n"
                            "-- 0 Kbytes in 1 Request.\n")
    assert "Placed on hold: 1 message" in command(etc, "postsuper", "-h", queue_id).stderr
    assert f"\n{queue_id}!" in command(etc, "mailq").stdout
    assert command(etc, "postqueue", "-i", queue_id).returncode == 0
    time.sleep(1)
    assert daemon.queued() == {"hold": [queue_id]}  # held mail is not flushed
    assert "Released from hold: 1 message" in command(etc, "postsuper", "-H", queue_id).stderr
    assert command(etc, "postqueue", "-i", queue_id).returncode == 0
    host.wait_for(1)
    daemon.wait_for_log(rf"{queue_id}: removed")
    assert command(etc, "mailq").stdout == "Mail queue is empty\n"


def test_flush_by_site_then_everything_and_requeue_through_pickup(
        live: tuple[Daemon, SmartHost]) -> None:
    daemon, host = live
    etc = daemon.etc
    com = send(daemon, "later1@example.com")
    org = send(daemon, "later2@example.org")
    again = send(daemon, "later3@example.net")
    assert command(etc, "postqueue", "-s", "example.org").returncode == 0
    daemon.wait_for_log(rf"{org}: removed")
    assert sorted(daemon.queued()["deferred"]) == sorted([com, again])
    assert command(etc, "postqueue", "-f").returncode == 0
    daemon.wait_for_log(rf"{com}: removed")
    daemon.wait_for_log(rf"{again}: removed")
    assert len(host.wait_for(3)) == 3

    requeued = send(daemon, "later4@example.net")
    result = command(etc, "postsuper", "-r", requeued)
    assert result.stderr.endswith("Requeued: 1 message\n")
    daemon.wait_for_log(r"postfix/pickup\[\d+\]: \w+: uid=\d+ from=<alice@corp.local>")
    daemon.wait_for_log(r"to=<later4@example.net>.*status=sent")
    assert len(host.wait_for(4)) == 4
    wait_until(lambda: daemon.queued() == {})
    purge = command(etc, "postsuper", "-p")
    assert purge.returncode == 0 and "the mail system is running" in purge.stderr


def test_a_message_being_delivered_can_be_deleted_and_the_relay_carries_on(
        live: tuple[Daemon, SmartHost]) -> None:
    daemon, host = live
    etc = daemon.etc
    with smtplib.SMTP("127.0.0.1", daemon.ports[0], timeout=10) as client:
        client.sendmail("alice@corp.local", ["slow@example.com"], "Subject: t\r\n\r\nhi\r\n")
    wait_until(lambda: "active" in daemon.queued())
    [busy] = daemon.queued()["active"]
    assert f"\n{busy}*" in command(etc, "mailq").stdout
    result = command(etc, "postsuper", "-d", busy)
    assert result.stderr == (f"mailrelay/postsuper: {busy}: removed\n"
                             "mailrelay/postsuper: Deleted: 1 message\n")
    assert daemon.queued() == {}
    daemon.wait_for_log(r"to=<slow@example.com>.*timed out")  # the attempt ends; nothing breaks
    assert daemon.queued() == {}
    queue_id = send(daemon, "later@example.com")
    assert command(etc, "postqueue", "-i", queue_id).returncode == 0
    daemon.wait_for_log(rf"{queue_id}: removed")
    [(envelope, _)] = host.wait_for(1)
    assert envelope["rcpts"][0].startswith("RCPT TO:<later@example.com>")
    assert daemon.proc is not None and daemon.proc.poll() is None
