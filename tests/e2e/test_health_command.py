"""``mailrelay health``: the Nagios plugin's exit status and status line for each state.

The real daemon (paused delivery, so that messages stay queued) and the real command as a
subprocess; the relayhost is tests/e2e/smarthost.py or a port where nothing listens.
"""

from __future__ import annotations

import re
import smtplib
import subprocess
import time
from pathlib import Path

from tests.e2e.daemon import MAILRELAY, Daemon, free_ports
from tests.e2e.smarthost import SmartHost

S = "inet n - n - - smtpd"




def daemon(tmp_path: Path, running: list[Daemon | SmartHost], main_cf: str = "") -> Daemon:
    port = free_ports(1)[0]
    d = Daemon(tmp_path, main_cf, f"127.0.0.1:{port} {S}\n", [port], workers=1)
    running.append(d.start())
    return d


def health(d: Daemon, *args: str) -> tuple[int, str]:
    done = subprocess.run([MAILRELAY, "-c", str(d.etc), "health", *args], capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.count("\n") == 1, done.stdout + done.stderr  # one status line
    return done.returncode, done.stdout.strip()


def send(d: Daemon, count: int) -> None:
    with smtplib.SMTP("127.0.0.1", d.ports[0], timeout=10) as client:
        for n in range(count):
            client.sendmail("alice@corp.local", ["bob@example.com"], f"Subject: {n}\r\n\r\nhi\r\n")


def test_a_running_daemon_with_an_empty_queue_is_ok_with_perfdata(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    d = daemon(tmp_path, running)
    assert health(d, "-w", "50", "-c", "100", "--age-w", "600", "--age-c", "1h") == (
        0, "MAILRELAY OK - 0 messages queued, oldest 0s | queue=0;50;100;0 age=0s;600;3600;0")


def test_a_stopped_daemon_is_critical(tmp_path: Path,
                                      running: list[Daemon | SmartHost]) -> None:
    d = daemon(tmp_path, running)
    d.stop()
    code, line = health(d)
    assert code == 2
    assert line.startswith("MAILRELAY CRITICAL - daemon not running, 0 messages queued")


def test_a_killed_daemon_whose_pid_file_remains_is_critical(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    d = daemon(tmp_path, running)
    d.kill_all()
    assert (d.spool / "pid" / "master.pid").exists()
    code, line = health(d)
    assert (code, line.split(",")[0]) == (2, "MAILRELAY CRITICAL - daemon not running")


def test_the_queue_size_warns_then_is_critical_past_its_thresholds(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    d = daemon(tmp_path, running)
    send(d, 3)
    assert len(d.incoming()) == 3
    assert health(d, "-w", "3", "-c", "5")[0] == 0
    code, line = health(d, "-w", "2", "-c", "5")
    assert code == 1
    assert re.fullmatch(r"MAILRELAY WARNING - 3 messages queued, oldest \d+s \| "
                        r"queue=3;2;5;0 age=\d+s;;;0", line)
    code, line = health(d, "-w", "1", "-c", "2")
    assert (code, line.split(" | ")[1].split()[0]) == (2, "queue=3;1;2;0")


def test_the_oldest_messages_age_warns_then_is_critical_past_its_thresholds(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    d = daemon(tmp_path, running)
    send(d, 1)
    time.sleep(2.2)
    code, line = health(d, "--age-w", "1", "--age-c", "1m")
    assert code == 1
    assert re.fullmatch(r"MAILRELAY WARNING - 1 message queued, oldest [2-9]s \| "
                        r"queue=1;;;0 age=[2-9]s;1;60;0", line)
    assert health(d, "--age-w", "0", "--age-c", "1")[0] == 2
    assert health(d, "--age-w", "1m")[0] == 0


def test_a_relayhost_that_accepts_connections_is_ok(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    port = free_ports(1)[0]
    running.append(SmartHost(tmp_path, port).start())
    d = daemon(tmp_path, running, f"relayhost = [127.0.0.1]:{port}\n")
    for option in ("--smarthost", "--ehlo"):
        code, line = health(d, option)
        assert code == 0, line
        assert f"0 messages queued, oldest 0s, relayhost [127.0.0.1]:{port} answers |" in line
        assert re.search(r" smarthost=\d+\.\d{3}s;;;0$", line)


def test_a_relayhost_where_nothing_listens_is_critical(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    port = free_ports(1)[0]
    d = daemon(tmp_path, running, f"relayhost = [127.0.0.1]:{port}\n")
    code, line = health(d, "--smarthost", "-t", "3")
    assert code == 2
    assert line.startswith(f"MAILRELAY CRITICAL - relayhost unreachable ([127.0.0.1]:{port}: ")


def test_a_relayhost_that_refuses_the_session_is_critical_only_with_ehlo(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    port = free_ports(1)[0]
    rules = [{"stage": "ehlo", "reply": "550 5.7.1 go away"}]
    running.append(SmartHost(tmp_path, port, rules=rules).start())
    d = daemon(tmp_path, running, f"relayhost = [127.0.0.1]:{port}\n")
    assert health(d, "--smarthost")[0] == 0
    code, line = health(d, "--ehlo")
    assert code == 2
    assert "relayhost unreachable" in line and "EHLO answered '550 5.7.1 go away'" in line


def test_the_second_relayhost_counts_when_the_first_is_down(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    down, up = free_ports(2)
    running.append(SmartHost(tmp_path, up).start())
    d = daemon(tmp_path, running, f"relayhost = [127.0.0.1]:{down}, [127.0.0.1]:{up}\n")
    code, line = health(d, "--ehlo")
    assert (code, f"relayhost [127.0.0.1]:{up} answers" in line) == (0, True)


def test_no_relayhost_to_check_is_unknown(tmp_path: Path,
                                         running: list[Daemon | SmartHost]) -> None:
    d = daemon(tmp_path, running, "relayhost =\n")
    code, line = health(d, "--smarthost")
    assert (code, line.split(" | ")[0]) == (
        3, "MAILRELAY UNKNOWN - no relayhost configured, 0 messages queued, oldest 0s")


def test_a_bad_command_line_or_a_missing_queue_is_unknown(tmp_path: Path) -> None:
    d = Daemon(tmp_path, "", "", [0])
    code, line = health(d)
    assert (code, line) == (3, f"MAILRELAY UNKNOWN - chdir {tmp_path}/spool: "
                                "No such file or directory")
    code, line = health(d, "--warning", "many")
    assert code == 3
    assert line.startswith("MAILRELAY UNKNOWN - usage: argument -w/--warning: invalid int")


def test_a_relayhost_whose_banner_refuses_is_critical_with_ehlo(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    port = free_ports(1)[0]
    rules = [{"stage": "connect", "reply": "554 5.3.2 not now"}]
    running.append(SmartHost(tmp_path, port, rules=rules).start())
    d = daemon(tmp_path, running, f"relayhost = [127.0.0.1]:{port}\n")
    code, line = health(d, "--ehlo")
    assert code == 2
    assert f"[127.0.0.1]:{port}: banner '554 5.3.2 not now'" in line
