from __future__ import annotations

from mailrelay.smtp.client_ehlo import helo_features, parse_ehlo
from mailrelay.smtp.client_reply import ReplyReader, ServerReply


def reply(*lines: str) -> ServerReply:
    reader = ReplyReader()
    text = "".join(f"250-{line}\r\n" for line in lines[:-1]) + f"250 {lines[-1]}\r\n"
    reader.feed(text.encode())
    result = reader.next_reply()
    assert result is not None
    return result


def test_the_keywords_postfix_uses_are_recognized_in_any_case():
    features = parse_ehlo(reply("mx.example.com Hello", "pipelining", "SIZE 35882577",
                                "8BITMIME", "Dsn", "SMTPUTF8", "STARTTLS",
                                "ENHANCEDSTATUSCODES", "CHUNKING"))
    assert features.esmtp and features.server_name == "mx.example.com"
    assert features.pipelining and features.dsn and features.smtputf8 and features.starttls
    assert features.eight_bit_mime
    assert features.size and features.size_limit == 35882577


def test_size_without_a_number_means_no_limit_and_a_bad_number_is_noted():
    assert parse_ehlo(reply("mx", "SIZE")).size_limit == 0
    features = parse_ehlo(reply("mx", "SIZE lots"), peer="mx[192.0.2.1]")
    assert features.size and features.size_limit == 0
    assert features.notes == ('warning: bad EHLO SIZE limit "lots" from mx[192.0.2.1]',)


def test_auth_mechanisms_are_read_from_both_the_space_and_the_equals_form():
    features = parse_ehlo(reply("mx", "AUTH LOGIN plain", "AUTH=LOGIN XOAUTH2"))
    assert features.auth == ("LOGIN", "PLAIN", "XOAUTH2")
    assert parse_ehlo(reply("mx", "PIPELINING")).auth == ()


def test_discarded_keywords_are_ignored_and_logged_unless_silent():
    features = parse_ehlo(reply("mx", "PIPELINING", "STARTTLS", "8BITMIME"),
                          ["pipelining", "starttls"])
    assert not features.pipelining and not features.starttls and features.eight_bit_mime
    assert features.notes == ("discarding EHLO keywords: PIPELINING STARTTLS",)
    quiet = parse_ehlo(reply("mx", "PIPELINING"), ["silent-discard", "pipelining"])
    assert not quiet.pipelining and quiet.notes == ()


def test_smtputf8_without_8bitmime_counts_as_8bitmime_as_in_postfix():
    features = parse_ehlo(reply("mx", "SMTPUTF8"), peer="mx[192.0.2.1]")
    assert features.eight_bit_mime
    assert features.notes == ("host mx[192.0.2.1] offers SMTPUTF8 support, but not 8BITMIME",)


def test_the_first_line_is_the_server_name_not_a_keyword():
    features = parse_ehlo(reply("PIPELINING"))
    assert features.server_name == "PIPELINING" and not features.pipelining


def test_after_helo_nothing_is_offered():
    features = helo_features(reply("mx.example.com"))
    assert not features.esmtp and not features.pipelining and features.server_name == (
        "mx.example.com")
