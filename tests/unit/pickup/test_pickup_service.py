"""pickup: maildrop files through cleanup into incoming, with a real QueueStore in tmp_path."""

from __future__ import annotations

import asyncio
import calendar
import os
import stat
import time
from pathlib import Path

import pytest

from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.cleanup.submission import FULL_NAME_ATTRIBUTE, REWRITE_CONTEXT_ATTRIBUTE
from mailrelay.pickup.service import (
    PICKUP_SOCKET,
    PickupSettings,
    bind_wakeup_socket,
    pickup_once,
    run_pickup,
    wake_pickup,
)
from mailrelay.queue.record import Client, Envelope, Notify, Recipient
from mailrelay.queue.store import Queue, QueueStore

CLEANUP = CleanupSettings(
    myhostname="relay.corp.local", myorigin="corp.local", mydomain="corp.local",
    mail_name="Postfix", append_at_myorigin=True, append_dot_mydomain=False,
    always_add_missing_headers=False,
)
SETTINGS = PickupSettings(CLEANUP)
WHEN = calendar.timegm((2026, 11, 24, 22, 7, 14, 0, 0, 0))


pytestmark = pytest.mark.usefixtures("utc")  # tests/conftest.py


@pytest.fixture
def store(tmp_path: Path) -> QueueStore:
    s = QueueStore(tmp_path / "spool")
    s.create_directories()
    return s


def submit(store: QueueStore, content: bytes, sender: str = "root",
           recipients: tuple[str, ...] = ("bob@example.com",), full_name: str = "",
           mtime: float = WHEN, **fields) -> str:
    attributes = [(REWRITE_CONTEXT_ATTRIBUTE, fields.pop("context", "local"))]
    if full_name:
        attributes.append((FULL_NAME_ATTRIBUTE, full_name))
    envelope = Envelope(sender, tuple(Recipient(r) for r in recipients), mtime,
                        attributes=tuple(attributes), **fields)
    queue_id = store.submit_maildrop(envelope, [content])
    os.utime(store.path(Queue.MAILDROP, queue_id), (mtime, mtime))
    return queue_id


def incoming(store: QueueStore, queue_id: str) -> tuple[Envelope, bytes]:
    with store.open(Queue.INCOMING, queue_id) as message:
        return message.envelope, message.read_content()


def test_a_maildrop_file_becomes_a_cleaned_up_file_in_incoming(store):
    submit(store, b"To: bob@example.com\r\nSubject: via sendmail\r\n\r\nhello\r\n.\r\n",
           full_name="Cron Daemon")
    lines: list[str] = []
    [queue_id] = pickup_once(store, SETTINGS, lines.append)
    envelope, content = incoming(store, queue_id)
    assert content == (
        f"Received: by relay.corp.local (Postfix, from userid {os.getuid()})\r\n"
        f"\tid {queue_id}; Tue, 24 Nov 2026 22:07:14 +0000 (UTC)\r\n"
        "To: bob@example.com\r\nSubject: via sendmail\r\n"
        f"Message-Id: <20261124220714.{queue_id}@relay.corp.local>\r\n"
        "Date: Tue, 24 Nov 2026 22:07:14 +0000 (UTC)\r\n"
        "From: Cron Daemon <root@corp.local>\r\n\r\nhello\r\n.\r\n").encode()
    assert envelope.sender == "root@corp.local"
    assert envelope.recipients == (Recipient("bob@example.com", "rfc822;bob@example.com"),)
    assert envelope.arrival_time == WHEN
    assert dict(envelope.attributes)[FULL_NAME_ATTRIBUTE] == "Cron Daemon"
    assert lines == [f"{queue_id}: uid={os.getuid()} from=<root>",
                     f"{queue_id}: message-id=<20261124220714.{queue_id}@relay.corp.local>"]
    assert list(store.ids(Queue.MAILDROP)) == []


def test_files_are_taken_oldest_first(store):
    late = submit(store, b"Subject: late\r\n\r\n", mtime=WHEN + 10)
    early = submit(store, b"Subject: early\r\n\r\n", mtime=WHEN)
    log: list[str] = []
    picked = pickup_once(store, SETTINGS, log.append)
    subjects = [incoming(store, q)[1].split(b"Subject: ")[1][:4] for q in picked]
    assert subjects == [b"earl", b"late"]
    assert early != late


def test_bare_addresses_are_qualified_and_the_original_kept(store):
    submit(store, b"Subject: x\r\n\r\n", sender="alice",
           recipients=("carol", "@r1.example:u@x.example", "", "carol"))
    [queue_id] = pickup_once(store, SETTINGS, lambda line: None)
    envelope, _ = incoming(store, queue_id)
    assert envelope.sender == "alice@corp.local"
    assert envelope.recipients == (
        Recipient("carol@corp.local", "rfc822;carol@corp.local", original="carol"),
        Recipient("u@x.example", "rfc822;u@x.example", original="@r1.example:u@x.example"),
        Recipient("MAILER-DAEMON@corp.local", "rfc822;MAILER-DAEMON@corp.local"),
    )  # the second carol was a duplicate, and went as cleanup's duplicate filter does


def test_notify_orcpt_and_dsn_fields_are_kept(store):
    envelope = Envelope("a@x.example", (Recipient("b@y.example", "rfc822;B@Y.example",
                                                  Notify.FAILURE),), WHEN, dsn_ret="HDRS",
                        dsn_envid="env-1", body_type="8BITMIME")
    store.submit_maildrop(envelope, [b"Subject: x\r\n\r\n"])
    [queue_id] = pickup_once(store, SETTINGS, lambda line: None)
    got, _ = incoming(store, queue_id)
    assert got.recipients == (Recipient("b@y.example", "rfc822;B@Y.example", Notify.FAILURE),)
    assert (got.dsn_ret, got.dsn_envid, got.body_type) == ("HDRS", "env-1", "8BITMIME")


def test_a_submitter_cannot_pose_as_a_remote_client(store):
    envelope = Envelope("a@x.example", (Recipient("b@y.example"),), WHEN,
                        client=Client("mx.example", "192.0.2.1", "25", "mx", "ESMTPSA", "PLAIN",
                                      "admin"))
    store.submit_maildrop(envelope, [b"Subject: x\r\n\r\n"])
    [queue_id] = pickup_once(store, SETTINGS, lambda line: None)
    assert incoming(store, queue_id)[0].client == Client()


def test_bcc_is_dropped_and_a_full_name_with_specials_is_quoted(store):
    submit(store, b"To: a@example.com\r\nBcc: hidden@example.com\r\n\r\nbody\r\n",
           full_name="Doe, John", recipients=("a@example.com", "hidden@example.com"))
    [queue_id] = pickup_once(store, SETTINGS, lambda line: None)
    _, content = incoming(store, queue_id)
    assert b"Bcc" not in content
    assert b'From: "Doe, John" <root@corp.local>\r\n' in content


def test_the_null_sender_gets_mailer_daemon_whatever_the_full_name(store):
    submit(store, b"Subject: plain\r\n\r\nhello\r\n", sender="", full_name="root")
    log: list[str] = []
    [queue_id] = pickup_once(store, SETTINGS, log.append)
    envelope, content = incoming(store, queue_id)
    assert envelope.sender == ""
    assert b"From: MAILER-DAEMON\r\n" in content
    assert log[0] == f"{queue_id}: uid={os.getuid()} from=<>"


def test_a_gateway_submission_gets_no_headers_added(store):
    submit(store, b"Subject: x\r\n\r\nbody\r\n", context="remote")
    log: list[str] = []
    [queue_id] = pickup_once(store, SETTINGS, log.append)
    _, content = incoming(store, queue_id)
    assert content.split(b"\r\n")[2:] == [b"Subject: x", b"", b"body", b""]
    assert log[1] == f"{queue_id}: message-id=<>"


def test_an_arrival_time_in_the_future_becomes_now(store):
    future = time.time() + 86400 * 365
    submit(store, b"Subject: x\r\n\r\n", mtime=future)
    [queue_id] = pickup_once(store, SETTINGS, lambda line: None)
    assert incoming(store, queue_id)[0].arrival_time <= time.time()


def test_an_old_file_is_taken_with_a_warning(store):
    submit(store, b"Subject: x\r\n\r\n", mtime=time.time() - 3 * 86400 - 60)
    log: list[str] = []
    [queue_id] = pickup_once(store, SETTINGS, log.append)
    assert log[0] == f"warning: {queue_id}: message has been queued for 3 days"


# ---------------------------------------------------------------- bad files


def corrupt_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, (WHEN, WHEN))


def test_a_corrupt_file_is_moved_to_corrupt_with_a_warning(store):
    bad = submit(store, b"Subject: bad\r\n\r\n")
    good = submit(store, b"Subject: good\r\n\r\n", mtime=WHEN + 1)
    corrupt_one_byte(store.path(Queue.MAILDROP, bad))
    log: list[str] = []
    picked = pickup_once(store, SETTINGS, log.append)
    assert len(picked) == 1
    assert b"Subject: good" in incoming(store, picked[0])[1]
    assert list(store.ids(Queue.CORRUPT)) == [bad]
    assert list(store.ids(Queue.MAILDROP)) == []
    assert log[0].startswith(f'warning: saving corrupt file "{bad}" from queue "maildrop" to '
                             'queue "corrupt": ')
    assert good not in picked  # the incoming file is a new one, with its own ID


def test_a_truncated_file_is_moved_to_corrupt(store):
    bad = submit(store, b"Subject: bad\r\n\r\n")
    path = store.path(Queue.MAILDROP, bad)
    path.write_bytes(path.read_bytes()[:-7])
    assert pickup_once(store, SETTINGS, lambda line: None) == []
    assert list(store.ids(Queue.CORRUPT)) == [bad]


def test_a_fifo_or_a_symbolic_link_is_moved_aside_without_blocking(store, tmp_path):
    fifo = submit(store, b"x")
    link = submit(store, b"y", mtime=WHEN + 1)
    os.unlink(store.path(Queue.MAILDROP, fifo))
    os.mkfifo(store.path(Queue.MAILDROP, fifo))
    os.unlink(store.path(Queue.MAILDROP, link))
    (tmp_path / "secret").write_bytes(b"secret")
    os.symlink(tmp_path / "secret", store.path(Queue.MAILDROP, link))
    log: list[str] = []
    assert pickup_once(store, SETTINGS, log.append) == []
    assert sorted(store.ids(Queue.CORRUPT)) == sorted([fifo, link])
    assert len(log) == 2
    assert (tmp_path / "secret").read_bytes() == b"secret"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_a_file_its_owner_made_unreadable_is_moved_aside(store):
    queue_id = submit(store, b"Subject: x\r\n\r\n")
    os.chmod(store.path(Queue.MAILDROP, queue_id), 0)
    assert pickup_once(store, SETTINGS, lambda line: None) == []
    assert list(store.ids(Queue.CORRUPT)) == [queue_id]


def test_a_file_pickup_may_not_read_is_moved_aside(store, monkeypatch):
    queue_id = submit(store, b"Subject: x\r\n\r\n")

    def refuse(queue, maildrop_id, **options):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store, "open", refuse)
    log: list[str] = []
    assert pickup_once(store, SETTINGS, log.append) == []
    assert list(store.ids(Queue.CORRUPT)) == [queue_id]
    assert log[0].endswith('"corrupt": [Errno 13] Permission denied')


@pytest.mark.parametrize(
    ("sender", "recipients"),
    [("root", ()), ("ro\r\not", ("b@x",)), ("root", ("b@x\nBcc: c@y",))],
    ids=["no recipients", "CRLF in the sender", "LF in a recipient"],
)
def test_an_envelope_pickup_will_not_take_is_moved_aside(store, sender, recipients):
    queue_id = submit(store, b"Subject: x\r\n\r\n", sender=sender, recipients=recipients)
    log: list[str] = []
    assert pickup_once(store, SETTINGS, log.append) == []
    assert list(store.ids(Queue.CORRUPT)) == [queue_id]
    assert log[0].startswith("warning: saving corrupt file")


def test_a_file_over_the_size_limit_is_moved_aside(store):
    queue_id = submit(store, b"Subject: x\r\n\r\n" + b"x" * 100 + b"\r\n")
    log: list[str] = []
    settings = PickupSettings(CLEANUP, message_size_limit=100)
    assert pickup_once(store, settings, log.append) == []
    assert list(store.ids(Queue.CORRUPT)) == [queue_id]
    assert log[0].endswith('"corrupt": message file too big')


def test_control_characters_in_the_full_name_become_spaces(store):
    submit(store, b"Subject: x\r\n\r\n", full_name="Evil\r\nBcc: x@y")
    [queue_id] = pickup_once(store, SETTINGS, lambda line: None)
    assert b'From: "Evil  Bcc: x@y" <root@corp.local>\r\n' in incoming(store, queue_id)[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_a_file_written_by_another_user_names_that_user(store):
    submit(store, b"Subject: x\r\n\r\n", sender="nobody")
    [maildrop_id] = store.ids(Queue.MAILDROP)
    os.chown(store.path(Queue.MAILDROP, maildrop_id), 65534, -1)
    log: list[str] = []
    [queue_id] = pickup_once(store, SETTINGS, log.append)
    _, content = incoming(store, queue_id)
    assert content.startswith(b"Received: by relay.corp.local (Postfix, from userid 65534)\r\n")
    assert log[0] == f"{queue_id}: uid=65534 from=<nobody>"


def test_cleanup_settings_alone_are_enough(store):
    submit(store, b"Bcc: x@y\r\n\r\n")
    [queue_id] = pickup_once(store, CLEANUP, lambda line: None)
    assert b"Bcc" not in incoming(store, queue_id)[1]


# ---------------------------------------------------------------- the service


def test_the_service_picks_up_at_start_on_a_poke_and_stops(store):
    submit(store, b"Subject: first\r\n\r\n")
    log: list[str] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        service = asyncio.create_task(run_pickup(store, SETTINGS, log.append, stop,
                                                 interval=3600))
        for _ in range(200):
            if len(log) == 2:
                break
            await asyncio.sleep(0.01)
        path = store.directory / PICKUP_SOCKET
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o666
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
        submit(store, b"Subject: second\r\n\r\n", mtime=time.time())
        assert wake_pickup(store.directory)
        for _ in range(200):
            if len(log) == 4:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(service, 5)

    asyncio.run(scenario())
    assert len(log) == 4
    assert len(list(store.ids(Queue.INCOMING))) == 2
    assert not (store.directory / PICKUP_SOCKET).exists()
    assert not wake_pickup(store.directory)


def test_a_stale_socket_is_replaced(store):
    first = bind_wakeup_socket(store.directory)
    first.close()  # a crashed pickup leaves its socket file behind
    second = bind_wakeup_socket(store.directory)
    try:
        assert wake_pickup(store.directory)
        assert second.recv(8) == b"W"
    finally:
        second.close()


def test_the_service_works_without_its_socket(store, monkeypatch):
    def refuse(directory):
        raise OSError("address in use")

    monkeypatch.setattr("mailrelay.pickup.service.bind_wakeup_socket", refuse)
    submit(store, b"Subject: x\r\n\r\n")
    log: list[str] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        service = asyncio.create_task(run_pickup(store, SETTINGS, log.append, stop,
                                                 interval=0.01))
        for _ in range(200):
            if len(log) == 3:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(service, 5)

    asyncio.run(scenario())
    assert log[0].startswith(f"warning: cannot bind {PICKUP_SOCKET}: address in use")
    assert len(list(store.ids(Queue.INCOMING))) == 1


def pickup_config(tmp_path: Path, text: str) -> PickupSettings:
    from mailrelay.config.maincf import parse_main_cf
    from mailrelay.config.model import Config
    main = ("myhostname = relay.corp.local\nmydomain = corp.local\nmyorigin = $mydomain\n"
            + text)
    return PickupSettings.from_config(Config(parse_main_cf(main, "main.cf"), str(tmp_path)))


def test_the_content_filter_of_pickup_is_stored_with_the_message(store, tmp_path):
    settings = pickup_config(tmp_path, "content_filter = smtp:[127.0.0.1]:10025\n")
    submit(store, b"Subject: x\r\n\r\nbody\r\n")
    [queue_id] = pickup_once(store, settings, lambda _line: None)
    envelope, _ = incoming(store, queue_id)
    assert ("content_filter", "smtp:[127.0.0.1]:10025") in envelope.attributes


def test_a_rejected_submission_is_bounced_to_its_sender_with_postfixs_lines(store, tmp_path):
    checks = tmp_path / "header_checks"
    checks.write_text("/^Subject: reject me/ REJECT Not wanted here\n")
    settings = pickup_config(tmp_path, f"header_checks = regexp:{checks}\n")
    submit(store, b"From: a@corp.local\r\nSubject: reject me\r\n\r\nbody\r\n",
           sender="a@corp.local", recipients=("q@example.com",))
    lines: list[tuple[str, str]] = []
    [rejected] = pickup_once(store, settings, lambda line: lines.append(("pickup", line)),
                             lambda program: lambda line: lines.append((program, line)))
    assert set(store.ids(Queue.CORRUPT)) == set(store.ids(Queue.MAILDROP)) == set()
    [notice_id] = store.ids(Queue.INCOMING)
    envelope, content = incoming(store, notice_id)
    assert envelope.sender == "" and [r.address for r in envelope.recipients] == ["a@corp.local"]
    assert b"<q@example.com>: Not wanted here" in content
    assert b"Content-Type: text/rfc822-headers" in content
    assert b"\r\nbody\r\n" not in content
    texts = [(program, line.split(": ", 1)[1]) for program, line in lines]
    assert [p for p, _ in texts] == ["pickup", "cleanup", "cleanup", "cleanup", "cleanup",
                                     "bounce"]
    assert texts[0][1] == f"uid={os.getuid()} from=<a@corp.local>"
    assert texts[1][1].startswith("reject: header Subject: reject me from local; "
                                  "from=<a@corp.local> to=<q@example.com>: 5.7.1 Not wanted")
    assert texts[2][1].startswith("message-id=<")
    assert texts[3][1].startswith("to=<q@example.com>, relay=none, delay=")
    assert texts[3][1].endswith(", dsn=5.7.1, status=bounced (Not wanted here)")
    assert lines[4][1] == f"{notice_id}: message-id=<" + lines[4][1].split("<", 1)[1]
    assert lines[5][1] == f"{rejected}: sender non-delivery notification: {notice_id}"


def test_without_bounce_settings_a_rejected_submission_goes_to_corrupt(store, tmp_path):
    checks = tmp_path / "header_checks"
    checks.write_text("/^Subject: reject me/ REJECT Not wanted here\n")
    settings = pickup_config(tmp_path, f"header_checks = regexp:{checks}\n")
    maildrop_id = submit(store, b"Subject: reject me\r\n\r\nbody\r\n")
    pickup_once(store, PickupSettings(settings.cleanup), lambda _line: None)
    assert set(store.ids(Queue.CORRUPT)) == {maildrop_id}
