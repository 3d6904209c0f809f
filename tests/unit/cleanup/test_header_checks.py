"""header_checks(5) actions and their log lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrelay.cleanup.address_map import CleanupDefer
from mailrelay.cleanup.header_checks import (
    Action,
    ContentChecks,
    Verdict,
    Where,
    log_line,
    parse_action,
)
from mailrelay.maps.registry import MapCache

GOLDEN = Path(__file__).parents[2] / "golden" / "rewriting"


@pytest.mark.parametrize(("value", "action", "text"), [
    ("REJECT no thanks", Action.REJECT, "no thanks"),
    ("warn  look here", Action.WARN, "look here"),
    ("IGNORE", Action.IGNORE, ""),
    ('REPLACE From: "S" <n@corp.com>', Action.REPLACE, 'From: "S" <n@corp.com>'),
    ("PREPEND X-Seen: yes", Action.PREPEND, "X-Seen: yes"),
    ("HOLD", Action.HOLD, ""), ("DISCARD spam", Action.DISCARD, "spam"),
    ("DUNNO", Action.DUNNO, ""), ("OK", Action.OK, ""), ("INFO note", Action.INFO, "note"),
    ("REDIRECT a@b.example", Action.REDIRECT, "a@b.example"),
    ("BCC a@b.example", Action.BCC, "a@b.example"),
    ("FILTER smtp:[10.0.0.1]", Action.FILTER, "smtp:[10.0.0.1]"),
    ("FROBNICATE x", Action.UNKNOWN, "x"),
])
def test_a_table_value_is_an_action_and_its_text(value: str, action: Action, text: str) -> None:
    verdict = parse_action(value)
    assert (verdict.action, verdict.text) == (action, text)


def test_the_guides_header_checks_match_folded_headers_as_one_logical_line() -> None:
    checks = ContentChecks("smtp_header_checks", f"regexp:{GOLDEN}/header_checks", MapCache())
    maps = checks.tables()
    received = "Received: from app1.corp.local (localhost [127.0.0.1])\n\tby relay.corp.local"
    assert checks.check(maps, received) == Verdict(Action.IGNORE, "", "IGNORE")
    assert checks.check(maps, "X-Originating-IP: [10.1.2.3]") is not None
    replaced = checks.check(maps, "From: Cron Daemon <root@localhost>")
    assert replaced is not None and replaced.action is Action.REPLACE
    assert checks.check(maps, "Subject: localhost") is None


def test_the_log_line_is_postfixs_for_the_smtp_client() -> None:
    verdict = parse_action('REPLACE From: "Server Notifications" <noreply@corp.com>')
    line = log_line("9381F20E341", verdict, Where.HEADER, "From: Cron Daemon <root@localhost>")
    expected = [ref for ref in (GOLDEN / "maillog.ref").read_text().splitlines()
                if ": replace: " in ref]
    assert expected == [f"postfix/smtp[19243]: {line}"]


def test_the_log_line_carries_cleanups_context_and_cuts_long_headers() -> None:
    line = log_line("Q1", parse_action("WARN"), Where.HEADER, "Subject: " + "x" * 300,
                    " from h[1.2.3.4]; from=<a@b> to=<c@d> proto=ESMTP helo=<h>")
    assert line == ("Q1: warning: header Subject: " + "x" * 191
                    + " from h[1.2.3.4]; from=<a@b> to=<c@d> proto=ESMTP helo=<h>")


def test_a_broken_rule_is_skipped_and_the_others_still_apply_as_in_postfix() -> None:
    checks = ContentChecks("header_checks", f"regexp:{GOLDEN}/broken_checks", MapCache())
    maps = checks.tables()
    assert checks.check(maps, "Subject: ok") == Verdict(Action.WARN, "fine", "WARN")
    [table] = maps.tables
    assert "line 1: no closing regexp delimiter" in " ".join(getattr(table, "warnings", []))


def test_a_table_that_cannot_be_opened_defers_the_message(tmp_path: Path) -> None:
    checks = ContentChecks("header_checks", f"regexp:{tmp_path}/nonexistent", MapCache())
    with pytest.raises(CleanupDefer, match=r"^header_checks map lookup problem -- message not "
                       "accepted, try again later"):
        checks.check(checks.tables(), "Subject: x")
