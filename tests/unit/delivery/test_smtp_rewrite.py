"""The smtp client's output rewriting: generic maps, smtp_header_checks, smtp_body_checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrelay.cleanup.address_map import CleanupDefer
from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.delivery.smtp_rewrite import OutputRewrite

GOLDEN = Path(__file__).parents[2] / "golden" / "rewriting"
BASE = "myorigin = corp.local\nmydestination = relay.corp.local, localhost\n"


def rewrite(extra: str) -> OutputRewrite:
    return OutputRewrite.from_config(
        Config(parse_main_cf(BASE + extra, "main.cf"), "/etc/mailrelay"))


def regexp(tmp_path: Path, *rules: str) -> str:
    path = tmp_path / f"checks{len(list(tmp_path.iterdir()))}"
    path.write_text("".join(f"{rule}\n" for rule in rules))
    return f"regexp:{path}"


def test_nothing_configured_sends_the_queued_message_unchanged() -> None:
    out = rewrite("").apply("Q", "a@x", ["b@y"], b"From: a@x\r\n\r\nbody\r\n", print)
    assert (out.content, out.sender, out.recipients) == (
        b"From: a@x\r\n\r\nbody\r\n", "a@x", {"b@y": "b@y"})


def test_generic_maps_envelope_and_headers_but_not_the_body() -> None:
    out = rewrite(f"smtp_generic_maps = regexp:{GOLDEN}/generic_regexp\n").apply(
        "Q", "root@localhost", ["alice@srv3.corp.local", "bob@example.com"],
        b"From: root@localhost\r\nSubject: root@localhost\r\n\r\nroot@localhost\r\n", print)
    assert out.sender == "admin@corp.com"
    assert out.recipients == {"alice@srv3.corp.local": "alice@corp.com",
                              "bob@example.com": "bob@example.com"}
    assert out.content == (b"From: admin@corp.com\r\nSubject: root@localhost\r\n\r\n"
                           b"root@localhost\r\n")


def test_header_checks_ignore_replace_prepend_and_warn_with_their_log_lines(
        tmp_path: Path) -> None:
    table = regexp(tmp_path, "/^X-Secret:/ IGNORE", "/^From:/ REPLACE From: n@corp.com",
                   "/^Subject:/ PREPEND X-Seen: yes", "/^To:/ WARN look")
    log: list[str] = []
    out = rewrite(f"smtp_header_checks = {table}\n").apply(
        "Q1", "a@x", ["b@y"],
        b"X-Secret: 1\r\n 2\r\nFrom: a@x\r\nSubject: s\r\nTo: b@y\r\n\r\nbody\r\n", log.append)
    assert out.content == (b"From: n@corp.com\r\nX-Seen: yes\r\nSubject: s\r\nTo: b@y\r\n"
                           b"\r\nbody\r\n")
    assert log == ["Q1: replace: header From: a@x: From: n@corp.com",
                   "Q1: prepend: header Subject: s: X-Seen: yes",
                   "Q1: warning: header To: b@y: look"]


def test_body_checks_see_body_lines_only_and_never_an_empty_line(tmp_path: Path) -> None:
    # An empty key is never looked up (Postfix's maps_find() returns "not found" for it).
    log: list[str] = []
    table = regexp(tmp_path, "/secret/ REPLACE [removed]", "/^$/ WARN")
    out = rewrite(f"smtp_body_checks = {table}\n").apply("Q", "a@x", ["b@y"],
                          b"Subject: secret\r\n\r\nthe secret\r\n\r\nend\r\n", log.append)
    assert out.content == b"Subject: secret\r\n\r\n[removed]\r\n\r\nend\r\n"
    assert log == ["Q: replace: body the secret: [removed]"]


def test_actions_that_change_the_delivery_are_not_available_on_the_way_out(
        tmp_path: Path) -> None:
    log: list[str] = []
    table = regexp(tmp_path, "/^Subject:/ REJECT no")
    out = rewrite(f"smtp_header_checks = {table}\n").apply(
        "Q", "a@x", ["b@y"], b"Subject: s\r\n\r\n", log.append)
    assert out.content == b"Subject: s\r\n\r\n"
    assert log == ["warning: unsupported command in smtp_header_checks map: REJECT no"]


def test_a_table_that_cannot_be_opened_defers_the_delivery(tmp_path: Path) -> None:
    with pytest.raises(CleanupDefer, match="smtp_generic_maps map lookup problem"):
        rewrite(f"smtp_generic_maps = hash:{tmp_path}/absent\n").apply(
            "Q", "a@x", ["b@y"], b"\r\n", print)


def test_smtp_header_mime_header_and_body_checks_edit_and_log_as_postfix_did() -> None:
    where = GOLDEN / "smtp_checks"
    log: list[str] = []
    content = (where / "s1.in.eml").read_bytes() + b"\r\n"
    out = rewrite(f"smtp_header_checks = regexp:{where}/smtp_hc\n"
                  f"smtp_body_checks = regexp:{where}/smtp_bc\n"
                  f"smtp_mime_header_checks = regexp:{where}/smtp_mhc\n").apply(
        "13DFB20E401", "a@corp.local", ["x@example.com"], content, log.append)
    postfix = (where / "s1.ref.eml").read_bytes()
    # Postfix's queue file had Received:, Message-Id: and Date: that this input has not.
    for prefix in (b"Received:", b"\t", b"Message-Id:", b"Date:"):
        postfix = b"".join(line for line in postfix.splitlines(keepends=True)
                           if not line.startswith(prefix))
    assert out.content == postfix
    expected = [line.split(": ", 1)[1] for line in
                (where / "maillog.ref").read_text().splitlines()
                if "13DFB20E401: to=" not in line and "1EAAB20E401" not in line]
    assert log == expected
