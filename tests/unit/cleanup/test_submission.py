"""sendmail's input rules and address parsing, as Postfix 3.7's sendmail does them.

The expected values of the address cases were read from a private Postfix 3.7.11
(``postfix-oracle``): ``sendmail -C DIR/etc ARG`` and ``postcat`` of the queued message's
``original_recipient`` records.
"""

from __future__ import annotations

import io

import pytest

from mailrelay.cleanup.message import split_headers
from mailrelay.cleanup.submission import (
    HeaderRecipients,
    address_list,
    envelope_recipient,
    gecos_full_name,
    message_lines,
    sender_address,
)


def read(data: bytes, *, dot_ends: bool = True) -> bytes:
    return b"".join(message_lines(io.BytesIO(data), dot_ends=dot_ends))


# ---------------------------------------------------------------- reading stdin


def test_lf_and_crlf_input_are_stored_the_same_with_crlf():
    assert read(b"Subject: x\n\nbody\n") == b"Subject: x\r\n\r\nbody\r\n"
    assert read(b"Subject: x\r\n\r\nbody\r\n") == b"Subject: x\r\n\r\nbody\r\n"


def test_every_trailing_cr_goes_and_a_cr_inside_a_line_stays():
    assert read(b"a\r\r\nb\rc\n") == b"a\r\nb\rc\r\n"


def test_a_last_line_without_a_newline_is_ended():
    assert read(b"Subject: x\n\nlast line") == b"Subject: x\r\n\r\nlast line\r\n"


def test_without_i_a_lone_dot_ends_the_input():
    assert read(b"Subject: x\n\nhello\n.\nnot reached\n") == b"Subject: x\r\n\r\nhello\r\n"
    assert read(b"hello\r\n.\r\nnot reached\r\n") == b"hello\r\n"


def test_with_i_a_lone_dot_is_an_ordinary_line():
    data = b"hello\n.\nafter dot\n"
    assert read(data, dot_ends=False) == b"hello\r\n.\r\nafter dot\r\n"


def test_a_dot_with_more_on_its_line_never_ends_the_input():
    assert read(b"a\n..\n. \nb\n") == b"a\r\n..\r\n. \r\nb\r\n"


def test_leading_mbox_from_lines_are_skipped_but_not_later_ones():
    data = b"From someone Tue Nov 24\n>From x\nSubject: s\n\nFrom here\n"
    assert read(data) == b"Subject: s\r\n\r\nFrom here\r\n"


def test_empty_input_is_an_empty_message():
    assert read(b"") == b""
    assert read(b".\nSubject: x\n") == b""


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bob@example.com", ["bob@example.com"]),
        ("John Doe", ["John", "Doe"]),
        ("a b@c.example", ["a", "b@c.example"]),
        ('"a b"@x.example', ["a b@x.example"]),
        ("<a@x.example>", ["a@x.example"]),
        ("<@r1.example,@r2.example:u@x.example>", ["@r1.example,@r2.example:u@x.example"]),
        ("a@x.example, b@x.example", ["a@x.example", "b@x.example"]),
        ("", []),
        ("u@[1.2.3.4]", ["u@[1.2.3.4]"]),
        ("x@y.example (Com ment)", ["x@y.example"]),
        ("Name <p@q.example> junk", ["p@q.example", "junk"]),
        ("a@b@c.example", ["a@b@c.example"]),
        ('"q\\"x"@y.example', ['q"x@y.example']),
        ("bob", ["bob"]),
        ('A Person <a@example.com>, "x, y" <b@example.com>', ["a@example.com", "b@example.com"]),
        ("grp: a@example.com, b@example.com;, bob", ["a@example.com", "b@example.com", "bob"]),
        ("undisclosed-recipients:;", []),
        ("a(comment)@b.example", ["a@b.example"]),
        ("user%host@relay.example", ["user%host@relay.example"]),
        ("<>", []),
    ],
)
def test_addresses_are_parsed_as_postfixs_tok822(text, expected):
    assert address_list(text) == expected


def test_a_header_value_may_span_lines():
    assert address_list(" a@example.com,\r\n  b@example.com\r\n") == [
        "a@example.com", "b@example.com"]


def test_the_sender_is_the_first_address_and_more_is_reported():
    assert sender_address("Joe <joe@x.example>") == ("joe@x.example", False)
    assert sender_address("<>") == ("", False)
    assert sender_address("") == ("", False)
    assert sender_address("a b") == ("a", True)


def test_an_envelope_recipient_loses_its_source_route_and_empty_is_mailer_daemon():
    assert envelope_recipient("@r1.example,@r2.example:u@x.example") == "u@x.example"
    assert envelope_recipient("u@x.example") == "u@x.example"
    assert envelope_recipient("") == "MAILER-DAEMON"


# ---------------------------------------------------------------- -t


def extract(content: bytes) -> list[str]:
    headers = HeaderRecipients()
    for line in message_lines(io.BytesIO(content), dot_ends=False):
        headers.feed(line)
    return headers.recipients()


def test_t_takes_to_cc_and_bcc_in_header_order():
    content = (b'To: A Person <a@example.com>, "x, y" <b@example.com>\n'
               b"Cc: c@example.com (comment)\nBcc: secret@example.com\nSubject: x\n\nbody\n")
    assert extract(content) == ["a@example.com", "b@example.com", "c@example.com",
                                "secret@example.com"]


def test_t_reads_folded_headers_and_matches_names_in_any_case():
    assert extract(b"TO: a@example.com,\n  b@example.com\ncc : c@x\n\n") == [
        "a@example.com", "b@example.com", "c@x"]


def test_t_with_resent_headers_takes_only_those():
    content = (b"To: a@example.com\nResent-To: r@example.com\nCc: c@example.com\n"
               b"Resent-Bcc: s@example.com\n\nbody\n")
    assert extract(content) == ["r@example.com", "s@example.com"]


def test_t_ignores_what_follows_the_header_section():
    assert extract(b"Subject: x\n\nTo: body@example.com\n") == []
    assert extract(b"Subject: x\nnot a header\nTo: late@example.com\n") == []
    assert extract(b"To: a@x\nApparently-To: b@x\nReply-To: c@x\n\n") == ["a@x"]


# ---------------------------------------------------------------- dropped headers
# (message_drop_headers: cleanup drops them from every message, SMTP and sendmail alike)


def drop_headers(content: bytes, names: frozenset[str]) -> bytes:
    section = split_headers(content, names)
    return section.headers + section.rest


DROP = frozenset({"bcc", "content-length", "resent-bcc", "return-path"})


def test_bcc_and_its_continuation_lines_are_dropped_and_the_rest_kept():
    content = (b"To: a@example.com\r\nBCC: s@example.com,\r\n t@example.com\r\n"
               b"Subject: x\r\n\r\nBcc: in the body stays\r\n")
    assert drop_headers(content, DROP) == (
        b"To: a@example.com\r\nSubject: x\r\n\r\nBcc: in the body stays\r\n")


def test_nothing_is_dropped_after_the_header_section_ends():
    content = b"Subject: x\r\nnot a header\r\nBcc: s@x\r\n"
    assert drop_headers(content, DROP) == content
    assert drop_headers(b"Return-Path: <x>\r\n", DROP) == b""
    assert split_headers(b"Return-Path: <x>\r\nSubject: y\r\n", DROP).names == {"subject"}
    assert drop_headers(content, frozenset()) == content


# ---------------------------------------------------------------- the user


def test_the_full_name_is_the_gecos_field_up_to_a_comma_with_ampersand_expanded():
    assert gecos_full_name("John Doe,Room 1,555", "jdoe") == "John Doe"
    assert gecos_full_name("& Smith;x", "jdoe") == "Jdoe Smith"
    assert gecos_full_name("", "root") == ""
