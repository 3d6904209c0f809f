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
