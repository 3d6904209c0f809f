"""Pieces of the postmap command that the golden transcripts exercise only indirectly."""

from __future__ import annotations

import io

import pytest

from mailrelay.cli.context import Context
from mailrelay.cli.postmap import UsageError, message_keys, parse_args, printable
from mailrelay.maps.indexed import DupMode
from mailrelay.util.diagnostic import Fatal

MESSAGE = ["Subject: hi", " there", "From: a@b", "", "body 1", "", "body 3"]


@pytest.mark.parametrize(("headers", "body", "keys"), [
    (True, False, ["Subject: hi\n there", "From: a@b"]),
    (False, True, ["", "body 1", "", "body 3"]),
    (True, True, ["Subject: hi\n there", "From: a@b", "", "body 1", "", "body 3"]),
])
def test_message_keys_are_logical_headers_and_body_lines(headers: bool, body: bool,
                                                         keys: list[str]) -> None:
    assert list(message_keys(MESSAGE, headers=headers, body=body)) == keys


def test_a_non_header_line_ends_the_header_with_an_empty_boundary_key() -> None:
    lines = ["Subject: x", "not a header", "X-Late: y"]
    assert list(message_keys(lines, headers=True, body=True)) == [
        "Subject: x", "", "not a header", "X-Late: y"]


def test_unprintable_characters_show_as_question_marks() -> None:
    assert printable("a\tb\x7f\ufffdé") == "a?b??é"


def context() -> Context:
    return Context("postmap", stdin=io.StringIO(), stdout=io.StringIO(),
                   stderr=io.StringIO(), environ={})


def test_options_may_be_grouped_and_end_at_the_first_operand() -> None:
    request = parse_args(["-fwq", "key", "hash:a", "-s"], context())
    assert (request.fold, request.dup, request.query) == (False, DupMode.IGNORE, "key")
    assert request.operands == ["hash:a", "-s"]


def test_c_sets_the_configuration_directory() -> None:
    ctx = context()
    parse_args(["-c", "/etc/mailrelay", "-q", "k", "t"], ctx)
    assert ctx.config_option == "/etc/mailrelay"


def test_unknown_options_print_getopts_message() -> None:
    ctx = context()
    with pytest.raises(UsageError):
        parse_args(["-x"], ctx)
    assert ctx.stderr.getvalue() == "mailrelay/postmap: invalid option -- 'x'\n"


def test_only_one_of_q_s_d() -> None:
    with pytest.raises(Fatal, match="specify only one of -s -q or -d"):
        parse_args(["-d", "a", "-q", "b"], context())
