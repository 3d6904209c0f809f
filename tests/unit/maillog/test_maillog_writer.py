"""MailLog: maillog_file or syslog, stderr under serve, and the daemons' loggers."""

from __future__ import annotations

import io
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.maillog.syslog import SOCKET_ENV
from mailrelay.maillog.writer import DaemonLog, MailLog

STAMP = r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"


def config(text: str) -> Config:
    return Config(parse_main_cf("myhostname = relay.corp.local\n" + text, "main.cf"),
                  "/etc/mailrelay")


@pytest.fixture
def syslog_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    directory = Path(tempfile.mkdtemp(prefix="mrw", dir="/tmp"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(directory / "log"))
    sock.settimeout(5)
    monkeypatch.setenv(SOCKET_ENV, str(directory / "log"))
    yield sock
    sock.close()
    shutil.rmtree(directory, ignore_errors=True)


def test_without_maillog_file_lines_go_to_syslog_and_the_stream(
        syslog_socket: socket.socket) -> None:
    stream = io.StringIO()
    log = MailLog.from_config(config("syslog_facility = local0\n"), stream=stream)
    log.logger("smtpd")("connect from localhost[127.0.0.1]")
    assert syslog_socket.recv(4096).startswith(b"<134>")
    assert re.fullmatch(rf"{STAMP} relay postfix/smtpd\[\d+\]: connect from "
                        r"localhost\[127\.0\.0\.1\]\n", stream.getvalue())
    log.close()


def test_with_maillog_file_nothing_goes_to_syslog(
        tmp_path: Path, syslog_socket: socket.socket) -> None:
    path = tmp_path / "maillog"
    log = MailLog.from_config(config(f"maillog_file = {path}\n"
                                     f"maillog_file_prefixes = {tmp_path}\n"))
    log.write("qmgr", "warning: x")
    log.close()
    assert re.fullmatch(rf"{STAMP} relay postfix/qmgr\[\d+\]: warning: x\n", path.read_text())
    syslog_socket.settimeout(0.2)
    with pytest.raises(TimeoutError):
        syslog_socket.recv(4096)


def test_without_a_syslog_daemon_the_stream_gets_lines_and_one_warning(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SOCKET_ENV, str(tmp_path / "absent"))
    stream = io.StringIO()
    log = MailLog.from_config(config(""), stream=stream)
    log.write("pickup", "one")
    log.write("pickup", "two")
    lines = stream.getvalue().splitlines()
    assert lines[0] == (f"postfix: warning: cannot send to syslog socket {tmp_path / 'absent'}: "
                        "log lines go to stderr only")
    assert lines[1].endswith(": one") and lines[2].endswith(": two") and len(lines) == 3


def test_without_a_syslog_daemon_or_stream_lines_are_dropped_quietly(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(SOCKET_ENV, str(tmp_path / "absent"))
    MailLog.from_config(config("")).write("postfix-script", "fatal: x")
    assert capsys.readouterr() == ("", "")


def test_a_quiet_maillog_writes_nowhere(capsys: pytest.CaptureFixture[str]) -> None:
    MailLog("postfix", "localhost", None).write("smtpd", "nothing")
    assert capsys.readouterr() == ("", "")


def test_a_daemons_logger_writes_its_lines_and_carries_debug_peer_list(
        syslog_socket: socket.socket) -> None:
    seen: list[tuple[str, str]] = []
    log = MailLog.from_config(config("debug_peer_list = 192.0.2.0/24\n"))
    log.tap = lambda daemon, text: seen.append((daemon, text))
    smtp = log.logger("relay/smtp")
    assert isinstance(smtp, DaemonLog)
    smtp("hello")
    assert seen == [("relay/smtp", "hello")]
    assert smtp.debug_peers is not None and smtp.debug_peers.match("unknown", "192.0.2.9")
    assert MailLog.from_config(config("")).logger("smtpd").debug_peers is None
