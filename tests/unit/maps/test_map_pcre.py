"""PCRE (pcre: tables) on Python's re: flags, PCRE-only syntax, PCRE2's error words."""

from __future__ import annotations

import pytest

from mailrelay.maps.pattern_table import PatternSyntaxError
from mailrelay.maps.pcre import DIALECT, translate


def search(pattern: str, key: str, flags: str = "is") -> str | None:
    m = DIALECT.compile(pattern, frozenset(flags)).search(key)
    return None if m is None else m.group()


def groups(pattern: str, key: str, flags: str = "is") -> tuple[str | None, ...]:
    m = DIALECT.compile(pattern, frozenset(flags)).search(key)
    assert m is not None
    return m.groups()


@pytest.mark.parametrize(("pattern", "key", "found"), [
    ("^a.b$", "a\nb", "a\nb"),  # s (DOTALL) is on by default
    ("^case$", "CASE", "CASE"),  # i is on by default
    ("^e$", "e\n", "e"),  # $ matches before a final newline...
    ("\\z", "e\n", ""),
    ("e\\Z", "e\n", "e"),
    ("\\Qa.b\\E+", "a.bb", "a.bb"),
    ("[\\Q]\\E]+", "]]", "]]"),
    ("\\x41\\x{42}\\101", "ABA", "ABA"),
    ("\\e", "\x1b", "\x1b"),
    ("\\cA", "\x01", "\x01"),
    ("a\\h+b", "a \tb", "a \tb"),
    ("[[:digit:][:upper:]]+", "!1A", "1A"),
    ("[[:^digit:]]+", "12ab", "ab"),
    ("a++b", "aab", "aab"),
    ("(?>a+)b", "aab", "aab"),
    ("x{a}", "x{a}", "x{a}"),  # not a quantifier: literal braces
    ("(?#comment)ab", "ab", "ab"),
    ("a\\Rb", "a\r\nb", "a\r\nb"),
])
def test_pcre_patterns_match_as_pcre_does(pattern: str, key: str, found: str | None) -> None:
    assert search(pattern, key) == found


def test_named_groups_and_references_are_translated() -> None:
    assert groups("(?<n>a)\\k<n>(?'m'b)\\k{m}(?P<o>c)(?P=o)\\g{1}", "aabbcca") == ("a", "b", "c")


def test_relative_references_count_back_from_the_last_group() -> None:
    assert search("(a)(b)\\g{-1}\\g{-2}", "abba") == "abba"


def test_option_settings_last_to_the_end_of_their_group_across_alternatives() -> None:
    pattern = "(a(?i)b|c)"
    flags = "s"  # case-sensitive to start with
    assert search(pattern, "aB", flags) == "aB"
    assert search(pattern, "C", flags) == "C"
    assert search(pattern, "Ab", flags) is None


@pytest.mark.parametrize(("flags", "key", "found"), [
    ("is", "b\na", None),
    ("ism", "b\na", "a"),  # m: ^ after each newline
    ("i", "x\nz", None),  # without s, . does not match a newline
])
def test_table_flags_m_and_s(flags: str, key: str, found: str | None) -> None:
    pattern = "^a" if "m" in flags or key.startswith("b") else "x.z"
    assert search(pattern, key, flags) == found


def test_flag_a_anchors_the_match_at_the_start() -> None:
    assert search("b", "ab", "isA") is None
    assert search("a", "ab", "isA") == "a"


def test_flag_e_makes_dollar_the_very_end() -> None:
    assert search("e$", "e\n", "isE") is None
    assert search("e$", "e", "isE") == "e"


def test_flag_u_swaps_greedy_and_lazy() -> None:
    assert groups("^u(.+)v", "uaavv", "isU") == ("aa",)
    assert groups("^u(.+?)v", "uaavv", "isU") == ("aav",)


def test_flag_x_ignores_white_space_and_comments() -> None:
    assert search("a b # a comment", "ab", "isx") == "ab"


@pytest.mark.parametrize(("pattern", "error"), [
    ("abc(", "error in regex at offset 4: missing closing parenthesis"),
    ("(?", "error in regex at offset 2: missing closing parenthesis"),
    ("abc)", "error in regex at offset 3: unmatched closing parenthesis"),
    ("*a", "error in regex at offset 0: quantifier does not follow a repeatable item"),
    ("a**", "error in regex at offset 2: quantifier does not follow a repeatable item"),
    ("[abc", "error in regex at offset 4: missing terminating ] for character class"),
    ("[z-a]", "error in regex at offset 3: range out of order in character class"),
    ("[\\d-z]", "error in regex at offset 3: invalid range in character class"),
    ("a{2,1}", "error in regex at offset 5: numbers out of order in {} quantifier"),
    ("x{99999999999}", "error in regex at offset 7: number too big in {} quantifier"),
    ("[[:foo:]]", "error in regex at offset 3: unknown POSIX class name"),
    ("\\8", "error in regex at offset 1: reference to non-existent subpattern"),
    ("(a)\\2", "error in regex at offset 4: reference to non-existent subpattern"),
    ("\\g1", "error in regex at offset 2: reference to non-existent subpattern"),
    ("\\x{263a}", "error in regex at offset 7: "
                  "character code point value in \\x{} or \\o{} is too large"),
    ("a\\", "error in regex at offset 2: \\ at end of pattern"),
    ("\\i", "error in regex at offset 2: unrecognized character follows \\"),
])
def test_bad_patterns_are_refused_in_pcre2_words_and_offsets(pattern: str, error: str) -> None:
    with pytest.raises(PatternSyntaxError) as e:
        translate(pattern)
    assert str(e.value) == error


@pytest.mark.parametrize("pattern", ["\\p{L}", "a\\Kb", "(?R)", "(?1)(a)", "(*FAIL)",
                                     "(?(1)a|b)", "\\X"])
def test_features_python_lacks_are_refused_by_name(pattern: str) -> None:
    with pytest.raises(PatternSyntaxError, match="unsupported PCRE feature"):
        translate(pattern)
