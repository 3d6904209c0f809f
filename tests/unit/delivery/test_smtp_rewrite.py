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


# --- MIME structure on the way out (tests/golden/mime_checks) ---------------------------

MIME = Path(__file__).parents[2] / "golden" / "mime_checks"
SMTP_WARN_ALL = (f"smtp_header_checks = regexp:{MIME}/smtp_header\n"
                 f"smtp_mime_header_checks = regexp:{MIME}/smtp_mime\n"
                 f"smtp_nested_header_checks = regexp:{MIME}/smtp_nested\n"
                 f"smtp_body_checks = regexp:{MIME}/smtp_body\n")


def smtp_lines(ref: str) -> list[str]:
    """The smtp client's check lines of a capture (the delivery line left out)."""
    return [line.split(": ", 1)[1] for line in (MIME / ref).read_text().splitlines()
            if line.startswith("postfix/smtp[") and " to=<" not in line]


def without_own(lines: list[str]) -> list[str]:
    own = (" header Received: ", " header Message-Id: ", " header Date: ")
    return [line.split(": ", 1)[1] for line in lines if not any(o in line for o in own)]


@pytest.mark.parametrize(("ref", "main_cf"), [
    ("default-m1.maillog.ref", SMTP_WARN_ALL),
    ("disable-mime.maillog.ref", SMTP_WARN_ALL + "disable_mime_input_processing = yes\n"),
    ("size-limit-60.maillog.ref", SMTP_WARN_ALL + "body_checks_size_limit = 60\n"),
])
def test_each_mime_piece_goes_to_the_smtp_table_postfix_used(ref: str, main_cf: str) -> None:
    queued = (MIME / "default-m1.smarthost.eml").read_bytes()  # as smtp read it: unchanged
    expected = smtp_lines(ref)
    queue_id = expected[0].split(":")[0]
    log: list[str] = []
    out = rewrite(main_cf).apply(queue_id, "a@corp.local", ["x@example.com"], queued,
                                 log.append)
    assert out.content == queued
    # Postfix's own Received:, Message-Id: and Date: differ per capture.
    assert without_own(log) == without_own(expected)


def test_smtp_checks_edit_part_nested_and_body_lines_as_postfix_did() -> None:
    main_cf = (f"smtp_mime_header_checks = regexp:{MIME}/edit_smtp_mime\n"
               f"smtp_nested_header_checks = regexp:{MIME}/edit_smtp_nested\n"
               f"smtp_body_checks = regexp:{MIME}/edit_smtp_body\n")
    sent = (MIME / "edit-smtp.smarthost.eml").read_bytes()
    queued = (MIME / "default-m1.smarthost.eml").read_bytes()
    expected = smtp_lines("edit-smtp.maillog.ref")
    queue_id = expected[0].split(":")[0]
    log: list[str] = []
    out = rewrite(main_cf).apply(queue_id, "a@corp.local", ["x@example.com"], queued,
                                 log.append)
    assert log == expected
    header_end = sent.index(b"\r\n\r\n")
    assert out.content[out.content.index(b"\r\n\r\n"):] == sent[header_end:]


def test_pass_is_unsupported_in_smtp_header_checks_and_the_field_is_kept() -> None:
    expected = smtp_lines("pass-smtp.maillog.ref")
    queued = (b"Received: from app1.corp.local (localhost [127.0.0.1])\r\n\tby relay.corp.local"
              b" (Postfix) with ESMTP id C4F292103F5\r\nFrom: a@corp.local\r\n"
              b"To: x@example.com\r\nX-Pass: yes\r\nSubject: after pass\r\n\r\nbody\r\n")
    log: list[str] = []
    out = rewrite(f"smtp_header_checks = regexp:{MIME}/pass_smtp_header\n").apply(
        "C4F292103F5", "a@corp.local", ["x@example.com"], queued, log.append)
    assert out.content == queued
    assert log == expected
