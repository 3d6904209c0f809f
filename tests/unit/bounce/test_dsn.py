"""The per-recipient text and the message/delivery-status fields."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from bounce_support import oracle_settings as settings

from mailrelay.bounce.dsn import recipient_text, report
from mailrelay.bounce.entry import NoticeEntry, NoticeKind
from mailrelay.queue.record import Envelope


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def entry(address: str, original: str = "", **kw: str) -> NoticeEntry:
    return NoticeEntry(address, kw.pop("orcpt", ""), original, "5.1.1", "failed",
                       "no such user", **kw)


def test_a_rewritten_address_says_what_it_was_expanded_from() -> None:
    lines = recipient_text([entry("bad@x", "alias@y"), entry("same@x", "SAME@x"),
                            entry("john doe@x", "x y@y")], NoticeKind.FAILURE)
    assert lines == ["", "<bad@x> (expanded from <alias@y>): no such user",
                     "", "<same@x>: no such user",
                     "", '<"john doe"@x> (expanded from <"x y"@y>): no such user']


def test_the_report_has_postfixs_fields_in_postfixs_order() -> None:
    envelope = Envelope("alice@example.org", (), 1795564261.0, dsn_envid="e1")
    lines = report(NoticeKind.DELAY, settings("mail_name = Relay\n"), "4ABC", envelope,
                   [entry("bad@x", orcpt="rfc822;orig@y", remote_mta="dns; mx.x",
                          diagnostic="smtp; 450 busy")])
    assert lines == [
        "Reporting-MTA: dns; relay.corp.local",
        "Original-Envelope-Id: e1",
        "X-Relay-Queue-ID: 4ABC",
        "X-Relay-Sender: rfc822; alice@example.org",
        "Arrival-Date: Tue, 24 Nov 2026 23:51:01 +0000 (UTC)",
        "",
        "Final-Recipient: rfc822; bad@x",
        "Original-Recipient: rfc822;orig@y",
        "Action: failed",
        "Status: 5.1.1",
        "Remote-MTA: dns; mx.x",
        "Diagnostic-Code: smtp; 450 busy",
        "Will-Retry-Until: Sun, 29 Nov 2026 23:51:01 +0000 (UTC)",
    ]


def test_optional_fields_are_left_out_and_the_diagnostic_falls_back_to_the_reason() -> None:
    envelope = Envelope("", (), 0.0)
    lines = report(NoticeKind.FAILURE, settings(), "4ABC", envelope, [entry("bad@x")])
    assert lines == [
        "Reporting-MTA: dns; relay.corp.local",
        "X-Postfix-Queue-ID: 4ABC",
        "X-Postfix-Sender: rfc822; MAILER-DAEMON@relay.corp.local",
        "",
        "Final-Recipient: rfc822; bad@x",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: X-Postfix; no such user",
    ]
