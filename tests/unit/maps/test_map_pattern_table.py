"""regexp:/pcre: table files: rule order, negation, if/endif, $number, skipped rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailrelay.maps import pcre, regexp
from mailrelay.maps.base import MapError
from mailrelay.maps.pattern_table import PatternTable

Write = Callable[[str, str | bytes], str]


def table(write: Write, text: str, kind: str = "regexp") -> PatternTable:
    dialect = regexp.DIALECT if kind == "regexp" else pcre.DIALECT
    return PatternTable(dialect, kind, write("t", text))


def test_the_first_matching_rule_wins_and_substitutes_groups(write: Write) -> None:
    t = table(write, "/^(.*)@srv[0-9]+\\.corp\\.local$/ ${1}@corp.com\n"
                     "/^root@(.*)$/ admin@corp.com\n"
                     "/^(.*)@localhost$/ noreply@corp.com\n")
    assert t.warnings == []
    assert t.lookup("Cron@SRV12.corp.local") == "Cron@corp.com"
    assert t.lookup("root@srv1.corp.local") == "root@corp.com"
    assert t.lookup("root@example.com") == "admin@corp.com"
    assert t.lookup("x@example.com") is None
    assert t.is_pattern


@pytest.mark.parametrize(("result", "expanded"), [
    ("$1", "b"),
    ("${1}x", "bx"),
    ("$(1)x", "bx"),
    ("a$$b", "a$b"),
    ("$2-$1", "-b"),  # an unmatched group is empty
    ("$01", "b"),
])
def test_dollar_number_forms(write: Write, result: str, expanded: str) -> None:
    assert table(write, f"/(b)|(c)/ {result}\n").lookup("abc") == expanded


def test_negated_rules_match_what_the_pattern_does_not(write: Write) -> None:
    t = table(write, "!/@example\\.com$/ outside\n")
    assert (t.lookup("a@example.com"), t.lookup("a@example.org")) == (None, "outside")


def test_regexp_second_pattern_must_not_match(write: Write) -> None:
    t = table(write, "/^a/!/b$/ yes\n")
    assert (t.lookup("axb"), t.lookup("axc")) == (None, "yes")


def test_if_endif_blocks_nest_and_skip(write: Write) -> None:
    t = table(write, "if /@example\\.com$/\n"
                     "if !/^admin@/\n"
                     "/./ user-in-example\n"
                     "endif\n"
                     "/^admin@/ admin-in-example\n"
                     "endif\n"
                     "/./ other\n")
    assert t.lookup("bob@example.com") == "user-in-example"
    assert t.lookup("admin@example.com") == "admin-in-example"
    assert t.lookup("bob@example.org") == "other"


def test_an_unclosed_if_ends_the_search_when_it_does_not_match(write: Write) -> None:
    t = table(write, "if /^a/\n/x/ inner\n")
    assert t.warnings == [f"regexp map {t.name}, line 1: IF has no matching ENDIF"]
    assert (t.lookup("ax"), t.lookup("bx")) == ("inner", None)


def test_bad_rules_are_skipped_with_postfix_warnings(write: Write) -> None:
    t = table(write, "/(/ broken\n"
                     "/a/q flags\n"
                     "/unclosed\n"
                     "/x/ $2\n"
                     "!/(y)/ $1\n"
                     "/z/ $name\n"
                     "endif\n"
                     "foo bar\n"
                     "/ok/ fine\n")
    where = f"regexp map {t.name}, line"
    assert t.warnings == [
        f"{where} 1: Unmatched ( or \\(",
        f'{where} 2: unknown regexp option "q": skipping this rule',
        f'{where} 3: no closing regexp delimiter "/": skipping this rule',
        f'{where} 4: out of range replacement index "2": skipping this rule',
        f"{where} 5: $number found in negative match replacement text: skipping this rule",
        f'{where} 6: non-numeric replacement index "name"',
        f"{where} 6: bad replacement syntax: skipping this rule",
        f"{where} 7: ignoring ENDIF without matching IF",
        f"{where} 8: ignoring unrecognized request",
    ]
    assert t.lookup("ok") == "fine"


def test_a_rule_without_result_gives_an_empty_result(write: Write) -> None:
    t = table(write, "/x/\n")
    assert t.warnings == [f"regexp map {t.name}, line 1: no replacement text: using empty string"]
    assert t.lookup("x") == ""


def test_pcre_words_some_warnings_differently(write: Write) -> None:
    t = table(write, "/unclosed\n/(/ x\n/a/X obsolete\n/(b)/ $0\n", "pcre")
    where = f"pcre map {t.name}, line"
    assert t.warnings == [
        f'{where} 1: no closing regexp delimiter "/": ignoring this rule',
        f"{where} 2: error in regex at offset 1: missing closing parenthesis",
        f'{where} 3: ignoring obsolete regexp option "X"',
        f'{where} 4: out of range replacement index "0"',
        f"{where} 4: bad replacement syntax: skipping this rule",
    ]
    assert t.lookup("A") == "obsolete"


def test_any_delimiter_and_escaped_delimiters_work(write: Write) -> None:
    t = table(write, "|a/b| slash\n/c\\/d/ escaped\n")
    assert (t.lookup("a/b"), t.lookup("c/d")) == ("slash", "escaped")


def test_a_changed_file_makes_the_table_stale(write: Write) -> None:
    t = table(write, "/a/ 1\n")
    assert not t.is_stale()
    write("t", "/a/ 2\n")
    assert t.is_stale()


def test_a_missing_file_cannot_be_opened(tmp_path: object) -> None:
    with pytest.raises(MapError, match="open /nonexistent/x: No such file or directory"):
        PatternTable(regexp.DIALECT, "regexp", "/nonexistent/x")
