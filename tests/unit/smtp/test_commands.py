from __future__ import annotations

import pytest

from mailrelay.smtp.commands import COMMANDS, Flag, Verb, looks_like_header, lookup, tokenize


def words(line: str) -> list[str]:
    return [t.text for t in tokenize(line)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("MAIL FROM:<a@b>", ["MAIL", "FROM:", "<a@b>"]),
        ("MAIL FROM: <a@b>", ["MAIL", "FROM:", "<a@b>"]),
        ("mail from:a@b SIZE=5", ["mail", "from:", "a@b", "SIZE=5"]),
        ("RCPT TO:<a b@c>", ["RCPT", "TO:", "<a b@c>"]),
        ('RCPT TO:<"a b"@c> NOTIFY=NEVER', ["RCPT", "TO:", '<"a b"@c>', "NOTIFY=NEVER"]),
        ("MAIL FROM :<a@b>", ["MAIL", "FROM", ":<a@b>"]),
        ("MAIL FROM:<a@b>SIZE=5", ["MAIL", "FROM:", "<a@b>SIZE=5"]),
        ("  NOOP  \t x ", ["NOOP", "x"]),
        ("HELO a\rb", ["HELO", "a", "b"]),
        ("", []),
        ("   ", []),
    ],
)
def test_the_tokenizer_splits_like_postfix(line, expected):
    assert words(line) == expected


def test_an_unterminated_bracket_or_quote_is_an_error_token():
    assert tokenize("MAIL FROM:<a@b")[2].error
    assert tokenize('RCPT TO:<"a@b>')[2].error
    assert not tokenize("MAIL FROM:<<a@b>>")[2].error


def test_unicode_spaces_are_not_separators():
    assert words("HELO a\u00a0b") == ["HELO", "a\u00a0b"]


def test_commands_are_found_case_insensitively():
    command = lookup("ehlo")
    assert command is not None and command.verb is Verb.EHLO
    assert lookup("HELP") is None
    assert lookup("\u0130NFO") is None  # no Unicode case folding into a command


def test_the_command_table_has_postfix_flags():
    assert Flag.LAST in COMMANDS["DATA"].flags
    assert Flag.PRE_TLS in COMMANDS["STARTTLS"].flags
    assert Flag.PRE_TLS not in COMMANDS["MAIL"].flags
    assert Flag.LIMIT in COMMANDS["NOOP"].flags
    assert COMMANDS["BDAT"].flags is Flag.NONE


@pytest.mark.parametrize(
    ("word", "header"),
    [("Subject:", True), ("MAILFROM:<a@b>", True), (":x", False), ("NOOP", False)],
)
def test_a_word_with_a_label_and_colon_looks_like_a_header(word, header):
    assert looks_like_header(word) is header
