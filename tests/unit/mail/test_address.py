from __future__ import annotations

import pytest

from mailrelay.mail.address import extract, parse_path, valid_hostname


@pytest.mark.parametrize(
    ("raw", "internal"),
    [
        ("<a@example.net>", "a@example.net"),
        ("a@example.net", "a@example.net"),
        ("<>", ""),
        ('<"a b"@example.net>', "a b@example.net"),
        ('<"user@foreign"@relay.example>', "user@foreign@relay.example"),
        ("<@r1,@r2:u@example.net>", "u@example.net"),
        ("<@r1,r2:u@example.net>", "u@example.net"),
        ("<a(comment)@example.net>", "a@example.net"),
        ("<a\\ b@example.net>", "a b@example.net"),
        ("<<a@example.net>>", "a@example.net"),
        ("<Name <a@example.net>>", "a@example.net"),
        ("a@example.net>", "a@example.net"),
        ("<group:a@example.net>", "a@example.net"),
        ("<a%b@example.net>", "a%b@example.net"),
        ("<a!b@example.net>", "a!b@example.net"),
        ("< a@example.net >", "a@example.net"),
    ],
)
def test_the_internal_form_drops_quotes_comments_and_routes(raw, internal):
    assert extract(raw) == internal


@pytest.mark.parametrize(
    "raw",
    [
        "<a b@c>",
        "<a,b@example.net>",
        "<a;b@example.net>",
        "<a@example.net",
        "<a@example.net>x",
        "<a@example.net:>",
        "<(unclosed@example.net>",
        '<"unclosed@example.net>',
    ],
)
def test_what_is_not_one_address_has_no_internal_form(raw):
    assert extract(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "<@>",
        "<a@>",
        "<a@[1.2.3]>",
        "<a@[foo]>",
        "<a@b..c>",
        "<a@-b.c>",
        "<a@b-.c>",
        "<a@123>",
        "<a@1.2.3.4>",
        "<a@[192.0.2.256]>",
        "<a@" + "b" * 64 + ".net>",
        "<a@\u00e9xample.com>",
    ],
)
def test_a_bad_domain_makes_a_bad_address(raw):
    assert parse_path(raw, allow_null=True, smtputf8=False) is None


@pytest.mark.parametrize(
    "raw",
    [
        "<a@[192.0.2.1]>",
        "<a@[IPv6:2001:db8::1]>",
        "<a@b_c.d>",
        "<a@b.1>",
        "<a@example.net.>",
        "<a..b@example.net>",
        "<@example.net>",
        "<\u00e9@example.net>",
        "<postmaster>",
    ],
)
def test_postfix_is_lenient_about_these(raw):
    assert parse_path(raw, allow_null=False, smtputf8=False) is not None


def test_a_non_ascii_domain_needs_smtputf8():
    assert parse_path("<a@\u00e9xample.com>", allow_null=False, smtputf8=True) is not None


def test_the_null_address_is_only_for_senders():
    assert parse_path("<>", allow_null=True, smtputf8=False) is not None
    assert parse_path("<>", allow_null=False, smtputf8=False) is None


def test_an_address_keeps_what_the_client_sent():
    address = parse_path('<"a b"@Example.NET>', allow_null=False, smtputf8=False)
    assert address is not None
    assert (address.address, address.raw) == ("a b@Example.NET", '<"a b"@Example.NET>')
    assert (address.localpart, address.domain) == ("a b", "Example.NET")


def test_host_names_follow_postfix_valid_hostname():
    assert valid_hostname("mail.example.com")
    assert not valid_hostname("")
    assert not valid_hostname("a" * 64 + ".com")
    assert not valid_hostname("x." * 130 + "com")
    assert not valid_hostname("192.0.2.1")
