"""Syslog datagrams as glibc's syslog(3) sends Postfix's lines (tests/golden/debug_peer/)."""

from __future__ import annotations

import ast
import io
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.maillog.syslog import (
    FACILITIES,
    LOG_CRIT,
    LOG_ERR,
    LOG_INFO,
    LOG_WARNING,
    SOCKET_ENV,
    Syslog,
    facility_of,
    severity,
)
from mailrelay.util.diagnostic import Fatal

GOLDEN = Path(__file__).parents[2] / "golden" / "debug_peer"


def config(text: str) -> Config:
    return Config(parse_main_cf(text, "main.cf"), "/etc/mailrelay")


def golden_datagrams() -> dict[str, bytes]:
    found = {}
    for line in (GOLDEN / "syslog_datagrams.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, literal = line.partition("\t")
            found[name] = ast.literal_eval(literal)
    return found


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """AF_UNIX paths must fit in 108 bytes; pytest's tmp_path may not."""
    path = Path(tempfile.mkdtemp(prefix="mrsl", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_every_facility_postfix_accepts_is_known_and_no_other() -> None:
    for line in (GOLDEN / "facilities.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, status = line.split()
            assert (name in FACILITIES) is (status == "0"), name


def test_the_facility_codes_are_syslogs() -> None:
    assert facility_of(config("")) == 2  # mail
    assert facility_of(config("syslog_facility = local3\n")) == 19


def test_a_bad_facility_is_fatal_naming_the_parameter_and_its_line() -> None:
    with pytest.raises(Fatal) as caught:
        facility_of(config("myhostname = x\nsyslog_facility = LOCAL3\n"))
    assert caught.value.text == "parameter syslog_facility: unrecognized value: LOCAL3"
    assert caught.value.parameter == "syslog_facility"
    assert "main.cf" in str(caught.value) and "2" in str(caught.value.origin)


@pytest.mark.parametrize(("text", "level"), [
    ("warning: x", LOG_WARNING), ("error: x", LOG_ERR), ("fatal: x", LOG_CRIT),
    ("panic: x", LOG_CRIT), ("connect from x", LOG_INFO), ("Q1: warning: x", LOG_INFO),
])
def test_the_priority_follows_postfixs_severity_prefix(text: str, level: int) -> None:
    assert severity(text) == level


def shape(datagram: bytes) -> bytes:
    """The datagram with its time stamp and pid made neutral."""
    stamped = re.sub(rb"^(<\d+>)[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ", rb"\1STAMP ", datagram)
    return re.sub(rb"\[\d+\]: ", b"[PID]: ", stamped)


@pytest.mark.parametrize("kind", ["warning", "error", "fatal"])
def test_datagrams_have_the_form_postfix_sends(kind: str) -> None:
    expected = golden_datagrams()[kind]
    text = expected.split(b"]: ", 1)[1].decode()
    ours = Syslog("postfix", 19).datagram("test", text)
    assert shape(ours) == shape(expected)


def test_the_bad_facility_datagram_is_at_mail_crit() -> None:
    expected = golden_datagrams()["bogus"]
    text = expected.split(b"]: ", 1)[1].decode()
    assert shape(Syslog("postfix", 2).datagram("postlog", text)) == shape(expected)


def test_lines_reach_a_bound_socket_one_datagram_each(short_dir: Path) -> None:
    path = short_dir / "log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        log = Syslog("postfix-out", 2, str(path))
        assert log.send("smtpd", "connect from localhost[127.0.0.1]")
        assert log.send("smtp", "warning: something")
        first, second = sock.recv(4096), sock.recv(4096)
        log.close()
    assert re.fullmatch(rb"<22>\w{3} [ \d]\d \d\d:\d\d:\d\d postfix-out/smtpd\[\d+\]: "
                        rb"connect from localhost\[127\.0\.0\.1\]", first)
    assert second.startswith(b"<20>")
    assert second.endswith(f"postfix-out/smtp[{os.getpid()}]: warning: something".encode())


def test_the_socket_path_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SOCKET_ENV, "/tmp/elsewhere")
    assert Syslog("postfix", 2).path == "/tmp/elsewhere"
    monkeypatch.delenv(SOCKET_ENV)
    assert Syslog("postfix", 2).path == "/dev/log"


def test_a_missing_syslog_daemon_warns_once_and_refuses_lines(short_dir: Path) -> None:
    warnings = io.StringIO()
    log = Syslog("postfix", 2, str(short_dir / "absent"), warnings=warnings)
    assert not log.send("smtpd", "one")
    assert not log.send("smtpd", "two")
    assert warnings.getvalue() == (f"postfix: warning: cannot send to syslog socket "
                                   f"{short_dir / 'absent'}: log lines go to stderr only\n")


def test_a_restarted_syslog_daemon_is_reconnected(short_dir: Path) -> None:
    path = short_dir / "log"
    log = Syslog("postfix", 2, str(path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        assert log.send("smtpd", "before")
    path.unlink()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        assert log.send("smtpd", "after")
        assert sock.recv(4096).endswith(b": after")
