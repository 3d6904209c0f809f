"""postmap source syntax: logical lines, keys and values, as Postfix reads them."""

from __future__ import annotations

import pytest

from mailrelay.maps.source import entries, fold_key, logical_lines, split_quoted


def lines(data: bytes) -> tuple[list[tuple[int, bytes]], list[str]]:
    warnings: list[str] = []
    return list(logical_lines(data, "F", warnings.append)), warnings


def parse(data: bytes, fold: bool = True) -> tuple[list[tuple[int, bytes, bytes]], list[str]]:
    warnings: list[str] = []
    return list(entries(data, "F", warnings.append, fold=fold)), warnings


def test_comments_blank_and_whitespace_only_lines_are_ignored() -> None:
    assert lines(b"# c\n\n   \n\t# indented comment\na 1\n") == ([(5, b"a 1")], [])


def test_a_line_starting_with_white_space_continues_the_previous_one_as_is() -> None:
    assert lines(b"a 1\n  two\n\tthree\nb 2\n") == ([(1, b"a 1  two\tthree"), (4, b"b 2")], [])


def test_continuation_survives_blank_and_comment_lines() -> None:
    assert lines(b"a 1\n\n# note\n  more\n") == ([(1, b"a 1  more")], [])


def test_a_logical_line_is_reported_with_its_first_line_number() -> None:
    found, _ = lines(b"\n\nkey\n  value\n")
    assert found == [(3, b"key  value")]


def test_text_before_any_logical_line_is_dropped_with_postfix_warning() -> None:
    found, warnings = lines(b"  orphan continuation text that is long enough\nok v\n")
    assert found == [(2, b"ok v")]
    assert warnings == ['F: logical line must not start with whitespace: '
                        '"  orphan continuation text tha..."']


def test_short_orphan_text_is_quoted_whole() -> None:
    assert lines(b"  x\n")[1] == ['F: logical line must not start with whitespace: "  x"']


def test_last_line_without_newline_is_read() -> None:
    assert lines(b"a 1\nb 2")[0] == [(1, b"a 1"), (2, b"b 2")]


def test_key_ends_at_first_white_space_and_value_is_trimmed() -> None:
    assert parse(b"Key   some value  \t\r\n")[0] == [(1, b"key", b"some value")]


@pytest.mark.parametrize(("line", "key", "value"), [
    (b'"a b" v', b'"a b"', b"v"),
    (b'"a\\"b c" v', b'"a\\"b c"', b"v"),
    (b"a\\ b v", b"a\\ b", b"v"),
])
def test_quoted_keys_keep_their_quotes_and_may_contain_spaces(
        line: bytes, key: bytes, value: bytes) -> None:
    assert split_quoted(line) == (key, value)


def test_an_unbalanced_quote_drops_the_line() -> None:
    assert parse(b'"a b v\nok v\n') == (
        [(2, b"ok", b"v")],
        ["F, line 1: unbalanced '\"' in '\"a b v' -- ignoring this line"])


def test_a_key_without_value_is_refused_with_postfix_warning() -> None:
    assert parse(b"lonely\nkey:value\n") == (
        [], ["F, line 1: expected format: key whitespace value",
             "F, line 2: expected format: key whitespace value"])


def test_alias_style_key_is_kept_with_a_warning() -> None:
    assert parse(b"user: target\n") == (
        [(1, b"user:", b"target")],
        ['F, line 1: record is in "key: value" format; is this an alias file?'])


def test_non_utf8_lines_are_ignored_with_a_warning() -> None:
    found, warnings = parse(b"ok v\n\xff bad\n")
    assert found == [(1, b"ok", b"v")]
    assert warnings == ['F, line 2: non-UTF-8 input "\ufffd bad" -- ignoring this line']


def test_keys_are_folded_like_postfix_casefold() -> None:
    assert fold_key(b"User@EXAMPLE.com") == b"user@example.com"
    assert fold_key("Straße@Exämple.COM".encode()) == "strasse@exämple.com".encode()


def test_minus_f_keeps_the_key_case() -> None:
    assert parse(b"User v\n", fold=False)[0] == [(1, b"User", b"v")]
