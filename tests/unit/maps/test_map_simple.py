"""inline:, static:, fail: tables: syntax and errors as Postfix words them."""

from __future__ import annotations

import pytest

from mailrelay.maps.base import MapError, MapLookupError
from mailrelay.maps.simple import FailTable, InlineTable, StaticTable


def test_inline_entries_may_be_braced_to_keep_spaces() -> None:
    t = InlineTable("{ foo=bar, { Baz = qux quux }, a=b=c }")
    assert (t.lookup("FOO"), t.lookup("baz"), t.lookup("a")) == ("bar", "qux quux", "b=c")
    assert list(t.items()) == [("foo", "bar"), ("baz", "qux quux"), ("a", "b=c")]


def test_inline_later_duplicates_win_and_minus_f_keeps_case() -> None:
    assert InlineTable("{ a=1, a=2 }").lookup("a") == "2"
    assert InlineTable("{ a=1 }", fold_case=False).lookup("A") is None


@pytest.mark.parametrize(("name", "error"), [
    ("{ foo }", "missing '=' after attribute name"),
    ("{ a = b }", "missing '=' after attribute name"),
    ("{ foo=bar", "bad syntax"),
    ("foo=bar", "bad syntax"),
    ("{}", "bad syntax"),
    ("{ a=b }x", "bad syntax"),
    ("{ }", "empty table"),
    ("{ a=b, {e=f}g }", "syntax error after '}' in \"{e=f}g\""),
])
def test_inline_syntax_errors_name_the_table_and_the_form(name: str, error: str) -> None:
    with pytest.raises(MapError) as e:
        InlineTable(name)
    assert str(e.value) == f'{error}: "inline:{name}"; need "inline:{{name=value...}}"'


def test_static_answers_every_key_with_its_value() -> None:
    assert StaticTable("hello world  ").lookup("x") == "hello world  "
    assert StaticTable("{ hello world }").lookup("y") == "hello world"
    assert not StaticTable("v").is_pattern  # also answers partial keys (user, @domain)


@pytest.mark.parametrize(("name", "error"), [
    ("{hello", "missing '}' in \"{hello\""),
    ("{ a } x", "syntax error after '}' in \"{ a } x\""),
])
def test_static_brace_errors(name: str, error: str) -> None:
    with pytest.raises(MapError) as e:
        StaticTable(name)
    assert str(e.value) == f"bad static:name syntax: {error}"


def test_fail_fails_every_lookup_and_listing() -> None:
    t = FailTable("x")
    with pytest.raises(MapLookupError, match="Application error"):
        t.lookup("a")
    with pytest.raises(MapLookupError):
        list(t.items())
