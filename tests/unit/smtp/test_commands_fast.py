"""tokenize()'s fast path splits every line exactly as the reference smtpd_token() loop."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailrelay.smtp import commands
from mailrelay.smtp.commands import Token, _tokenize_general, tokenize

# Pieces rather than single characters, so that FROM:/TO: words and <...> groups come up
# often enough to matter.
PIECES = [
    " ", "  ", "\t", "\v", "\f", "\r", "\n", "\u00a0", "\x1c",
    "<", ">", "<>", '"', "\\", ":", "FROM", "from", "FrOm", "TO", "to", "From:", "to:",
    "@", ".", "-", "_", "=", ";", ",", "0", "9", "a", "Z", "x", "é", "\u212a",
]
#: Only what the fast path accepts or must turn down by itself (and lines made from its own
#: regex), so that it is taken often.
PLAIN_PIECES = [
    " ", "  ", "<", "<<", ">", ":", "FROM", "to", "From:", "TO:", "a", "@", "é", "\u00a0",
]
RAW_LINES = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    st.lists(st.sampled_from(PLAIN_PIECES), max_size=30).map("".join),
    st.from_regex(commands._PLAIN_LINE, fullmatch=True),
)

VERBS = ["EHLO", "HELO", "MAIL", "RCPT", "DATA", "QUIT", "RSET", "NOOP", "VRFY", "ehlo", "mail"]
ATOMS = st.text(alphabet="abcxyzABC0123456789.-_+=;,é", min_size=1, max_size=12)
ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}", ATOMS, ATOMS)
PATH = st.one_of(
    ADDRESS.map(lambda a: f"<{a}>"),
    ADDRESS,
    st.just("<>"),
    ADDRESS.map(lambda a: f"<<{a}>>"),
    ADDRESS.map(lambda a: f'<"{a}">'),
    ADDRESS.map(lambda a: f"<{a}"),
    ADDRESS.map(lambda a: f"<<{a}>"),
    ADDRESS.map(lambda a: f"<{a.replace('@', ' @')}>"),
)
PARAMETERS = st.lists(
    st.sampled_from(
        ["SIZE=1024", "BODY=8BITMIME", "NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;x@y", "SMTPUTF8",
         "RET=HDRS", "ENVID=x:y", "AUTH=<>"]
    ),
    max_size=3,
)
SEPARATOR = st.sampled_from([" ", " ", " ", "  ", "\t"])
COMMAND_LINES = st.one_of(
    st.builds(lambda verb, sep, host: f"{verb}{sep}{host}", st.sampled_from(VERBS), SEPARATOR,
              ATOMS),
    st.builds(
        lambda verb, kw, sep, path, params: " ".join([f"{verb} {kw}{sep}{path}", *params]),
        st.sampled_from(["MAIL", "RCPT", "mail", "rcpt"]),
        st.sampled_from(["FROM:", "TO:", "from:", "To:", "FROM", "XFOO:"]),
        st.sampled_from(["", "", " ", ":"]),
        PATH,
        PARAMETERS,
    ),
    st.sampled_from(VERBS),
)


@settings(max_examples=300, deadline=None)
@given(RAW_LINES)
@example("MAIL FROM:TO:from:x")
@example("XFOO:bar FROM::x TO:<a:b>c")
@example("<a<b>c>d  <e> f>")
@example("\u212aFROM:x")
@example("RCPT TO:<a b@c>")
@example("MAIL FROM:<<a@b> x>")
@example("MAIL FROM:<<a@b>")
def test_the_fast_path_splits_any_line_as_the_reference(line):
    assert tokenize(line) == _tokenize_general(line)


@settings(max_examples=200, deadline=None)
@given(COMMAND_LINES)
def test_the_fast_path_splits_command_lines_as_the_reference(line):
    assert tokenize(line) == _tokenize_general(line)


@pytest.mark.parametrize(
    "line",
    [
        "EHLO host.example",
        "MAIL FROM:<user@example.com> SIZE=1024 BODY=8BITMIME",
        "MAIL FROM: <a@b>",
        "RCPT TO:<x@y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y",
        "DATA",
        "QUIT",
        "RSET",
        "NOOP",
    ],
)
def test_common_lines_do_not_take_the_reference_loop(line, monkeypatch):
    def slow(line: str) -> list[Token]:
        raise AssertionError(f"{line!r} took the reference loop")

    monkeypatch.setattr(commands, "_tokenize_general", slow)
    assert tokenize(line)
