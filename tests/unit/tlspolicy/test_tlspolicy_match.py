"""Certificate names against match patterns, by the rules Postfix 3.7 gets from OpenSSL.

The cases marked "captured" are verification.cases in tests/golden/smtp_tls (Postfix's
verdict against a real certificate); the others follow OpenSSL's X509_check_host()."""

from __future__ import annotations

import pytest

from mailrelay.tlspolicy.match import (
    bare_nexthop,
    certificate_matches,
    mismatch_code,
    name_matches,
    parse_fingerprint,
    reference_identities,
)


@pytest.mark.parametrize(("certificate_name", "reference", "expected"), [
    ("mx.example.com", "mx.example.com", True),
    ("MX.Example.COM", "mx.example.com", True),  # captured: LocalHost vs nexthop
    ("mx.example.com", "example.com", False),
    ("*.example.com", "b.example.com", True),  # captured
    ("*.example.com", "a.b.example.com", False),  # captured: one label only
    ("*.example.com", "example.com", False),
    ("*.example.com", ".example.com", True),  # captured: dot pattern
    ("a.b.example.com", ".example.com", True),  # captured
    ("example.com", ".example.com", False),  # captured
    ("f*.example.com", "foo.example.com", False),  # captured: no partial wildcards
    ("f*.example.com", "f*.example.com", True),  # not a wildcard: compared as is
    ("*.localhost", "x.localhost", False),  # two labels: not a wildcard
    ("*.localhost", ".localhost", True),  # captured: dot-nexthop
    ("*.localhost", "*.localhost", True),
    ("a.*.example.com", "a.b.example.com", False),
    ("*.example.com", "xn--bcher-kva.example.com", True),  # a whole label may be IDNA
    ("*.exa_mple.com", "a.exa_mple.com", False),  # not a valid wildcard name
    ("*.example.com", "*.example.com", True),
    ("", "", False),
    ("mx.example.com\0.evil", "mx.example.com", False),
])
def test_one_name_against_one_reference(certificate_name: str, reference: str,
                                        expected: bool) -> None:
    assert name_matches(certificate_name, reference) is expected


@pytest.mark.parametrize(("patterns", "hostname", "nexthop", "hosts", "address"), [
    (["hostname"], "mx1.example.com", "example.com", ("mx1.example.com",), None),
    (["nexthop", "dot-nexthop"], "mx1", "[smtp.example.com]:587",
     ("smtp.example.com", ".smtp.example.com"), None),
    (["NEXTHOP"], "h", "example.com:25", ("example.com",), None),
    (["example.net", ".example.net"], "h", "n", ("example.net", ".example.net"), None),
    (["hostname"], "127.0.0.1", "[127.0.0.1]", (), "127.0.0.1"),
    # Only one IP address can be set (the first); dot-nexthop of an address is a name.
    (["127.0.0.1", "192.0.2.1", "dot-nexthop"], "h", "[ipv6:2001:db8::1]:25",
     (".2001:db8::1",), "127.0.0.1"),
])
def test_patterns_become_reference_identities(patterns: list[str], hostname: str,
                                              nexthop: str, hosts: tuple[str, ...],
                                              address: str | None) -> None:
    assert reference_identities(patterns, hostname, nexthop) == (hosts, address)


@pytest.mark.parametrize(("nexthop", "bare"), [
    ("[smtp.example.com]:587", "smtp.example.com"), ("[smtp.example.com]", "smtp.example.com"),
    ("smtp.example.com:587", "smtp.example.com"), ("example.com", "example.com"),
    ("[ipv6:2001:db8::1]:25", "2001:db8::1"), ("[192.0.2.1]", "192.0.2.1"),
])
def test_the_nexthop_without_brackets_and_port(nexthop: str, bare: str) -> None:
    assert bare_nexthop(nexthop) == bare


def test_the_defaults_of_verify_and_secure() -> None:
    # verify: the MX host's name; secure: the nexthop domain or a name below it.
    assert certificate_matches(["mx1.example.com"], ["hostname"], "mx1.example.com",
                               "example.com")
    assert not certificate_matches(["mx1.example.com"], ["nexthop", "dot-nexthop"],
                                   "mx1.example.com", "example.org")
    assert certificate_matches(["mx1.example.com"], ["nexthop", "dot-nexthop"],
                               "mx1.evil.example", "example.com")
    assert certificate_matches(["example.com"], ["nexthop", "dot-nexthop"], "h",
                               "[example.com]:25")


def test_an_address_identity_needs_the_address_in_the_certificate() -> None:
    # captured: a certificate for localhost fails match=127.0.0.1:localhost.
    assert mismatch_code(["localhost"], ["127.0.0.1", "localhost"], "localhost",
                         "[localhost]") == 64
    assert certificate_matches(["localhost"], ["127.0.0.1", "localhost"], "localhost",
                               "[localhost]", addresses=["127.0.0.1"])
    # captured: verify with match=127.0.0.1 and an IP subjectAltName.
    assert certificate_matches([], ["127.0.0.1"], "localhost", "[localhost]",
                               addresses=["127.0.0.1"])
    assert mismatch_code(["mx.example.com"], ["hostname"], "127.0.0.1", "[127.0.0.1]") == 64
    assert mismatch_code(["mx.example.com"], ["hostname"], "localhost", "[localhost]") == 62


def test_no_pattern_at_all_matches_nothing() -> None:
    assert mismatch_code(["mx.example.com"], [], "mx.example.com", "example.com") == 62


@pytest.mark.parametrize(("text", "parsed"), [
    ("AB:CD:EF", "ABCDEF"), ("abcdef", "ABCDEF"), ("ab:cdEF", "ABCDEF"),
    ("ZZ", None), ("ABC", None), ("AB::CD", None), (":AB", None), ("", None),
])
def test_fingerprints_take_colons_or_not(text: str, parsed: str | None) -> None:
    assert parse_fingerprint(text) == parsed
