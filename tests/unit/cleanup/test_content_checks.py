"""header_checks and body_checks in cleanup(), against Postfix 3.7's captures.

tests/golden/rewriting/actions: each message was sent through a private Postfix with
``actions_header`` as header_checks and ``actions_body`` as body_checks; ``maillog.ref``
holds cleanup's log lines, ``smarthost-N.eml`` what was delivered (see the README).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from rewriting_support import config

from mailrelay.cleanup.content_checks import ContentRejected, InputChecks, Outcome, reject_text
from mailrelay.cleanup.headers import Arrival
from mailrelay.cleanup.message import Cleaned, cleanup
from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.maps.registry import MapCache

ACTIONS = Path(__file__).parents[2] / "golden" / "rewriting" / "actions"
#: In the order they were sent, with the smarthost file of those that were delivered.
SENT = [("reject-me", None), ("reject-dsn", None), ("warn-me", 8), ("hold-me", None),
        ("discard-me", None), ("redirect-me", 9), ("bcc-me", 10), ("filter-me", 11),
        ("info-me", 12), ("prepend-me", 13), ("replace-me", 14), ("unknown-me", 15),
        ("dunno-me", 16), ("ok-me", 17), ("reject-body", None), ("warn-body", 18),
        ("replace-body", 19), ("ignore-body", 20)]
_QID = re.compile(r"^[0-9A-F]{11}: ")


def postfix_logs() -> list[list[str]]:
    """cleanup's lines of each message (message-id lines left out), queue ID as QID."""
    groups: dict[str, list[str]] = {}
    pending: list[str] = []
    for line in (ACTIONS / "maillog.ref").read_text().splitlines():
        if not line.startswith("postfix/cleanup"):
            continue
        text = line.split(": ", 1)[1]
        qid = _QID.match(text)
        if qid is None:
            pending.append(text)
            continue
        group = groups.setdefault(qid.group(0), [])
        group += pending
        pending = []
        if "message-id=" not in text:
            group.append("QID: " + text[qid.end():])
    return list(groups.values())


def run(name: str) -> Cleaned:
    settings = CleanupSettings.from_config(config(
        f"header_checks = regexp:{ACTIONS}/actions_header\n"
        f"body_checks = regexp:{ACTIONS}/actions_body\n"))
    arrival = Arrival("QID", time.time(), "app1.corp.local", "localhost", "127.0.0.1",
                      "ESMTP", ("x@example.com",))
    content = (ACTIONS / f"{name}.eml").read_bytes() + b"\r\n"  # swaks's extra line end
    return cleanup(content, "a@corp.local", ("x@example.com",), arrival, b"", settings,
                   local_context=True)


def without_varying(content: bytes) -> bytes:
    """Content without Received: (cleanup gets it from smtpd), Message-Id: and Date:."""
    content = re.sub(rb"^Received:.*\r\n(?:[ \t].*\r\n)*", b"", content, flags=re.M)
    return re.sub(rb"^(?:Message-Id|Date):.*\r\n", b"", content, flags=re.M)


@pytest.mark.parametrize(("index", "name", "delivered"),
                         [(i, n, d) for i, (n, d) in enumerate(SENT)])
def test_each_action_logs_and_edits_as_postfix_did(index: int, name: str,
                                                   delivered: int | None) -> None:
    cleaned = run(name)
    assert cleaned.checks is not None
    assert cleaned.checks.log == postfix_logs()[index]
    if delivered is not None:
        postfix = (ACTIONS / f"smarthost-{delivered}.eml").read_bytes()
        assert without_varying(cleaned.content) == without_varying(postfix)


def outcome(name: str) -> Outcome:
    found = run(name).checks
    assert found is not None
    return found


def test_reject_hold_discard_redirect_bcc_and_filter_are_decided_for_the_queue() -> None:
    assert outcome("reject-me").reject == "5.7.1 Not wanted here"
    assert outcome("reject-dsn").reject == "5.7.9 Custom code"
    assert outcome("reject-body").reject == "5.7.1 body not wanted"
    assert outcome("hold-me").hold == "held for review"
    assert outcome("discard-me").discard
    assert outcome("redirect-me").redirect == "other@example.net"
    assert outcome("bcc-me").bcc == ["archive@example.net"]
    assert outcome("filter-me").filter == "smtp:[127.0.0.1]:3401"
    assert outcome("warn-me") == Outcome(log=outcome("warn-me").log)


def test_a_rejection_carries_its_enhanced_code_and_text_for_the_reply() -> None:
    error = ContentRejected(reject_text("Not wanted here"))
    assert (error.dsn, error.text) == ("5.7.1", "Not wanted here")
    assert reject_text("4.7.0 later") == "4.7.0 later"
    assert reject_text("") == "5.7.1 Message content rejected"


def test_no_checks_configured_means_no_checks_stage() -> None:
    assert InputChecks.from_config(config(), MapCache()) is None


def test_a_long_header_is_inspected_whole_then_cut_at_header_size_limit() -> None:
    size = ACTIONS.parent / "size"
    settings = CleanupSettings.from_config(config(
        f"header_checks = regexp:{size}/size_hc\nheader_size_limit = 30\n"))
    arrival = Arrival("8FC8A20E4B6", time.time(), "app1.corp.local", "localhost",
                      "127.0.0.1", "ESMTP", ("x@example.com",))
    received = (b"Received: from app1.corp.local (localhost [127.0.0.1])\r\n"
                b"\tby relay.corp.local (Postfix) with ESMTP id 8FC8A20E4B6\r\n")
    cleaned = cleanup((size / "z1.in.eml").read_bytes() + b"\r\n", "a@corp.local",
                      ("x@example.com",), arrival, received, settings, local_context=True)
    assert cleaned.checks is not None
    [line] = (size / "maillog.ref").read_text().splitlines()
    assert cleaned.checks.log == [line.split(": ", 1)[1]]
    queued = (size / "z1.queued.ref").read_bytes().replace(b"\n", b"\r\n")
    assert re.sub(rb"(Message-Id|Date): .*", b"", cleaned.content) == re.sub(
        rb"(Message-Id|Date): .*", b"", queued)


def test_body_checks_stop_at_body_checks_size_limit(tmp_path: Path) -> None:
    (tmp_path / "checks").write_text("/^bad/ REJECT\n")
    checks = InputChecks.from_config(config(f"body_checks = regexp:{tmp_path}/checks\n"
                                            "body_checks_size_limit = 10\n"), MapCache())
    assert checks is not None
    _, early = checks.run("Q", b"S: x\r\n\r\nbad\r\n", "")
    assert early.reject == "5.7.1 Message content rejected"
    _, late = checks.run("Q", b"S: x\r\n\r\n0123456789\r\nbad\r\n", "")
    assert late.reject is None


def test_strip_drops_the_header_and_logs_it_as_postfix_did(tmp_path: Path) -> None:
    """Postfix 3.7.11 (tests/golden/check-content-actions/maillog.ref): ``QUEUEID: strip:
    header X-S: 2 from localhost[127.0.0.1]; from=<a@b.example> ...``."""
    table = tmp_path / "header_checks"
    table.write_text("/^X-S/ strip\n")
    checks = InputChecks.from_config(config(f"header_checks = regexp:{table}\n"), MapCache())
    assert checks is not None
    content = b"X-S: 2\r\nSubject: s\r\n\r\nbody\r\n"
    kept, outcome = checks.run("7F97A22C002", content, " from localhost[127.0.0.1]")
    assert kept == b"Subject: s\r\n\r\nbody\r\n"
    assert outcome.log == ["7F97A22C002: strip: header X-S: 2 from localhost[127.0.0.1]"]


# --- MIME structure (tests/golden/mime_checks: /^/ WARN tables that name themselves) ------

MIME = Path(__file__).parents[2] / "golden" / "mime_checks"
WARN_ALL = (f"header_checks = regexp:{MIME}/header\nmime_header_checks = regexp:{MIME}/mime\n"
            f"nested_header_checks = regexp:{MIME}/nested\nbody_checks = regexp:{MIME}/body\n")


def mime_run(message: str, ref: str, main_cf: str) -> tuple[Cleaned, list[str]]:
    """cleanup of *message* as the capture *ref* was made; and Postfix's cleanup lines
    (Received: and message-id= left out: smtpd gives cleanup its Received:)."""
    lines = [line.split(": ", 1)[1] for line in (MIME / ref).read_text().splitlines()
             if line.startswith("postfix/cleanup")]
    queue_id = lines[0].split(":")[0]
    expected = [line for line in lines
                if "message-id=" not in line and " header Received: " not in line]
    arrival = Arrival(queue_id, time.time(), "app1.corp.local", "localhost", "127.0.0.1",
                      "ESMTP", ("x@example.com",))
    content = (MIME / message).read_bytes() + b"\r\n"  # swaks's extra line end
    cleaned = cleanup(content, "a@corp.local", ("x@example.com",), arrival, b"",
                      CleanupSettings.from_config(config(main_cf)), local_context=True)
    return cleaned, expected


@pytest.mark.parametrize(("message", "ref", "main_cf"), [
    ("m1.eml", "default-m1.maillog.ref", WARN_ALL),
    ("m2.eml", "default-m2.maillog.ref", WARN_ALL),
    ("m3.eml", "default-m3.maillog.ref", WARN_ALL),
    ("m1.eml", "header-checks-only.maillog.ref", f"header_checks = regexp:{MIME}/header\n"),
    ("m1.eml", "disable-mime.maillog.ref", WARN_ALL + "disable_mime_input_processing = yes\n"),
    ("m1.eml", "nesting-limit-1.maillog.ref", WARN_ALL + "mime_nesting_limit = 1\n"),
    ("m1.eml", "boundary-limit-3.maillog.ref", WARN_ALL + "mime_boundary_length_limit = 3\n"),
    ("s1.eml", "size-limit-12.maillog.ref", WARN_ALL + "body_checks_size_limit = 12\n"),
    ("s1.eml", "size-limit-13.maillog.ref", WARN_ALL + "body_checks_size_limit = 13\n"),
    ("m1.eml", "size-limit-60.maillog.ref", WARN_ALL + "body_checks_size_limit = 60\n"),
    ("p1.eml", "pass-p1.maillog.ref", WARN_ALL),
    ("p2.eml", "pass-p2.maillog.ref", WARN_ALL),
])
def test_each_mime_piece_is_inspected_by_the_table_postfix_used(message: str, ref: str,
                                                                 main_cf: str) -> None:
    cleaned, expected = mime_run(message, ref, main_cf)
    assert cleaned.checks is not None
    assert cleaned.checks.log == expected


def test_pass_logs_and_ends_every_inspection_keeping_the_message() -> None:
    cleaned, _ = mime_run("p1.eml", "pass-p1.maillog.ref", WARN_ALL)
    assert cleaned.checks is not None and cleaned.checks.passed
    assert cleaned.checks.log[-1].endswith(": trusted sender")
    assert b"Subject: after pass\r\n" in cleaned.content
    assert cleaned.checks.reject is None and not cleaned.checks.discard


def test_actions_in_part_nested_and_body_tables_edit_the_message_as_postfix_did() -> None:
    main_cf = (f"mime_header_checks = regexp:{MIME}/edit_mime\n"
               f"nested_header_checks = regexp:{MIME}/edit_nested\n"
               f"body_checks = regexp:{MIME}/edit_body\n")
    cleaned, expected = mime_run("m1.eml", "edit-cleanup.maillog.ref", main_cf)
    assert cleaned.checks is not None
    assert cleaned.checks.log == expected
    postfix = (MIME / "edit-cleanup.smarthost.eml").read_bytes()
    assert without_varying(cleaned.content) == without_varying(postfix)


def test_with_only_header_checks_set_part_headers_are_seen_but_no_body_line(
        tmp_path: Path) -> None:
    (tmp_path / "hc").write_text("/^/ WARN\n")
    checks = InputChecks.from_config(config(f"header_checks = regexp:{tmp_path}/hc\n"),
                                     MapCache())
    assert checks is not None and checks.body is None
    content = (MIME / "m1.eml").read_bytes()
    kept, outcome = checks.run("Q", content, "")
    assert kept == content
    assert not any(": body " in line for line in outcome.log)
    assert "Q: warning: header X-Inner-Part: deep" in outcome.log


def test_without_mime_or_body_tables_the_body_is_not_walked(tmp_path: Path) -> None:
    (tmp_path / "hc").write_text("/^/ WARN\n")
    checks = InputChecks.from_config(config(
        f"header_checks = regexp:{tmp_path}/hc\nmime_header_checks =\n"
        "nested_header_checks =\n"), MapCache())
    assert checks is not None and not checks.walks
    kept, outcome = checks.run("Q", (MIME / "m1.eml").read_bytes(), "")
    assert len(outcome.log) == 4  # From, To, Subject, X-After; MIME fields have no table
    assert kept == (MIME / "m1.eml").read_bytes()


def test_pathological_content_is_inspected_without_error(tmp_path: Path) -> None:
    (tmp_path / "all").write_text("/^/ WARN\n")
    checks = InputChecks.from_config(config(
        f"header_checks = regexp:{tmp_path}/all\nbody_checks = regexp:{tmp_path}/all\n"),
        MapCache())
    assert checks is not None
    deep = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                    for i in range(2000))
    junk = b"X-Junk: \x00\xff\x80\r\n" * 3000 + b"\r\n\x00\x01\xfe body\r\n"
    for content in (deep, junk, b"X-Big: a\r\n" + b"\tf\r\n" * 200_000 + b"\r\nb\r\n"):
        kept, outcome = checks.run("Q", content, "")
        assert kept == content
        assert outcome.log


def test_a_filter_without_transport_colon_nexthop_is_ignored_with_postfixs_warning(
        tmp_path: Path) -> None:
    table = tmp_path / "hc"
    table.write_text("/^X-F1:/ FILTER nocolon\n/^X-F2:/ FILTER\n")
    checks = InputChecks.from_config(config(f"header_checks = regexp:{table}\n"), MapCache())
    assert checks is not None
    content = b"X-F1: a\r\nX-F2: b\r\n\r\nbody\r\n"
    edited, found = checks.run("QID", content, "from x[1.2.3.4]; from=<a@b> to=<c@d>")
    assert edited == content
    assert found.filter is None
    # Captured from Postfix 3.7.11 (cleanup logs nothing else for these two fields).
    assert found.log == [
        "warning: bad FILTER command nocolon in header_checks -- need transport:destination",
        "warning: missing FILTER command argument in header_checks map"]
