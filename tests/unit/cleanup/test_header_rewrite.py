"""Header fields written again after their addresses were mapped (tests/golden/rewriting)."""

from __future__ import annotations

from mailrelay.cleanup.header_addresses import fold
from mailrelay.cleanup.header_rewrite import rewrite_field


def upper_domain(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local}@corp.com" if domain.endswith("corp.local") else address


def test_an_unchanged_field_is_kept_as_written() -> None:
    assert rewrite_field(b"To:  a@example.com ,b@example.com\r\n", upper_domain) is None


def test_a_folded_field_with_a_changed_address_comes_out_on_one_line() -> None:
    field = (b'Cc: "Nagios" <nagios@relay.corp.local>,\r\n other@srv12.example (comment)\r\n')
    assert rewrite_field(field, upper_domain) == (
        b'Cc: "Nagios" <nagios@corp.com>, other@srv12.example (comment)\r\n')


def test_a_long_field_is_folded_after_a_comma_with_a_tab_as_postfix_does() -> None:
    field = (b"To: alice.with.a.long.name@srv1.corp.local, bob.with.a.long.name@srv2.corp.local,"
             b' "Carol" <carol.with.long.name@srv3.corp.local>, dave@example.com\r\n')
    assert rewrite_field(field, upper_domain) == (
        b"To: alice.with.a.long.name@corp.com, bob.with.a.long.name@corp.com,\r\n"
        b'\t"Carol" <carol.with.long.name@corp.com>, dave@example.com\r\n')


def test_a_local_part_that_needs_quotes_is_quoted_again() -> None:
    assert rewrite_field(b"From: x@srv.corp.local\r\n", lambda a: "john smith@corp.com") == (
        b'From: "john smith"@corp.com\r\n')


def test_fold_keeps_short_lines_together() -> None:
    assert fold("To: a@b,\nc@d") == "To: a@b, c@d"
