"""MIME-aware content checks end to end: client → ``mailrelay serve`` → smarthost.

The messages of tests/golden/mime_checks (a multipart with an attached message/rfc822 that
is itself multipart; a PASS sample) are sent as swaks sent them to a real Postfix 3.7.11,
with the same tables; the smarthost must get Postfix's bytes and the maillog must hold
Postfix's check lines, in Postfix's order (see the README there).  Ports 26210-26211.
"""

from __future__ import annotations

import re
import shutil
import smtplib
from pathlib import Path

from tests.e2e.daemon import Daemon
from tests.e2e.smarthost import SmartHost
from tests.e2e.test_rewriting import stable

GOLDEN = Path(__file__).parent.parent / "golden" / "mime_checks"
S = "inet n - n - - smtpd"
RELAY_PORT, SMARTHOST_PORT = 26210, 26211
CHECK_LINE = re.compile(r"postfix/(cleanup|smtp)\[\d+\]: (?:[0-9A-Z]+: )?"
                        r"((?:warning|replace|prepend|pass): (?:header|body) .*)$")
#: Header fields whose text changes from run to run (cleanup and Postfix add them).
OWN = (" header Received: ", " header Message-Id: ", " header Date: ")


def start(tmp_path: Path, running: list[Daemon | SmartHost], main_cf: str) -> tuple[
        Daemon, SmartHost]:
    where = tmp_path / "tables"
    where.mkdir()
    for table in GOLDEN.iterdir():
        if "." not in table.name:
            shutil.copy(table, where / table.name)
    host = SmartHost(tmp_path, SMARTHOST_PORT, keywords=["PIPELINING", "8BITMIME"])
    running.append(host.start())
    relay = Daemon(tmp_path, f"relayhost = [127.0.0.1]:{SMARTHOST_PORT}\n"
                   + main_cf.format(t=where), f"127.0.0.1:{RELAY_PORT} {S}\n", [RELAY_PORT],
                   workers=1, deliver=True)
    running.append(relay.start())
    return relay, host


def send(message: str) -> None:
    """As swaks sent the oracle's messages: EHLO app1.corp.local, the file, an extra CRLF."""
    data = (GOLDEN / message).read_bytes() + b"\r\n"
    with smtplib.SMTP("127.0.0.1", RELAY_PORT, timeout=10) as client:
        client.ehlo("app1.corp.local")
        client.sendmail("a@corp.local", ["x@example.com"], data)


def check_lines(log: str) -> list[tuple[str, str]]:
    """(program, the check line without queue ID) of a maillog, run-varying fields left out."""
    found = []
    for line in log.splitlines():
        match = CHECK_LINE.search(line)
        if match is not None and not any(own in line for own in OWN):
            found.append((match.group(1), match.group(2)))
    return found


WARN_ALL = ("header_checks = regexp:{t}/header\nmime_header_checks = regexp:{t}/mime\n"
            "nested_header_checks = regexp:{t}/nested\nbody_checks = regexp:{t}/body\n"
            "smtp_header_checks = regexp:{t}/smtp_header\n"
            "smtp_mime_header_checks = regexp:{t}/smtp_mime\n"
            "smtp_nested_header_checks = regexp:{t}/smtp_nested\n"
            "smtp_body_checks = regexp:{t}/smtp_body\n")


def test_every_table_sees_the_lines_postfix_gave_it_and_logs_as_postfix(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    relay, host = start(tmp_path, running, WARN_ALL)
    send("m1.eml")
    [(_envelope, content)] = host.wait_for(1)
    assert stable(content) == stable((GOLDEN / "default-m1.smarthost.eml").read_bytes())
    relay.wait_for_log(r"warning: body epilogue line: smtp_body$")
    expected = check_lines((GOLDEN / "default-m1.maillog.ref").read_text())
    assert check_lines(relay.maillog()) == expected


def test_pass_stops_cleanups_inspection_and_the_message_goes_on(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    relay, host = start(tmp_path, running, WARN_ALL)
    send("p1.eml")
    [(_envelope, content)] = host.wait_for(1)
    assert b"\r\nSubject: after pass\r\n" in content
    relay.wait_for_log(r"warning: body body after pass: smtp_body$")
    got = [line for prog, line in check_lines(relay.maillog()) if prog == "cleanup"]
    expected = [line for prog, line in check_lines(
        (GOLDEN / "pass-p1.maillog.ref").read_text()) if prog == "cleanup"]
    assert got == expected


def test_actions_in_part_and_nested_headers_and_the_body_edit_what_is_sent(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    relay, host = start(tmp_path, running, "mime_header_checks = regexp:{t}/edit_mime\n"
                        "nested_header_checks = regexp:{t}/edit_nested\n"
                        "body_checks = regexp:{t}/edit_body\n")
    send("m1.eml")
    [(_envelope, content)] = host.wait_for(1)
    assert stable(content) == stable((GOLDEN / "edit-cleanup.smarthost.eml").read_bytes())
    relay.wait_for_log(r"warning: body --BOUND-- .*: closing boundary$")
    expected = check_lines((GOLDEN / "edit-cleanup.maillog.ref").read_text())
    assert check_lines(relay.maillog()) == expected
