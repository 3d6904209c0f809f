"""Postfix's wrapping of notification text (79 columns, continuation lines indented by 4).

The expected lines are copied from notices Postfix 3.7 sent (tests/golden/bounce).
"""

from __future__ import annotations

from mailrelay.bounce.wrap import wrap


def test_a_short_line_is_left_alone() -> None:
    assert wrap("<bad@bad.example>: no such user") == ["<bad@bad.example>: no such user"]


def test_a_long_line_breaks_before_the_word_that_would_pass_column_79() -> None:
    text = ("<user@long.example>: this is a very long reason text that goes on and on so that "
            "the wrapping of the bounce text can be observed, with more words after the first "
            "wrap and even a third line of text")
    assert wrap(text) == [
        "<user@long.example>: this is a very long reason text that goes on and on so",
        "    that the wrapping of the bounce text can be observed, with more words after",
        "    the first wrap and even a third line of text",
    ]


def test_a_line_of_exactly_79_columns_is_not_broken() -> None:
    text = "x" * 70 + " " + "y" * 8
    assert len(text) == 79
    assert wrap(text) == [text]
    assert wrap(text + "y") == ["x" * 70, "    " + "y" * 9]


def test_a_word_longer_than_a_line_stands_alone_unbroken() -> None:
    word = "averyveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryverylong"
    assert wrap(f"<user@nospace.example>: {word}wordwithoutspaces then some words") == [
        "<user@nospace.example>:",
        f"    {word}wordwithoutspaces",
        "    then some words",
    ]


def test_continuation_lines_have_75_columns() -> None:
    text = ("Diagnostic-Code: smtp; 550 5.1.1 <reject@x.example>: Recipient address rejected: "
            "User unknown")
    assert wrap(text) == [
        "Diagnostic-Code: smtp; 550 5.1.1 <reject@x.example>: Recipient address",
        "    rejected: User unknown",
    ]
    assert all(len(line) <= 79 for line in wrap("a " * 200))


def test_blanks_at_a_break_are_dropped_and_trailing_blanks_stripped() -> None:
    assert wrap("a" * 60 + "     " + "b" * 30 + "   ") == ["a" * 60, "    " + "b" * 30]


def test_the_indentation_is_at_most_half_the_width() -> None:
    assert wrap("aaaa bbbb cccc", width=10, indent=8) == ["aaaa bbbb", "     cccc"]
