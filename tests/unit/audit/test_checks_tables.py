"""action_findings(): header_checks/body_checks rules whose action Postfix would not run.

The behaviour reported is captured in tests/golden/check-content-actions (Postfix 3.7 logs
"unknown command in header_checks map: FROB it" and keeps the header)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrelay.audit.checks_tables import action_findings, action_word
from mailrelay.audit.finding import Severity
from mailrelay.maps.registry import open_map
from mailrelay.util.diagnostic import Origin

GOLDEN = Path(__file__).parents[2] / "golden" / "check-content-actions" / "header_checks.regexp"
ORIGIN = Origin("/etc/mailrelay/main.cf", 7)


def texts(parameter: str, spec: str) -> list[str]:
    table = open_map(spec)
    try:
        findings = action_findings(parameter, table, ORIGIN)
    finally:
        table.close()
    assert all(f.severity is Severity.WARNING and f.origin == ORIGIN for f in findings)
    return [f.text for f in findings]


def test_the_captured_table_reports_its_unknown_and_unimplemented_actions_with_lines() -> None:
    found = texts("header_checks", f"regexp:{GOLDEN}")
    assert found == [
        f'header_checks: regexp map {GOLDEN}, line 4: unknown action "FROB": the rule only '
        'logs "unknown command in header_checks map" and the line is kept',
    ]  # line 5's "strip" is an action (Postfix 3.2 and later)


def test_the_smtp_client_reports_actions_that_would_change_the_delivery(tmp_path: Path) -> None:
    path = tmp_path / "smtp_header_checks"
    path.write_text("/^X-A/ REJECT no\n/^X-B/ replace X-B: 1\n/^X-C/ HOLD\n/^X-D/ warn\n")
    found = texts("smtp_header_checks", f"pcre:{path}")
    assert [t.split(": ", 2)[1] for t in found] == [f"pcre map {path}, line 1",
                                                    f"pcre map {path}, line 3"]
    assert 'action "REJECT" is not supported by the smtp client' in found[0]


def test_the_same_actions_are_fine_in_cleanups_tables(tmp_path: Path) -> None:
    path = tmp_path / "body_checks"
    path.write_text("/x/ REJECT no\n/y/ HOLD\n/z/ discard\n/(w)/ $1\n/(v)/ RE$1\n/u/ $$1 x\n")
    assert texts("body_checks", f"regexp:{path}") == [
        f'body_checks: regexp map {path}, line 6: unknown action "$1": the rule only logs '
        '"unknown command in body_checks map" and the line is kept',
    ]


def test_an_indexed_table_names_the_key_as_stored_in_lower_case(tmp_path: Path) -> None:
    path = tmp_path / "hc"
    path.write_text("Subject:\tBOGUS text\nX-Ok:\tIGNORE\n")
    assert texts("header_checks", f"texthash:{path}") == [
        f'header_checks: texthash map {path}, key subject:: unknown action "BOGUS": the rule '
        'only logs "unknown command in header_checks map" and the line is kept',
    ]


@pytest.mark.parametrize(("result", "word"), [("REJECT go away", "REJECT"), ("  warn", "warn"),
                                              ("", "")])
def test_the_action_is_the_first_word_of_the_result(result: str, word: str) -> None:
    assert action_word(result) == word


def test_pass_runs_in_cleanup_and_is_unsupported_by_the_smtp_client(tmp_path: Path) -> None:
    """Postfix 3.7.11 (tests/golden/mime_checks): cleanup logs ``pass: header ...`` and stops
    inspecting; smtp logs "unsupported command in smtp_header_checks map: PASS ..."."""
    path = tmp_path / "checks"
    path.write_text("/^X-Pass:/ PASS trusted sender\n")
    assert texts("header_checks", f"regexp:{path}") == []
    assert texts("smtp_header_checks", f"regexp:{path}") == [
        f'smtp_header_checks: regexp map {path}, line 1: action "PASS" is not supported by '
        'the smtp client: the rule only logs "unsupported command in smtp_header_checks '
        'map" and the line is kept']
