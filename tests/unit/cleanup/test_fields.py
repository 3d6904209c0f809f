"""Splitting a header section into logical fields."""

from __future__ import annotations

from mailrelay.cleanup.fields import cut_long_fields, logical, split_fields


def test_folded_lines_belong_to_their_field_and_the_rest_starts_at_the_blank_line() -> None:
    fields, rest = split_fields(b"A: 1\r\n 2\r\nB: 3\r\n\r\nbody\r\n")
    assert fields == [b"A: 1\r\n 2\r\n", b"B: 3\r\n"]
    assert rest == b"\r\nbody\r\n"


def test_a_line_that_is_not_a_header_ends_the_section() -> None:
    fields, rest = split_fields(b"A: 1\r\nnot a header\r\nB: 2\r\n")
    assert fields == [b"A: 1\r\n"]
    assert rest == b"not a header\r\nB: 2\r\n"


def test_a_logical_field_joins_folded_lines_with_a_newline() -> None:
    assert logical(b"Received: from x\r\n\tby y\r\n") == "Received: from x\n\tby y"


def test_a_field_longer_than_the_limit_is_cut_and_loses_its_later_lines() -> None:
    content = b"Received: from app1.corp.local (localhost)\r\n\tby x\r\nA: 1\r\n\r\nbody\r\n"
    assert cut_long_fields(content, 30) == b"Received: from app1.corp.local\r\nA: 1\r\n\r\nbody\r\n"
    assert cut_long_fields(content, 1000) is content
