"""Without maillog_file, ``mailrelay serve`` logs to syslog as Postfix does: one datagram per
line, ``<PRI>Mmm dd hh:mm:ss syslog_name/daemon[pid]: text`` (tests/golden/debug_peer/
syslog_datagrams.txt), with stderr still getting the lines; no syslog daemon stops nothing.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon import MAILRELAY, Daemon, free_ports

S = "inet n - n - - smtpd"
STAMP = r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"


@pytest.fixture
def syslog_dir() -> Iterator[Path]:
    """A short directory: an AF_UNIX path must fit in 108 bytes, pytest's tmp_path may not."""
    path = Path(tempfile.mkdtemp(prefix="mrsyslog", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def receive(sock: socket.socket, pattern: str, timeout: float = 20) -> list[bytes]:
    """Datagrams until one matches *pattern*; every datagram received so far."""
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(65536))
        except TimeoutError:
            break
        if re.search(pattern.encode(), got[-1]):
            return got
    raise AssertionError(f"no datagram matches {pattern!r}: {got!r}")


def serve(tmp_path: Path, running: list[Daemon], main_cf: str, socket_path: Path) -> Daemon:
    [port] = free_ports(1)
    d = Daemon(tmp_path, "maillog_file =\n" + main_cf, f"127.0.0.1:{port} {S}\n", [port],
               workers=1, env={"MAILRELAY_SYSLOG_SOCKET": str(socket_path)})
    running.append(d.start())
    return d


def test_lines_go_to_syslog_with_postfixs_ident_facility_and_priority(
        tmp_path: Path, syslog_dir: Path, running: list[Daemon]) -> None:
    path = syslog_dir / "log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        d = serve(tmp_path, running, "syslog_facility = local3\n"
                                     "smtpd_tls_security_level = may\n", path)
        got = receive(sock, r"connect from localhost\[127\.0\.0\.1\]$")
    # local3 (19) * 8 + LOG_WARNING (4) = 156; + LOG_INFO (6) = 158.
    warning = [g for g in got if b"TLS is enabled" in g]
    assert warning and re.fullmatch(
        rf"<156>{STAMP} postfix/smtpd\[\d+\]: warning: TLS is enabled but no "
        r"smtpd_tls_cert_file is set: .*", warning[0].decode())
    assert re.fullmatch(rf"<158>{STAMP} postfix/smtpd\[\d+\]: connect from "
                        r"localhost\[127\.0\.0\.1\]", got[-1].decode())
    assert not (tmp_path / "maillog").exists()
    assert re.search(r"postfix/smtpd\[\d+\]: connect from localhost\[127\.0\.0\.1\]",
                     d.log())  # serve's stderr, as before


def test_without_a_syslog_daemon_serve_runs_and_logs_to_stderr(
        tmp_path: Path, syslog_dir: Path, running: list[Daemon]) -> None:
    d = serve(tmp_path, running, "", syslog_dir / "nobody-listens")
    deadline = time.monotonic() + 20
    while "connect from localhost[127.0.0.1]" not in d.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "connect from localhost[127.0.0.1]" in d.log()
    assert f"cannot send to syslog socket {syslog_dir / 'nobody-listens'}" in d.log()
    assert d.proc is not None and d.proc.poll() is None


def test_a_bad_syslog_facility_stops_serve_naming_the_parameter_and_line(
        tmp_path: Path, syslog_dir: Path) -> None:
    [port] = free_ports(1)
    d = Daemon(tmp_path, "maillog_file =\nsyslog_facility = LOCAL3\n", f"127.0.0.1:{port} {S}\n",
               [port], workers=1)
    done = subprocess.run([MAILRELAY, "-c", str(d.etc), "serve", "--workers", "1"],
                          capture_output=True, text=True, timeout=30,
                          env={**d.env, "MAILRELAY_SYSLOG_SOCKET": str(syslog_dir / "log")})
    assert done.returncode != 0
    assert re.search(r"fatal: .*main\.cf, line \d+: parameter syslog_facility: unrecognized "
                     r"value: LOCAL3", done.stderr)
