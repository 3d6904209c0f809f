"""Dates, address quoting and qualification as Postfix's notices show them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mailrelay.bounce.headers import (
    qualify,
    qualify_header,
    quoted,
    quoted_strict,
    reported_sender,
)
from mailrelay.mail.date import mail_date


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_dates_pad_a_one_digit_day_with_a_space_and_name_the_zone() -> None:
    assert mail_date(1795566662) == "Wed, 25 Nov 2026 00:31:02 +0000 (UTC)"
    assert mail_date(1796083200) == "Tue,  1 Dec 2026 00:00:00 +0000 (UTC)"


def test_to_and_final_recipient_quote_only_what_is_no_dot_atom() -> None:
    assert quoted("alice@example.org") == "alice@example.org"
    assert quoted("john doe@example.org") == '"john doe"@example.org'
    assert quoted("älice@exämple.org") == "älice@exämple.org"
    assert quoted("") == ""


def test_the_original_sender_quotes_and_escapes_each_8bit_byte() -> None:
    escaped = quoted_strict("älice@exämple.org").encode("utf-8", "surrogateescape")
    assert escaped == b'"\\\xc3\\\xa4lice"@ex\xc3\xa4mple.org'
    assert quoted_strict("john doe@example.org") == '"john doe"@example.org'
    assert quoted_strict('a"b@x') == '"a\\"b"@x'
    assert quoted_strict("first.last@x") == "first.last@x"


def test_the_null_sender_is_reported_as_mailer_daemon_at_myhostname() -> None:
    assert reported_sender("", "relay.corp.local") == "MAILER-DAEMON@relay.corp.local"
    assert reported_sender("alice@example.org", "h") == "alice@example.org"


def test_bare_names_get_myorigin_as_cleanup_would_append_it() -> None:
    assert qualify("postmaster", "corp.local") == "postmaster@corp.local"
    assert qualify("pm@example.org", "corp.local") == "pm@example.org"


def test_the_from_address_of_a_template_is_qualified_in_each_form() -> None:
    assert qualify_header("Mail Delivery System <MAILER-DAEMON>", "corp.local") == (
        "Mail Delivery System <MAILER-DAEMON@corp.local>")
    assert qualify_header("MAILER-DAEMON (Mail Delivery System)", "corp.local") == (
        "MAILER-DAEMON@corp.local (Mail Delivery System)")
    assert qualify_header("postmaster", "corp.local") == "postmaster@corp.local"
    assert qualify_header("Name <x@y>", "corp.local") == "Name <x@y>"
