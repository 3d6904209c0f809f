from __future__ import annotations

import pytest

from mailrelay.route import Nexthop, NexthopError, parse_nexthop, parse_nexthops


@pytest.mark.parametrize(("text", "expected"), [
    ("[smtp.office365.com]:587", Nexthop("smtp.office365.com", 587, mx=False)),
    ("[exchange.corp.local]", Nexthop("exchange.corp.local", None, mx=False)),
    ("example.com", Nexthop("example.com", None, mx=True)),
    ("example.com:2525", Nexthop("example.com", 2525, mx=True)),
    ("[192.0.2.1]:25", Nexthop("192.0.2.1", 25, mx=False)),
    ("[ipv6:2001:db8::1]:25", Nexthop("2001:db8::1", 25, mx=False)),
    ("[IPv6:2001:db8::1]", Nexthop("2001:db8::1", None, mx=False)),
    ("[2001:db8::1]:465", Nexthop("2001:db8::1", 465, mx=False)),
    ("[smtp.gmail.com]:submission", Nexthop("smtp.gmail.com", 587, mx=False)),
])
def test_parse_nexthop(text: str, expected: Nexthop) -> None:
    assert parse_nexthop(text) == expected


@pytest.mark.parametrize("text", ["[host", "[]:25", "[host]x", "host:0", "host:99999",
                                  "host:nosuchservice", "2001:db8::1", ":25"])
def test_bad_nexthop(text: str) -> None:
    with pytest.raises(NexthopError):
        parse_nexthop(text)


def test_str_round_trips() -> None:
    for text in ("[smtp.office365.com]:587", "example.com", "example.com:2525", "[a.b]"):
        assert str(parse_nexthop(text)) == text


def test_list_of_nexthops() -> None:
    assert parse_nexthops("[a.example]:587, [b.example]:587 c.example") == (
        Nexthop("a.example", 587, False), Nexthop("b.example", 587, False),
        Nexthop("c.example", None, True))
