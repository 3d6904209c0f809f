"""Where cleanup's ``message-id=`` line falls among its header/body checks lines.

Postfix's cleanup logs ``message-id=`` when it meets the Message-Id header (or at the end of
the header section, when it adds one), between the lines of the checks that fire before and
after; after a DISCARD or REJECT it logs none.  Captures: tests/golden/rewriting/actions
(no Message-Id in the messages) and tests/golden/content_filter (Message-Id first).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from rewriting_support import config

from mailrelay.cleanup.headers import Arrival
from mailrelay.cleanup.message import Cleaned, cleanup
from mailrelay.cleanup.settings import CleanupSettings

GOLDEN = Path(__file__).parents[2] / "golden"
ACTIONS = GOLDEN / "rewriting" / "actions"
FILTER = GOLDEN / "content_filter"
_QID = re.compile(r"^([0-9A-F]{11}): ")
_MSGID = re.compile(r"message-id=<[^>]*>")


def postfix_groups(path: Path) -> list[list[str]]:
    """cleanup's lines per message, in order; queue IDs as QID, message-ids as <ID>."""
    groups: dict[str, list[str]] = {}
    pending: list[str] = []
    for line in path.read_text().splitlines():
        if not line.startswith("postfix/cleanup"):
            continue
        text = _MSGID.sub("message-id=<ID>", line.split(": ", 1)[1])
        qid = _QID.match(text)
        if qid is None:
            pending.append(text)
            continue
        group = groups.setdefault(qid.group(1), [])
        group += pending
        pending = []
        group.append("QID: " + text[qid.end():])
    return list(groups.values())


def ours(cleaned: Cleaned) -> list[str]:
    return [_MSGID.sub("message-id=<ID>", line) for line in cleaned.log_lines("QID")]


def run(path: Path, checks: str, recipient: str) -> Cleaned:
    settings = CleanupSettings.from_config(config(checks))
    arrival = Arrival("QID", time.time(), "app1.corp.local", "localhost", "127.0.0.1",
                      "ESMTP", (recipient,))
    content = path.read_bytes() + (b"\r\n" if path.parent == ACTIONS else b"")  # swaks
    return cleanup(content, "a@corp.local", (recipient,), arrival, b"", settings,
                   local_context=True)


ACTION_MESSAGES = ["reject-me", "reject-dsn", "warn-me", "hold-me", "discard-me",
                   "redirect-me", "bcc-me", "filter-me", "info-me", "prepend-me", "replace-me",
                   "unknown-me", "dunno-me", "ok-me", "reject-body", "warn-body",
                   "replace-body", "ignore-body"]


@pytest.mark.parametrize(("index", "name"), enumerate(ACTION_MESSAGES))
def test_the_message_id_line_comes_where_postfix_logs_it(index: int, name: str) -> None:
    checks = (f"header_checks = regexp:{ACTIONS}/actions_header\n"
              f"body_checks = regexp:{ACTIONS}/actions_body\n")
    cleaned = run(ACTIONS / f"{name}.eml", checks, "x@example.com")
    assert ours(cleaned) == postfix_groups(ACTIONS / "maillog.ref")[index]


@pytest.mark.parametrize(("index", "name"), enumerate(
    ["discard-after-message-id", "discard-no-message-id", "filter-after-message-id"]))
def test_a_message_id_before_the_action_is_logged_before_it(index: int, name: str) -> None:
    cleaned = run(FILTER / f"{name}.eml", f"header_checks = regexp:{FILTER}/header_checks\n",
                  "q@example.com")
    assert ours(cleaned) == postfix_groups(FILTER / "discard-order.maillog.ref")[index]


def test_without_checks_the_message_id_is_the_only_line() -> None:
    cleaned = run(FILTER / "discard-after-message-id.eml", "", "q@example.com")
    assert cleaned.log_lines("QID") == ["QID: message-id=<early@x>"]
