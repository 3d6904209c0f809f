"""Daemon control as a Postfix administrator types it: start, status, stop, abort, reload,
logrotate, and the systemd unit under contrib/.

The messages are postfix-script's (tests/golden/daemon_control/ has them as Postfix 3.7
printed them).  The reload-under-load test is the issue's: clients send in a loop, in the
test's own event loop, while ``mailrelay reload`` runs ten times; no session may be dropped
and every message that got its 250 must reach the smarthost.
"""

from __future__ import annotations

import asyncio
import configparser
import gzip
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon import MAILRELAY, Daemon, free_ports, wait_for_banner
from tests.e2e.smarthost import SmartHost

S = "inet n - n - - smtpd"
UNIT = Path(__file__).parents[2] / "contrib" / "mailrelay.service"
NOT_RUNNING = "postfix/postfix-script: the Postfix mail system is not running\n"
GOLDEN = Path(__file__).parents[1] / "golden" / "daemon_control" / "postfix-script.stderr"


def said_by_postfix(output: str) -> bool:
    """Every line of *output* is one that Postfix 3.7 printed (PIDs aside)."""
    postfix = {line for line in GOLDEN.read_text().splitlines() if not line.startswith("$")}
    return all(re.sub(r"PID: \d+", "PID: PID", line) in postfix
               for line in output.splitlines())


@pytest.fixture
def ports() -> list[int]:
    return free_ports(3)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Daemons to clean up: serve subprocesses are stopped, detached masters aborted."""
    made: list[Daemon] = []
    yield made
    for d in made:
        if d.proc is not None:
            if d.proc.poll() is None:
                d.stop()
            continue
        pid = d.master_pid()
        if pid is not None and d.command("status").returncode == 0:
            d.command("abort")


def make(tmp_path: Path, ports: list[int], daemons: list[Daemon], main_cf: str = "",
         workers: int = 2, deliver: bool = False) -> Daemon:
    d = Daemon(tmp_path, main_cf, f"127.0.0.1:{ports[0]} {S}\n", ports[:1], workers=workers,
               deliver=deliver)
    daemons.append(d)
    return d


class Client:
    """A blocking SMTP client that shows each reply as the server sent it."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.banner = self.reply()

    def reply(self) -> str:
        lines = []
        while True:
            line = self.file.readline().decode()
            if not line:
                raise ConnectionError("the server closed the connection")
            lines.append(line)
            if line[3:4] != "-":
                return "".join(lines)

    def say(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def message(self, token: str) -> str:
        assert self.say("MAIL FROM:<alice@corp.local>").startswith("250")
        assert self.say("RCPT TO:<bob@example.com>").startswith("250")
        assert self.say("DATA").startswith("354")
        return self.say(f"Subject: {token}\r\n\r\n{token}\r\n.")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def banner_now(port: int) -> str:
    client = Client(port)
    try:
        client.say("QUIT")
        return client.banner
    finally:
        client.close()


def wait_for_banner_text(port: int, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in (seen := banner_now(port)):
        assert time.monotonic() < deadline, f"banner still {seen!r}"
        time.sleep(0.05)


def gone(pgid: int, timeout: float = 10) -> bool:
    """True once no process of the group *pgid* is left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_start_detaches_status_reports_the_pid_and_stop_waits_until_it_is_gone(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    d = make(tmp_path, ports, daemons)
    status = d.command("status")
    assert (status.returncode, status.stderr) == (1, NOT_RUNNING)
    started = d.command("start", "--workers", "1")
    assert (started.returncode, started.stderr) == (
        0, "postfix/postfix-script: starting the Postfix mail system\n")
    wait_for_banner(ports[0], time.monotonic() + 20)
    pid = d.master_pid()
    assert pid is not None and pid != os.getpid()
    assert os.getsid(pid) != os.getsid(0)  # detached: a session of its own
    status = d.command("status")
    assert (status.returncode, status.stderr) == (
        0, f"postfix/postfix-script: the Postfix mail system is running: PID: {pid}\n")
    again = d.command("start")
    assert (again.returncode, again.stderr) == (
        1, "postfix/postfix-script: fatal: the Postfix mail system is already running\n")
    group = os.getpgid(pid)
    stopped = d.command("stop")
    assert (stopped.returncode, stopped.stderr) == (
        0, "postfix/postfix-script: stopping the Postfix mail system\n")
    assert gone(group)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ports[0]), timeout=2).close()
    status = d.command("status")
    assert (status.returncode, status.stderr) == (1, NOT_RUNNING)
    for command in ("stop", "abort", "reload"):
        refused = d.command(command)
        assert (refused.returncode, refused.stderr) == (
            1, "postfix/postfix-script: fatal: the Postfix mail system is not running\n")
    assert said_by_postfix("".join((started.stderr, status.stderr, again.stderr,
                                    stopped.stderr, refused.stderr)))
    log = d.maillog()
    assert re.search(r"postfix/postfix-script\[\d+\]: starting the Postfix mail system", log)
    assert re.search(rf"postfix/master\[{pid}\]: daemon started -- version ", log)
    assert re.search(r"postfix/postfix-script\[\d+\]: stopping the Postfix mail system", log)


def test_stop_lets_a_transaction_in_progress_finish(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    d = make(tmp_path, ports, daemons)
    assert d.command("start", "--workers", "1").returncode == 0
    wait_for_banner(ports[0], time.monotonic() + 20)
    client = Client(ports[0])
    client.say("EHLO client.example")
    assert client.say("MAIL FROM:<alice@corp.local>").startswith("250")
    stopping = subprocess.Popen([MAILRELAY, "-c", str(d.etc), "stop"],
                                stderr=subprocess.PIPE, text=True)
    d.wait_for_log(r"stopping the Postfix mail system")
    time.sleep(0.3)
    assert stopping.poll() is None  # stop waits for the transaction
    assert client.say("RCPT TO:<bob@example.com>").startswith("250")
    assert client.say("DATA").startswith("354")
    assert client.say("Subject: last\r\n\r\nlast\r\n.").startswith("250 2.0.0 Ok: queued as ")
    client.close()
    assert stopping.wait(40) == 0
    assert len(d.queued()["incoming"]) == 1


def test_abort_kills_every_process_at_once(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    d = make(tmp_path, ports, daemons)
    assert d.command("start", "--workers", "2").returncode == 0
    wait_for_banner(ports[0], time.monotonic() + 20)
    pid = d.master_pid()
    assert pid is not None
    group = os.getpgid(pid)
    client = Client(ports[0])
    assert client.say("MAIL FROM:<alice@corp.local>").startswith("250")
    aborted = d.command("abort")
    assert (aborted.returncode, aborted.stderr) == (
        0, "postfix/postfix-script: aborting the Postfix mail system\n")
    assert gone(group, timeout=5)
    with pytest.raises((ConnectionError, OSError)):
        client.say("RCPT TO:<bob@example.com>")
    client.close()
    assert d.command("status").returncode == 1
    # The pid file is gone with the master: a new start needs no cleaning up.
    assert d.command("start", "--workers", "1").returncode == 0
    assert d.command("status").returncode == 0


def test_logrotate_renames_compresses_and_every_process_reopens_the_log(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    d = make(tmp_path, ports, daemons)
    assert d.command("start", "--workers", "1").returncode == 0
    wait_for_banner(ports[0], time.monotonic() + 20)
    d.wait_for_log(r"daemon started")
    rotated = d.command("logrotate")
    assert (rotated.returncode, rotated.stderr) == (0, "")
    [old] = list(tmp_path.glob("maillog.*"))
    assert re.fullmatch(r"maillog\.\d{8}-\d{6}\.gz", old.name)
    assert b"daemon started -- version" in gzip.decompress(old.read_bytes())
    banner_now(ports[0])  # an smtpd worker writes to the new file
    d.wait_for_log(r"postfix/smtpd\[\d+\]: connect from localhost\[127\.0\.0\.1\]")
    assert d.command("reload").returncode == 0  # and so does the master
    d.wait_for_log(r"postfix/master\[\d+\]: reload -- version ")
    assert "daemon started" not in d.maillog()


def test_logrotate_refuses_an_empty_maillog_file(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    d = make(tmp_path, ports, daemons, "maillog_file =\n")
    refused = d.command("logrotate")
    assert (refused.returncode, refused.stderr) == (
        1, "postfix/postfix-script: fatal: empty 'maillog_file' parameter value - "
           "logfile rotation failed\n")


def test_reload_gives_new_sessions_the_new_banner_while_an_open_session_goes_on(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    d = make(tmp_path, ports, daemons, "smtpd_banner = $myhostname ESMTP before\n").start()
    open_session = Client(ports[0])
    assert open_session.banner == "220 relay.corp.local ESMTP before\r\n"
    assert open_session.say("EHLO client.example").startswith("250-relay.corp.local")
    d.append_main_cf("smtpd_banner = $myhostname ESMTP after\n")
    reloaded = d.command("reload")
    assert (reloaded.returncode, reloaded.stderr) == (
        0, "postfix/postfix-script: refreshing the Postfix mail system\n")
    d.wait_for_log(rf"postfix/master\[\d+\]: reload -- version \S+, configuration {d.etc}$")
    wait_for_banner_text(ports[0], "ESMTP after")
    assert open_session.message("kept").startswith("250 2.0.0 Ok: queued as ")
    assert open_session.say("QUIT").startswith("221")
    open_session.close()
    assert len(d.queued()["incoming"]) == 1
    assert d.stop() == 0


def test_a_broken_main_cf_is_refused_on_reload_and_the_old_daemon_keeps_serving(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    d = make(tmp_path, ports, daemons, "smtpd_banner = $myhostname ESMTP before\n").start()
    d.append_main_cf("smtpd_banner = $myhostname ESMTP after\nsmtpd_timeout = soon\n")
    line = (d.etc / "main.cf").read_text().splitlines().index("smtpd_timeout = soon") + 1
    refused = d.command("reload")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"mailrelay/reload: fatal: {d.etc}/main.cf, line {line}: parameter smtpd_timeout: "
        "bad time value or unit: soon\n")
    # A SIGHUP that bypasses the command (systemctl reload) is refused by the master itself.
    assert d.proc is not None
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(rf"postfix/master\[\d+\]: warning: reload refused: .*main\.cf, line {line}: "
                   r"parameter smtpd_timeout: bad time value or unit: soon: the running "
                   r"configuration stays in effect")
    assert "reload --" not in d.maillog()
    client = Client(ports[0])
    assert client.banner == "220 relay.corp.local ESMTP before\r\n"
    assert client.message("still").startswith("250 2.0.0 Ok: queued as ")
    client.close()
    assert d.stop() == 0


def test_a_new_listener_is_opened_and_a_removed_one_closed_on_reload(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    d = make(tmp_path, ports, daemons).start()
    (d.etc / "master.cf").write_text(f"127.0.0.1:{ports[1]} {S}\n")
    assert d.command("reload").returncode == 0
    d.wait_for_log(r"reload -- version")
    wait_for_banner(ports[1], time.monotonic() + 10)
    deadline = time.monotonic() + 10
    while True:  # the old workers finish their sessions, then the port is closed
        try:
            banner_now(ports[0])
        except (ConnectionError, OSError):
            break
        assert time.monotonic() < deadline, "the removed listener still answers"
        time.sleep(0.05)
    assert d.stop() == 0


def test_a_new_port_that_cannot_be_bound_is_refused_by_the_master_and_reported(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    d = make(tmp_path, ports, daemons, "smtpd_banner = $myhostname ESMTP before\n").start()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports[1]))
        busy.listen()
        (d.etc / "master.cf").write_text(f"127.0.0.1:{ports[0]} {S}\n127.0.0.1:{ports[1]} {S}\n")
        d.append_main_cf("smtpd_banner = $myhostname ESMTP after\n")
        refused = d.command("reload")
        assert refused.returncode == 1
        assert refused.stderr.endswith(
            f"mailrelay/reload: fatal: {d.etc}/master.cf, line 2: bind 127.0.0.1 port "
            f"{ports[1]}: Address already in use: the running configuration stays in effect\n")
    assert banner_now(ports[0]) == "220 relay.corp.local ESMTP before\r\n"
    assert "reload --" not in d.maillog()
    assert d.stop() == 0


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_reloads_in_quick_succession_leave_exactly_one_generation_of_processes(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    d = make(tmp_path, ports, daemons, workers=2).start()
    assert d.proc is not None
    before = children_of(d.proc.pid)
    assert len(before) == 4  # anvil, two smtpd workers, pickup (qmgr is paused)
    for n in range(1, 4):
        d.proc.send_signal(signal.SIGHUP)
        d.wait_for_log(r"reload -- version", count=n)
    deadline = time.monotonic() + 10
    while len(now := children_of(d.proc.pid)) != 4:
        assert time.monotonic() < deadline, f"children: {now}"
        time.sleep(0.05)
    assert len(set(now) - set(before)) == 3  # anvil stays, the others are new
    banner_now(ports[0])
    assert d.stop() == 0


def test_qmgr_runs_pickup_in_its_process_and_pickup_gets_its_own_when_qmgr_is_off(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    """One Python process less when both run; either way sendmail's mail is picked up."""
    d = make(tmp_path, ports, daemons, workers=2, deliver=True).start()
    assert d.proc is not None

    def submit(token: str) -> None:
        subprocess.run([MAILRELAY, "-c", str(d.etc), "sendmail", "bob@example.com"],
                       input=f"Subject: {token}\n\n{token}\n".encode(), check=True)

    assert len(children_of(d.proc.pid)) == 4  # anvil, two smtpd workers, qmgr with pickup
    submit("first")
    [line] = d.wait_for_log(r"postfix/pickup\[\d+\]: \w+: uid=")
    qmgr_pid = re.search(r"pickup\[(\d+)\]", line).group(1)
    d.wait_for_log(rf"postfix/qmgr\[{qmgr_pid}\]: \w+: from=")  # the same process
    d.append_main_cf("master_service_disable = qmgr/unix\n")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_log(r"reload -- version")
    deadline = time.monotonic() + 10
    while str(qmgr_pid) in map(str, children_of(d.proc.pid)):  # the old one has exited
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(children_of(d.proc.pid)) == 4  # anvil, two smtpd workers, pickup alone
    submit("second")
    lines = d.wait_for_log(r"postfix/pickup\[\d+\]: \w+: uid=", count=2)
    assert f"pickup[{qmgr_pid}]" not in lines[1]
    assert d.stop() == 0


# -- the reload-under-load test -------------------------------------------------------------

async def smtp_client(port: int, name: str, stop: asyncio.Event, accepted: list[str],
                      problems: list[str]) -> None:
    """Sessions of three messages each, in a loop, until *stop*; every reply checked."""
    serial = 0

    async def expect(reader: asyncio.StreamReader, code: str, what: str) -> str:
        while (line := (await reader.readline()).decode())[3:4] == "-":
            pass
        if not line.startswith(code):
            raise ConnectionError(f"{what}: {line!r}")
        return line

    while not stop.is_set():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await expect(reader, "220", "banner")
            writer.write(b"EHLO load.example\r\n")
            await expect(reader, "250", "EHLO")
            for _ in range(3):
                serial += 1
                token = f"{name}-{serial}"
                writer.write(b"MAIL FROM:<alice@corp.local>\r\nRCPT TO:<bob@example.com>\r\n"
                             b"DATA\r\n")
                await expect(reader, "250", "MAIL")
                await expect(reader, "250", "RCPT")
                await expect(reader, "354", "DATA")
                writer.write(f"Subject: {token}\r\n\r\n{token}\r\n.\r\n".encode())
                await expect(reader, "250", f"end of data {token}")
                accepted.append(token)
                await asyncio.sleep(0.02)  # so that sessions span reloads
            writer.write(b"QUIT\r\n")
            await expect(reader, "221", "QUIT")
        except (ConnectionError, OSError) as e:
            problems.append(f"{name}: {e}")
            await asyncio.sleep(0.1)
        finally:
            writer.close()


async def sendmail(d: Daemon, token: str, accepted: list[str]) -> None:
    """A local submission (maildrop, then pickup) between reloads."""
    proc = await asyncio.create_subprocess_exec(
        MAILRELAY, "-c", str(d.etc), "sendmail", "bob@example.com",
        stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    await proc.communicate(f"Subject: {token}\n\n{token}\n".encode())
    if proc.returncode == 0:
        accepted.append(token)


async def reload_ten_times(d: Daemon, results: list[int], accepted: list[str]) -> None:
    for n in range(1, 11):
        proc = await asyncio.create_subprocess_exec(
            MAILRELAY, "-c", str(d.etc), "reload", stderr=asyncio.subprocess.DEVNULL)
        await sendmail(d, f"s-{n}", accepted)
        results.append(await proc.wait())
        deadline = time.monotonic() + 20
        while d.maillog().count("reload -- version") < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)


async def load_during_reloads(d: Daemon, port: int) -> tuple[list[str], list[str], list[int]]:
    stop = asyncio.Event()
    accepted: list[str] = []
    problems: list[str] = []
    reloads: list[int] = []
    clients = [asyncio.create_task(smtp_client(port, f"c{i}", stop, accepted, problems))
               for i in range(6)]
    await asyncio.sleep(0.5)
    await reload_ten_times(d, reloads, accepted)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*clients), 60)
    return accepted, problems, reloads


def tokens_in_queue(d: Daemon) -> set[str]:
    found = set()
    for path in d.spool.glob("*/*"):
        if path.is_file():
            found.update(re.findall(r"[cs]\d*-\d+", path.read_bytes().decode(errors="replace")))
    return found


def test_reload_ten_times_under_load_drops_no_session_and_loses_no_message(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    host = SmartHost(tmp_path, ports[1]).start()
    try:
        # Postfix's default retry times: nothing may wait for a retry to arrive.
        d = make(tmp_path, ports, daemons, f"relayhost = [127.0.0.1]:{ports[1]}\n",
                 deliver=True).start()
        accepted, problems, reloads = asyncio.run(load_during_reloads(d, ports[0]))
        assert reloads == [0] * 10
        assert d.maillog().count("reload -- version") == 10
        assert problems == []
        assert len(accepted) > 100
        assert sum(token.startswith("s-") for token in accepted) == 10
        deadline = time.monotonic() + 60
        while True:
            delivered = [re.search(rb"Subject: ([cs]\d*-\d+)", content)
                         for _, content in host.messages()]
            tokens = [m.group(1).decode() for m in delivered if m]
            missing = set(accepted) - set(tokens)
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert missing <= tokens_in_queue(d), "accepted messages neither delivered nor queued"
        assert len(tokens) == len(set(tokens)), "a message was delivered twice"
        assert d.stop() == 0
    finally:
        host.stop()


# -- the systemd unit -----------------------------------------------------------------------

def unit_service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_the_systemd_units_exec_start_runs_serve_and_exec_reload_reloads_it(
        tmp_path: Path, ports: list[int], daemons: list[Daemon]) -> None:
    service = unit_service()
    assert service["Type"] == "simple"
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "mailrelay" and argv[1:] == ["-c", "/etc/mailrelay", "serve"]
    d = make(tmp_path, ports, daemons, "smtpd_banner = $myhostname ESMTP unit\n")
    # The unit's command line, against this test's configuration.
    proc = subprocess.Popen([MAILRELAY, "-c", str(d.etc), *argv[3:]], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_banner(ports[0], time.monotonic() + 20)
        assert banner_now(ports[0]) == "220 relay.corp.local ESMTP unit\r\n"
        reload_argv = [a.replace("$MAINPID", str(proc.pid))
                       for a in shlex.split(service["ExecReload"])]
        assert subprocess.run(reload_argv, check=False).returncode == 0
        d.wait_for_log(r"postfix/master\[\d+\]: reload -- version ")
        # KillMode=mixed: systemd's stop is a SIGTERM to the master alone.
        assert service["KillMode"] == "mixed"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(40) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
