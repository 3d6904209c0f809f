"""POSIX regular expressions (regexp: tables) on Python's re: meaning and glibc's errors."""

from __future__ import annotations

import pytest

from mailrelay.maps import regexp
from mailrelay.maps.pattern_table import PatternSyntaxError
from mailrelay.maps.regexp import DIALECT, translate


def matches(pattern: str, key: str, flags: str = "ix") -> str | None:
    """The whole match of *key* (None when none), compiled with regexp table flags."""
    m = DIALECT.compile(pattern, frozenset(flags)).search(key)
    return None if m is None else m.group()


@pytest.mark.parametrize(("pattern", "key", "found"), [
    ("^(.*)@srv[0-9]+\\.corp\\.local$", "x@srv12.corp.local", "x@srv12.corp.local"),
    ("^root@", "ROOT@example", "ROOT@"),  # case-insensitive by default
    ("a$", "a\n", None),  # $ is the end of the text, not before a final newline
    ("a.b", "a\nb", "a\nb"),  # . matches a newline without REG_NEWLINE
    ("[^x]", "\n", "\n"),
    ("\\d", "d", "d"),  # \d is not a digit class in POSIX
    ("\\n", "n", "n"),
    ("[a\\]+", "a\\a", "a\\a"),  # a backslash is an ordinary character in a list
    ("[]a]+", "]a", "]a"),
    ("[^]a]", "b", "b"),
    ("[[:digit:]]+", "ab123", "123"),
    ("[[:alpha:][:digit:]]+", "ab1!", "ab1"),
    ("[[.-.]a]+", "-a", "-a"),
    ("[a-]+", "a-", "a-"),
    ("[--/]+", "-./", "-./"),
    ("a**", "aaa", "aaa"),  # stacked repetitions are allowed
    ("a+?", "aaa", "aaa"),  # (a+)? -- greedy, not a lazy +
    ("a{2}", "aaa", "aa"),
    ("a{,2}", "aaa", "aa"),
    ("a{1,}", "aaa", "aaa"),
    ("(a)\\1", "aa", "aa"),
    ("abc)", "abc)", "abc)"),  # an unmatched ) is an ordinary character
    ("a{1}{2}", "aaa", "aa"),
    ("\\<ab\\>", "x ab y", "ab"),
    ("()", "x", ""),
    ("(|a)b", "ab", "ab"),
    ("x|", "y", ""),
])
def test_posix_extended_patterns_mean_what_glibc_means(pattern: str, key: str,
                                                        found: str | None) -> None:
    assert matches(pattern, key) == found


def test_the_i_flag_makes_matching_case_sensitive() -> None:
    assert matches("CaSe", "case", "x") is None
    assert matches("CaSe", "CaSe", "x") == "CaSe"


def test_the_m_flag_makes_newline_special() -> None:
    assert matches("^b$", "a\nb\nc", "ixm") == "b"
    assert matches("a.b", "a\nb", "ixm") is None
    assert matches("[^x]", "\n", "ixm") is None


@pytest.mark.parametrize(("pattern", "key", "found"), [
    ("\\(a\\)\\1", "aa", "aa"),
    ("a+", "a+", "a+"),  # + is an ordinary character in basic syntax
    ("*a", "*a", "*a"),  # so is a leading *
    ("a\\{2\\}", "aaa", "aa"),
    ("a\\|b", "b", "b"),
    ("^*", "*", "*"),
    ("a^b", "a^b", "a^b"),
    ("a$b", "a$b", "a$b"),
])
def test_the_x_flag_selects_posix_basic_syntax(pattern: str, key: str, found: str) -> None:
    assert matches(pattern, key, "i") == found


@pytest.mark.parametrize(("pattern", "error"), [
    ("abc(", regexp.EPAREN),
    ("a)b(", regexp.EPAREN),
    ("*a", regexp.BADRPT),
    ("a|*b", regexp.BADRPT),
    ("(*a)", regexp.BADRPT),
    ("(?:a)", regexp.BADRPT),
    ("^*", regexp.BADRPT),
    ("{1}", regexp.BADRPT),
    ("[abc", regexp.EBRACK),
    ("[[:alpha", regexp.EBRACK),
    ("[z-a]", regexp.ERANGE),
    ("[[:alpha:]-z]", regexp.ERANGE),
    ("a{2,1}", regexp.BADBR),
    ("a{x}", regexp.BADBR),
    ("a{}", regexp.BADBR),
    ("a{1,2,3}", regexp.BADBR),
    ("a{", regexp.EBRACE),
    ("a{x", regexp.EBRACE),
    ("a{1", regexp.EBRACE),
    ("x{99999}", regexp.ESIZE),
    ("[[:foo:]]", regexp.ECTYPE),
    ("[[.foo.]]", regexp.ECOLLATE),
    ("\\8", regexp.ESUBREG),
    ("(a)\\2", regexp.ESUBREG),
    ("(a\\1)", regexp.ESUBREG),
    ("abc\\", regexp.EESCAPE),
])
def test_bad_patterns_are_refused_in_glibc_words(pattern: str, error: str) -> None:
    with pytest.raises(PatternSyntaxError) as e:
        translate(pattern)
    assert str(e.value) == error


def test_basic_syntax_refuses_an_unmatched_close_group_in_glibc_words() -> None:
    with pytest.raises(PatternSyntaxError) as e:
        translate("a\\)", extended=False)
    assert str(e.value) == regexp.EPAREN
