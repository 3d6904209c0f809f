"""The relay guide's rewriting examples, end to end: client → ``mailrelay serve`` → smarthost.

Each test sends the messages of tests/golden/rewriting (``m*.in.eml``) with the guide's
tables and compares the bytes the smarthost receives (envelope and content) with what a
real Postfix 3.7.11 sent with the same configuration (``*.ref.eml``, ``*.ref.json``; see the
README there).  Ports are from this area's range (3410-3449).
"""

from __future__ import annotations

import json
import re
import shutil
import smtplib
import subprocess
from pathlib import Path

import pytest

from tests.e2e.daemon import MAILRELAY, Daemon
from tests.e2e.smarthost import SmartHost

GOLDEN = Path(__file__).parent.parent / "golden" / "rewriting"
S = "inet n - n - - smtpd"
RELAY_PORT, SMARTHOST_PORT = 3410, 3411

#: What differs from run to run: the added Message-Id and Date, the queue ID and time in
#: Received:.
VARYING = [
    (re.compile(rb"^Message-Id: <[^@]+@", re.M), b"Message-Id: <X@"),
    (re.compile(rb"^Date: .*$", re.M), b"Date: X"),
    (re.compile(rb" id [0-9A-Za-z]+(?=;|\r\n)"), b" id X"),
    (re.compile(rb"[A-Z][a-z]{2}, \d+ [A-Z][a-z]{2} \d{4} [0-9:]+ [+-]\d{4} \(UTC\)"), b"X"),
]


def stable(content: bytes) -> bytes:
    for pattern, replacement in VARYING:
        content = pattern.sub(replacement, content)
    return content




def tables(tmp_path: Path, *names: str) -> Path:
    """The guide's tables, copied; the hash ones built with ``mailrelay postmap``."""
    where = tmp_path / "tables"
    where.mkdir(exist_ok=True)
    for name in names:
        target = where / Path(name).name
        shutil.copy(GOLDEN / name, target)
        if target.name in ("generic", "sender_canonical", "virtual"):
            subprocess.run([MAILRELAY, "postmap", f"hash:{target}"], check=True, timeout=60)
    return where


def start(tmp_path: Path, running: list[Daemon | SmartHost], main_cf: str) -> SmartHost:
    host = SmartHost(tmp_path, SMARTHOST_PORT, keywords=["PIPELINING", "8BITMIME"])
    running.append(host.start())
    relay = Daemon(tmp_path, f"relayhost = [127.0.0.1]:{SMARTHOST_PORT}\n" + main_cf,
                   f"127.0.0.1:{RELAY_PORT} {S}\n", [RELAY_PORT], workers=1, deliver=True)
    running.append(relay.start())
    return host


def send(sender: str, recipient: str, message: str) -> None:
    """As swaks sent the oracle's messages: EHLO app1.corp.local, the file, an extra CRLF."""
    data = (GOLDEN / message).read_bytes() + b"\r\n"
    with smtplib.SMTP("127.0.0.1", RELAY_PORT, timeout=10) as client:
        client.ehlo("app1.corp.local")
        client.sendmail(sender, [recipient], data)


def received(host: SmartHost, count: int) -> dict[str, tuple[dict[str, object], bytes]]:
    """The messages the smarthost got, by subject."""
    got = host.wait_for(count)
    by_subject = {}
    for envelope, content in got:
        found = re.search(rb"^Subject: (.*)\r$", content, re.M)
        assert found is not None
        by_subject[found.group(1).decode()] = (envelope, content)
    return by_subject


def reference(name: str) -> tuple[dict[str, object], bytes]:
    envelope = json.loads((GOLDEN / f"{name}.ref.json").read_text())
    return envelope, (GOLDEN / f"{name}.ref.eml").read_bytes()


def assert_same(got: tuple[dict[str, object], bytes], name: str) -> None:
    envelope, content = reference(name)
    assert got[0]["mail"] == envelope["mail"]
    assert got[0]["rcpts"] == envelope["rcpts"]
    assert stable(got[1]) == stable(content)


def test_the_guides_generic_hash_sender_canonical_and_header_checks_give_postfixs_bytes(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    where = tables(tmp_path, "generic", "sender_canonical", "header_checks")
    host = start(tmp_path, running, f"smtp_generic_maps = hash:{where}/generic\n"
                 f"sender_canonical_maps = hash:{where}/sender_canonical\n"
                 f"smtp_header_checks = regexp:{where}/header_checks\n")
    send("root@relay.corp.local", "user@example.com", "m1.in.eml")
    send("www-data", "backup@srv1.corp.local", "m3.in.eml")
    got = received(host, 2)
    assert_same(got["guide 1"], "hash-m1")
    assert_same(got["guide 3"], "hash-m3")


def test_the_guides_generic_regexp_maps_envelope_and_headers_with_the_captured_group(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    where = tables(tmp_path, "generic_regexp", "header_checks")
    host = start(tmp_path, running, f"smtp_generic_maps = regexp:{where}/generic_regexp\n"
                 f"smtp_header_checks = regexp:{where}/header_checks\n")
    send("root@localhost", "alice@srv3.corp.local", "m2.in.eml")
    send("svc@srv7.corp.local", "someone@example.com", "m4.in.eml")
    send("root@srv1.corp.local", "someone@example.com", "m5.in.eml")
    got = received(host, 3)
    assert_same(got["guide 2"], "regexp-m2")
    assert_same(got["guide 4"], "regexp-m4")
    assert_same(got["fold"], "regexp-m5")


def test_a_replaced_header_is_logged_as_postfix_logs_it(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    where = tables(tmp_path, "header_checks")
    start(tmp_path, running, f"smtp_header_checks = regexp:{where}/header_checks\n")
    send("root@localhost", "alice@srv3.corp.local", "m2.in.eml")
    relay = running[-1]
    assert isinstance(relay, Daemon)
    [line] = relay.wait_for_log(r": replace: header From:")
    assert line.endswith('replace: header From: Cron Daemon <root@localhost>: '
                         'From: "Server Notifications" <noreply@corp.com>')


ACTIONS = GOLDEN / "actions"


def send_action(name: str) -> None:
    data = (ACTIONS / f"{name}.eml").read_bytes() + b"\r\n"
    with smtplib.SMTP("127.0.0.1", RELAY_PORT, timeout=10) as client:
        client.ehlo("app1.corp.local")
        client.sendmail("a@corp.local", ["x@example.com"], data)


def test_header_and_body_check_actions_change_what_the_smarthost_gets_as_in_postfix(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    host = start(tmp_path, running, f"header_checks = regexp:{ACTIONS}/actions_header\n"
                 f"body_checks = regexp:{ACTIONS}/actions_body\n")
    for name in ("hold-me", "discard-me", "redirect-me", "bcc-me", "prepend-me",
                 "replace-body", "warn-me"):
        send_action(name)
    got = received(host, 5)
    assert set(got) == {"redirect me", "bcc me", "prepend me", "replace body", "warn me"}
    for subject, number in (("redirect me", 9), ("bcc me", 10), ("prepend me", 13),
                            ("replace body", 19), ("warn me", 8)):
        envelope = json.loads((ACTIONS / f"smarthost-{number}.json").read_text())
        content = (ACTIONS / f"smarthost-{number}.eml").read_bytes()
        assert got[subject][0]["rcpts"] == envelope["rcpts"]
        assert without_received(got[subject][1]) == without_received(content)
    relay = running[-1]
    assert isinstance(relay, Daemon)
    held = list((relay.spool / "hold").iterdir())
    assert len(held) == 1


def without_received(content: bytes) -> bytes:
    content = re.sub(rb"^Received:.*\r\n(?:[ \t].*\r\n)*", b"", content, flags=re.M)
    return stable(content)


def test_a_header_checks_table_that_cannot_be_opened_defers_the_message_as_postfix(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    start(tmp_path, running, f"header_checks = regexp:{tmp_path}/nonexistent\n")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send_action("warn-me")
    expected = (GOLDEN / "missing-table.reply.ref").read_text().strip()
    assert f"{refused.value.smtp_code} {refused.value.smtp_error.decode()}" == expected


def test_masquerade_domains_with_an_exception_and_a_kept_user_give_postfixs_bytes(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    host = start(tmp_path, running, "masquerade_domains = !srv9.corp.local, corp.local\n"
                 "masquerade_exceptions = root\n")
    send("alice@srv1.corp.local", "bob@srv2.corp.local", "masquerade/q1.in.eml")
    [got] = received(host, 1).values()
    assert_same(got, "masquerade/q1")


def test_virtual_aliases_expand_recursively_keep_self_references_and_extensions(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    where = tables(tmp_path, "virtual/virtual")
    host = start(tmp_path, running, f"virtual_alias_maps = hash:{where}/virtual\n"
                 "recipient_delimiter = +\n")
    data = (GOLDEN / "virtual" / "q2.in.eml").read_bytes() + b"\r\n"
    with smtplib.SMTP("127.0.0.1", RELAY_PORT, timeout=10) as client:
        client.ehlo("app1.corp.local")
        client.sendmail("root@srv1.corp.local", [
            "sales@example.com", "loop@example.com", "any@vdomain.example",
            "ext+tag@example.com", "plain@example.net"], data)
    [(envelope, content)] = received(host, 1).values()
    expected, postfix = reference("virtual/q2")
    # The order of RCPT TO is the queue manager's (Postfix sorts): compare the sets.
    assert sorted(envelope["rcpts"]) == sorted(expected["rcpts"])  # type: ignore[arg-type]
    assert envelope["mail"] == expected["mail"]
    assert stable(content) == stable(postfix)


def test_smtp_header_mime_header_and_body_checks_change_only_what_is_sent(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    where = GOLDEN / "smtp_checks"
    host = start(tmp_path, running, f"smtp_header_checks = regexp:{where}/smtp_hc\n"
                 f"smtp_body_checks = regexp:{where}/smtp_bc\n"
                 f"smtp_mime_header_checks = regexp:{where}/smtp_mhc\n")
    send("a@corp.local", "x@example.com", "smtp_checks/s1.in.eml")
    [(_envelope, content)] = received(host, 1).values()
    assert stable(content) == stable((where / "s1.ref.eml").read_bytes())
    relay = running[-1]
    assert isinstance(relay, Daemon)
    relay.wait_for_log(r": warning: body warnline: saw it$")
    relay.wait_for_log(r"warning: unsupported command in smtp_header_checks map: REJECT no way")
