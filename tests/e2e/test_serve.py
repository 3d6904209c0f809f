"""``mailrelay serve`` end to end: real sockets, real queue files, real signals."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from mailrelay.queue.queue_id import parse_queue_id
from mailrelay.queue.store import Queue, QueueStore
from tests.e2e.daemon import MAILRELAY, Daemon, free_ports

S = "inet n - n - - smtpd"


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def daemon(tmp_path: Path, ca: trustme.CA):
    ca.issue_cert("relay.corp.local").private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "relay.pem"))
    ports = free_ports(2)
    master = (f"127.0.0.1:{ports[0]} {S} -o smtpd_tls_security_level=may "
              f"-o smtpd_tls_cert_file={tmp_path}/relay.pem -o smtpd_tls_received_header=yes\n"
              f"127.0.0.1:{ports[1]} {S} -o mynetworks=192.0.2.0/24\n")
    d = Daemon(tmp_path, "", master, ports).start()
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.stop()


def queued(daemon: Daemon, queue_id: str) -> tuple[str, list[str], bytes]:
    store = QueueStore(daemon.spool)
    with store.open(Queue.INCOMING, queue_id) as message:
        env = message.envelope
        return env.sender, [r.address for r in env.recipients], message.read_content()


def converse(port: int, writes: list[bytes], wait: float = 0.3) -> list[bytes]:
    """Each write after the server has answered the previous one (no pipelining)."""
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.recv(512)
        for data in writes:
            s.sendall(data)
            got = b""
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    chunk = s.recv(65536)
                except TimeoutError:
                    break
                if not chunk:
                    break
                got += chunk
            answers.append(got)
    return answers


def test_accepted_mail_is_in_the_queue_as_postfixs_cleanup_writes_it(daemon: Daemon):
    with smtplib.SMTP("127.0.0.1", daemon.ports[0]) as c:
        c.ehlo("client.example")
        code, text = c.docmd("MAIL FROM:<alice>")
        assert code == 250
        c.rcpt("bob@example.com")
        code, text = c.data(b"Subject: one\r\n\r\nbody\r\n")
    assert code == 250
    queue_id = re.fullmatch(rb"2\.0\.0 Ok: queued as ([0-9A-F]+)", text).group(1).decode()
    assert daemon.incoming() == [queue_id]
    sender, recipients, content = queued(daemon, queue_id)
    assert (sender, recipients) == ("alice@corp.local", ["bob@example.com"])
    head = content.decode().split("\r\n")
    assert head[0] == "Received: from client.example (localhost [127.0.0.1])"
    assert head[1] == f"\tby relay.corp.local (Postfix) with ESMTP id {queue_id}"
    assert head[2].startswith("\tfor <bob@example.com>; ")
    stamp = head[4][13:27]
    assert head[3:5] == ["Subject: one", f"Message-Id: <{stamp}.{queue_id}@relay.corp.local>"]
    assert content.endswith(b"\r\n\r\nbody\r\n")
    log = daemon.maillog()
    assert "postfix/smtpd[" in log and f": {queue_id}: client=localhost[127.0.0.1]" in log
    assert f"{queue_id}: message-id=<" in log


@pytest.mark.parametrize("smuggle", [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r"])
def test_smuggled_commands_stay_inside_the_one_message(daemon: Daemon, smuggle: bytes):
    with socket.create_connection(("127.0.0.1", daemon.ports[0]), timeout=5) as s:
        s.recv(512)
        s.sendall(b"EHLO client.example\r\n")
        time.sleep(0.2)
        s.sendall(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        time.sleep(0.2)
        s.sendall(b"Subject: x\r\n\r\nbody" + smuggle + b"MAIL FROM:<evil@example.com>\r\n"
                  b"RCPT TO:<victim@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\n.\r\n")
        time.sleep(0.5)
        s.sendall(b"QUIT\r\n")
        replies = s.recv(65536)
    assert replies.count(b"queued as") == 1
    [queue_id] = daemon.incoming()
    _, recipients, content = queued(daemon, queue_id)
    assert recipients == ["b@example.com"]
    assert b"MAIL FROM:<evil@example.com>" in content


VECTORS = ["user@foreign.example", "user%foreign.example@relay.corp.local",
           "@relay.corp.local:user@foreign.example", '"user@foreign.example"@relay.corp.local',
           "user@foreign.example@relay.corp.local", "foreign.example!user@relay.corp.local"]


@pytest.mark.parametrize("recipient", VECTORS)
def test_every_open_relay_trick_from_an_untrusted_client_is_refused(daemon, recipient):
    with smtplib.SMTP("127.0.0.1", daemon.ports[1]) as c:
        c.ehlo("x.example")
        c.mail("a@example.com")
        code, text = c.docmd(f"RCPT TO:<{recipient}>")
    assert (code, text.split(b">: ")[-1]) == (454, b"Relay access denied"), text
    assert daemon.incoming() == []


def test_starttls_with_a_real_certificate_and_esmtps_in_received(daemon, ca, tmp_path):
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with smtplib.SMTP("127.0.0.1", daemon.ports[0]) as c:
        c.ehlo("client.example")
        assert c.has_extn("starttls")
        c._host = "relay.corp.local"  # verify the certificate against the server's name
        c.starttls(context=context)
        c.ehlo("client.example")
        assert not c.has_extn("starttls")
        c.sendmail("a@example.com", ["b@example.com"], b"Subject: tls\r\n\r\nx\r\n")
    [queue_id] = daemon.incoming()
    content = queued(daemon, queue_id)[2].decode()
    assert f"with ESMTPS id {queue_id}" in content


@pytest.mark.parametrize(("version", "golden"), [
    (ssl.TLSVersion.TLSv1_3, "tls13-received.txt"), (ssl.TLSVersion.TLSv1_2, "tls12-received.txt"),
])
def test_received_names_the_tls_session_as_postfix_does(daemon, ca, version, golden):
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.maximum_version = version
    with smtplib.SMTP("127.0.0.1", daemon.ports[0]) as c:
        c.ehlo("app1.corp.local")
        c._host = "relay.corp.local"
        c.starttls(context=context)
        c.ehlo("app1.corp.local")
        c.sendmail("a@example.com", ["b@example.com"], b"Subject: tls\r\n\r\nx\r\n")
    [queue_id] = daemon.incoming()
    lines = queued(daemon, queue_id)[2].decode().split("\r\n")
    expected = (Path(__file__).parent.parent / "golden" / "smtpd" / golden).read_text()
    assert lines[:len(expected.splitlines())] == expected.splitlines()


@contextlib.contextmanager
def half_message(port: int) -> Iterator[socket.socket]:
    """A session inside DATA with part of a message sent (closed when the block ends)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.recv(512)
        # One command at a time (pipelining without PIPELINING is refused before RCPT).
        for command in (b"EHLO x.example\r\n", b"MAIL FROM:<a@example.com>\r\n",
                        b"RCPT TO:<b@example.com>\r\n", b"DATA\r\n"):
            s.sendall(command)
            assert s.recv(512)[:1] in b"23"
        s.sendall(b"Subject: half\r\n\r\npartial body")
        yield s


def test_bad_input_and_a_client_that_drops_mid_data_queue_nothing(daemon):
    ehlo, junk, noop = converse(daemon.ports[0],
                                [b"EHLO x\x00y\r\n", b"A" * 10000 + b"\r\n", b"NOOP\r\n"])
    assert ehlo.startswith(b"250-relay.corp.local\r\n")
    assert junk == b"500 5.5.2 Error: command not recognized\r\n"
    assert noop == b"250 2.0.0 Ok\r\n"
    with half_message(daemon.ports[0]):
        time.sleep(0.3)
    dropped = time.time()  # 0.3 s after the half message's file was made
    time.sleep(0.3)
    with smtplib.SMTP("127.0.0.1", daemon.ports[0]) as c:
        c.sendmail("a@example.com", ["b@example.com"], b"Subject: whole\r\n\r\nx\r\n")
    [queue_id] = daemon.incoming()
    assert b"Subject: whole" in queued(daemon, queue_id)[2]
    # The half message's file is gone; tmp/ holds only the committer's spare drafts.
    [half] = [line.split(": ")[1] for line in daemon.maillog().splitlines()
              if "client=" in line and queue_id not in line]
    inode = parse_queue_id(half).inode
    # (its inode may be reused since by a new spare, made after the drop)
    assert all(path.stat().st_ctime > dropped - 0.1 for path in (daemon.spool / "tmp").iterdir()
               if path.stat().st_ino == inode)
    daemon.stop()
    assert list((daemon.spool / "tmp").iterdir()) == []  # spares removed at exit


def test_stop_lets_a_transaction_finish_and_tells_idle_clients_421(daemon):
    busy = smtplib.SMTP("127.0.0.1", daemon.ports[0])
    busy.ehlo("busy.example")
    busy.mail("a@example.com")
    busy.rcpt("b@example.com")
    idle = socket.create_connection(("127.0.0.1", daemon.ports[0]), timeout=5)
    idle.recv(512)
    daemon.proc.send_signal(signal.SIGTERM)
    assert idle.recv(512) == b"421 4.3.2 Service shutting down\r\n"
    code, _ = busy.data(b"Subject: late\r\n\r\nx\r\n")
    assert code == 250
    busy.close()
    assert daemon.stop() == 0
    assert not (daemon.spool / "pid" / "master.pid").exists()
    assert len(daemon.incoming()) == 1


def test_a_second_instance_refuses_to_start(daemon):
    result = subprocess.run([MAILRELAY, "-c", str(daemon.etc), "serve"], capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert "mailrelay/serve: fatal: the mail system is already running (pid " in result.stderr


def test_a_dead_worker_is_replaced(daemon):
    children = [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(daemon.proc.pid)], capture_output=True, text=True).stdout.split()]
    assert len(children) == 4  # anvil, two smtpd workers and pickup
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", daemon.ports[0], timeout=3) as c:
                c.sendmail("a@example.com", ["b@example.com"], b"Subject: after\r\n\r\nx\r\n")
            break
        except (OSError, smtplib.SMTPException):
            time.sleep(0.2)
    assert len(daemon.incoming()) == 1
    assert "warning: process smtpd pid" in daemon.maillog()


def test_sendmail_mail_is_picked_up_while_the_daemon_runs(daemon):
    subprocess.run([MAILRELAY, "-c", str(daemon.etc), "sendmail", "-f", "cron", "bob@example.com"],
                   input=b"Subject: cron\n\nhello\n", check=True, timeout=30)
    deadline = time.monotonic() + 10
    while not daemon.incoming() and time.monotonic() < deadline:
        time.sleep(0.05)
    [queue_id] = daemon.incoming()
    sender, recipients, content = queued(daemon, queue_id)
    assert (sender, recipients) == ("cron@corp.local", ["bob@example.com"])
    assert content.startswith(b"Received: by relay.corp.local (Postfix, from userid ")


def test_no_acknowledged_message_is_lost_when_everything_is_killed(tmp_path):
    ports = free_ports(1)
    d = Daemon(tmp_path, "", f"127.0.0.1:{ports[0]} {S}\n", ports).start()
    acked: dict[str, str] = {}
    stop = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            body = f"Subject: {n}-{i}\r\n\r\n{os.urandom(300 + 97 * i % 3000).hex()}\r\n"
            try:
                with smtplib.SMTP("127.0.0.1", ports[0], timeout=5) as c:
                    c.ehlo("c.example")
                    c.mail("a@example.com")
                    c.rcpt("b@example.com")
                    code, text = c.data(body.encode())
            except (OSError, smtplib.SMTPException):
                return
            if code == 250:
                sent = body.encode().split(b"\r\n\r\n", 1)[1]
                acked[text.decode().rsplit(" ", 1)[1]] = hashlib.sha256(sent).hexdigest()
            i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    d.kill_all()
    stop.set()
    for t in threads:
        t.join(10)
    assert acked, "no message was acknowledged before the crash"
    d.start()  # restart: recovery removes unfinished files
    d.stop()
    store = QueueStore(d.spool)
    for queue_id, digest in acked.items():
        with store.open(Queue.INCOMING, queue_id) as message:
            content = message.read_content()
        body = content.split(b"\r\n\r\n", 1)[1]  # cleanup changes only the header section
        assert hashlib.sha256(body).hexdigest() == digest, queue_id
    assert list((d.spool / "tmp").iterdir()) == []


def test_client_limits_are_counted_across_workers_by_anvil(tmp_path):
    ports = free_ports(1)
    d = Daemon(tmp_path, "smtpd_client_connection_count_limit = 2\n"
                         "smtpd_client_message_rate_limit = 3\n"
                         "smtpd_client_event_limit_exceptions =\n",
               f"127.0.0.1:{ports[0]} {S}\n", ports, workers=2).start()
    try:
        time.sleep(0.3)  # the banner probe's connection is over
        held = [socket.create_connection(("127.0.0.1", ports[0]), timeout=5) for _ in range(2)]
        assert all(s.recv(512).startswith(b"220 ") for s in held)
        with socket.create_connection(("127.0.0.1", ports[0]), timeout=5) as third:
            assert third.recv(512) == (b"421 4.7.0 relay.corp.local Error: too many "
                                       b"connections from 127.0.0.1\r\n")
        for s in held:
            s.close()
        time.sleep(0.3)
        codes = []
        with smtplib.SMTP("127.0.0.1", ports[0]) as c:
            c.ehlo("c.example")
            for _ in range(4):
                codes.append(c.docmd("MAIL FROM:<a@example.com>"))
                c.rset()
        assert [code for code, _ in codes] == [250, 250, 250, 450]  # the limit is 3
        assert codes[3][1] == b"4.7.1 Error: too much mail from 127.0.0.1"
        log = d.maillog()
        assert ("warning: Connection concurrency limit exceeded: 3 from localhost[127.0.0.1] "
                "for service 127.0.0.1:") in log
    finally:
        d.stop()


def test_bcc_is_dropped_and_a_recipient_given_twice_is_queued_once(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.ports[0]) as c:
        c.sendmail("a@example.com", ["b@example.com", "b@example.com", "c@example.com"],
                   b"Bcc: secret@example.com\r\nReturn-Path: <x@y>\r\nSubject: s\r\n\r\nx\r\n")
    [queue_id] = daemon.incoming()
    _, recipients, content = queued(daemon, queue_id)
    assert recipients == ["b@example.com", "c@example.com"]
    assert b"Bcc:" not in content and b"Return-Path:" not in content
    assert b"\r\nSubject: s\r\n" in content


def test_a_killed_workers_unfinished_message_and_spare_files_are_removed(daemon):
    """A worker killed in the middle of DATA leaves its temporary files (the message's and
    the committer's spares) in tmp/: the master removes them when it reaps the worker."""
    with half_message(daemon.ports[0]):
        [line] = daemon.wait_for_log(r"postfix/smtpd\[\d+\]: \w+: client=")
        worker = int(re.search(r"smtpd\[(\d+)\]", line).group(1))
        deadline = time.monotonic() + 5
        while not any(p.name.startswith(f".tmp.{worker}.")
                      for p in (daemon.spool / "tmp").iterdir()):
            assert time.monotonic() < deadline, "no temporary file of the worker's"
            time.sleep(0.05)
        os.kill(worker, signal.SIGKILL)
        daemon.wait_for_log(rf"warning: process smtpd pid {worker} exit status")
    leftovers = [p.name for p in (daemon.spool / "tmp").iterdir()
                 if p.name.startswith(f".tmp.{worker}.")]
    assert leftovers == []
    assert daemon.incoming() == []


def test_smtpd_timeout_counts_from_the_last_read_however_long_the_session(tmp_path):
    """The session's one read timer moves with every read: a client that talks every 0.6 s
    outlives several smtpd_timeouts; once silent it is told 421 one smtpd_timeout later."""
    ports = free_ports(1)
    d = Daemon(tmp_path, "smtpd_timeout = 1s\n", f"127.0.0.1:{ports[0]} {S}\n", ports).start()
    try:
        with socket.create_connection(("127.0.0.1", ports[0]), timeout=5) as s:
            s.recv(512)
            for _ in range(5):  # 3 s in all: three timeouts' worth
                time.sleep(0.6)
                s.sendall(b"NOOP\r\n")
                assert s.recv(512) == b"250 2.0.0 Ok\r\n"
            silent = time.monotonic()
            assert s.recv(512) == b"421 4.4.2 relay.corp.local Error: timeout exceeded\r\n"
            waited = time.monotonic() - silent
            assert s.recv(512) == b""
        assert 0.9 <= waited < 1.6, waited
        d.wait_for_log(r"timeout after NOOP from localhost\[127\.0\.0\.1\]")
    finally:
        d.stop()


def test_an_address_ending_in_a_backslash_gets_postfixs_replies(daemon):
    """The address tokenizer once spun forever on a final backslash (one client could stop
    a worker).  The replies are Postfix 3.7.11's to the same commands."""
    answers = converse(daemon.ports[0], [
        b"EHLO c.example\r\n", b"MAIL FROM:<s\\>\r\n", b"MAIL FROM:<\\>\r\n",
        b"MAIL FROM:<s@example.com>\r\n", b"RCPT TO:<a\\>\r\n", b"RCPT TO:b\\\r\n",
        b"RCPT TO:<c@example.com\\>\r\n", b"RCPT TO:<\\>\r\n", b"VRFY a\\\r\n", b"RSET\r\n",
        b"MAIL FROM:x\\\r\n", b"QUIT\r\n"])
    assert answers[1:] == [
        b"501 5.1.7 Bad sender address syntax\r\n", b"501 5.1.7 Bad sender address syntax\r\n",
        b"250 2.1.0 Ok\r\n", b"501 5.1.3 Bad recipient address syntax\r\n",
        b"250 2.1.5 Ok\r\n", b"501 5.1.3 Bad recipient address syntax\r\n",
        b"501 5.1.3 Bad recipient address syntax\r\n", b"252 2.0.0 a\\\r\n",
        b"250 2.0.0 Ok\r\n", b"250 2.1.0 Ok\r\n", b"221 2.0.0 Bye\r\n"]
