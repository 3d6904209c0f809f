"""Reading main.cf as Postfix 3.7 does (each behaviour checked with ``postconf -c DIR -n``)."""

import pytest

from mailrelay.config.maincf import parse_main_cf, read_main_cf, split_nameval
from mailrelay.util.diagnostic import Fatal, Origin

PATH = "/etc/mailrelay/main.cf"


def values(text: str) -> dict[str, str]:
    return parse_main_cf(text, PATH).values()


def test_assignments_with_and_without_white_space():
    assert values("a = 1\nb=2\nc =   3   \nd =\ne=   \n") == {
        "a": "1", "b": "2", "c": "3", "d": "", "e": ""}


def test_continuation_lines_are_joined_as_written():
    # postconf shows "myhostname = a b c d": it collapses white space when printing.
    text = "myhostname = a\n  # comment\n  b   c\n\n\td\nmydomain = x\n"
    assert values(text) == {"myhostname": "a  b   c\td", "mydomain": "x"}


def test_comment_lines_are_skipped_anywhere_but_a_hash_in_a_value_is_the_value():
    text = "# head\n   # indented comment\nmydomain = x # not a comment\n#a = 1\n"
    assert values(text) == {"mydomain": "x # not a comment"}


def test_a_later_assignment_wins_with_postfixs_warning_once():
    # Postfix 3.7 prints this warning several times (postconf reads main.cf several times,
    # and from the second read on also for the first entry); it is printed once here.
    cf = parse_main_cf("relayhost=[h]:25\nrelayhost = second\nrelayhost = third\n", PATH)
    assert cf.values() == {"relayhost": "third"}
    assert cf.warnings == [
        f"{PATH}, line 2: overriding earlier entry: relayhost=[h]:25",
        f"{PATH}, line 3: overriding earlier entry: relayhost=second",
    ]
    assert cf.settings["relayhost"].origin == Origin(PATH, 3)


def test_a_logical_line_starting_with_white_space_is_ignored_with_a_warning():
    text = "   leading = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n  cont\nmyhostname = a\n"
    cf = parse_main_cf(text, PATH)
    assert cf.values() == {"myhostname": "a"}
    assert cf.warnings == [
        f'{PATH}: logical line must not start with whitespace: "   leading = xxxxxxxxxxxxxxxxx..."'
    ]
    short = parse_main_cf("  x = 1\n", PATH)
    assert short.warnings == [f'{PATH}: logical line must not start with whitespace: "  x = 1"']


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("myhostname = a\nfoo\n", f'{PATH}, line 2: missing \'=\' after attribute name: "foo"'),
        ("myhostname = a\n  x\nfoo\n  bar\n",
         f'{PATH}, line 3: missing \'=\' after attribute name: "foo  bar"'),
        ("foo bar = foo\n", f'{PATH}, line 1: missing \'=\' after attribute name: "foo bar = foo"'),
        ("= x\n", f'{PATH}, line 1: missing attribute name: "= x"'),
    ],
)
def test_malformed_lines_are_fatal_with_file_and_line(text, message):
    with pytest.raises(Fatal) as caught:
        parse_main_cf(text, PATH)
    assert str(caught.value) == message


def test_a_continuation_of_nothing_but_an_equals_sign_is_part_of_the_value():
    assert values("myhostname = a\n = foo\n") == {"myhostname": "a = foo"}


def test_names_are_anything_up_to_white_space_or_equals():
    assert values("foo.bar-baz@1 = x\n") == {"foo.bar-baz@1": "x"}
    assert split_nameval("  name   =   a  b  ") == ("name", "a  b")


def test_carriage_returns_are_white_space_not_line_breaks():
    assert values("a = 1\r\nb = x\r\n  y\r\n") == {"a": "1", "b": "x\r  y"}
    assert values("a = 1\x0c2\n") == {"a": "1\x0c2"}


def test_a_missing_file_is_postfixs_fatal_error(tmp_path):
    with pytest.raises(Fatal) as caught:
        read_main_cf(f"{tmp_path}/main.cf")
    assert str(caught.value) == f"open {tmp_path}/main.cf: No such file or directory"
