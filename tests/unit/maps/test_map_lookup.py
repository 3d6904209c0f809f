"""Postfix's lookup order, as the man pages state it (canonical(5), virtual(5), generic(5),
transport(5), access(5)), checked by recording which keys a lookup asks for."""

from __future__ import annotations

import pytest

from mailrelay.maps.base import MapLookupError
from mailrelay.maps.lookup import (
    AddressMatch,
    Maps,
    Strategy,
    access_strategy,
    address_lookup,
    domain_lookup,
    quote_localpart,
    split_localpart,
    strip_extension,
    transport_strategy,
)


class Recorder:
    """A fixed (non-pattern) table that answers nothing and records what it was asked."""

    is_pattern = False
    fold_case = False
    spec = "hash:recorder"

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        self.asked: list[str] = []
        self.answers = answers or {}

    def lookup(self, key: str) -> str | None:
        self.asked.append(key)
        return self.answers.get(key)

    def is_stale(self) -> bool:
        return False


class Pattern(Recorder):
    is_pattern = True
    spec = "regexp:recorder"


def keys(address: str, strategy: Strategy = Strategy.DEFAULT, *, delimiter: str = "+",
         local: bool = False) -> list[str]:
    table = Recorder()
    assert address_lookup(Maps("test_maps", (table,)), address, delimiter=delimiter,
                          local_domain=local, strategy=strategy) is None
    return table.asked


# canonical(5)/virtual(5)/generic(5) "TABLE SEARCH ORDER" and "ADDRESS EXTENSION".
@pytest.mark.parametrize(("address", "local", "order"), [
    ("user@domain", False, ["user@domain", "@domain"]),
    ("user@domain", True, ["user@domain", "user", "@domain"]),
    ("user+foo@domain", False, ["user+foo@domain", "user@domain", "@domain"]),
    ("user+foo@domain", True, ["user+foo@domain", "user@domain", "user+foo", "user",
                               "@domain"]),
    ("user", True, ["user"]),
    ("user+foo", True, ["user+foo", "user"]),
])
def test_address_lookup_order_of_canonical_virtual_and_generic(
        address: str, local: bool, order: list[str]) -> None:
    assert keys(address, local=local) == order


def test_without_recipient_delimiter_there_is_no_extension() -> None:
    assert keys("user+foo@domain", delimiter="", local=True) == [
        "user+foo@domain", "user+foo", "@domain"]


def test_several_delimiters_split_at_the_first_one_found() -> None:
    assert keys("a-b+c@d", delimiter="+-") == ["a-b+c@d", "a@d", "@d"]


@pytest.mark.parametrize(("localpart", "delimiters", "split"), [
    ("user+foo", "+", ("user", "+foo")),
    ("user+foo+bar", "+", ("user", "+foo+bar")),
    ("+foo", "+", None),  # nothing would be left
    ("user", "+", None),
    ("postmaster+x", "+", ("postmaster", "+x")),
    ("MAILER-DAEMON", "-", None),  # these names are never split
    ("double-bounce", "-", None),
])
def test_where_postfix_splits_a_local_part(localpart: str, delimiters: str,
                                           split: tuple[str, str] | None) -> None:
    assert split_localpart(localpart, delimiters) == split


def test_old_style_list_names_keep_their_dashes_when_dash_is_a_delimiter() -> None:
    assert split_localpart("owner-list", "-") is None
    assert split_localpart("list-request", "-") is None
    assert split_localpart("user-ext", "-") == ("user", "-ext")
    assert strip_extension("user-ext@example.com", "-") == ("user@example.com", "-ext")


def test_the_removed_extension_is_returned_with_the_match() -> None:
    table = Recorder({"user@domain": "other@example.com"})
    maps = Maps("canonical_maps", (table,))
    assert address_lookup(maps, "user+foo@domain", delimiter="+") == AddressMatch(
        "other@example.com", "+foo")
    assert address_lookup(maps, "user@domain", delimiter="+") == AddressMatch(
        "other@example.com", None)


def test_the_local_domain_decision_is_the_callers() -> None:
    table = Recorder({"root": "admin@example.com"})
    maps = Maps("generic", (table,))
    local = {"relay.corp.local"}.__contains__
    assert address_lookup(maps, "root@relay.corp.local", local_domain=local) == AddressMatch(
        "admin@example.com")
    assert address_lookup(maps, "root@elsewhere.example", local_domain=local) is None


def test_pattern_tables_see_only_the_full_address() -> None:
    pattern, fixed = Pattern(), Recorder()
    maps = Maps("smtp_generic_maps", (pattern, fixed))
    address_lookup(maps, "user+foo@domain", delimiter="+", local_domain=True)
    assert pattern.asked == ["user+foo@domain"]
    assert fixed.asked == ["user+foo@domain", "user@domain", "user+foo", "user", "@domain"]


def test_tables_are_searched_in_order_for_each_key() -> None:
    first = Recorder({"@domain": "from-first"})
    second = Recorder({"user@domain": "from-second"})
    maps = Maps("virtual_alias_maps", (first, second))
    assert address_lookup(maps, "user@domain") == AddressMatch("from-second")
    assert first.asked == ["user@domain"]


def test_local_parts_that_need_quotes_are_tried_quoted_first() -> None:
    assert quote_localpart("a b@example.com") == '"a b"@example.com'
    assert quote_localpart("a.b@example.com") == "a.b@example.com"
    assert quote_localpart(".a@example.com") == '".a"@example.com'
    assert quote_localpart('a"b', bare=True) == '"a\\"b"'
    assert keys("a b@example.com") == ['"a b"@example.com', "a b@example.com", "@example.com"]


# transport(5): user+extension@domain, user@domain, domain, .domain (or parent domains), *.
@pytest.mark.parametrize(("parent_matches", "order"), [
    (False, ["user+ext@sub.example.com", "user@sub.example.com", "sub.example.com",
             ".example.com", ".com"]),
    (True, ["user+ext@sub.example.com", "user@sub.example.com", "sub.example.com",
            "example.com", "com"]),
])
def test_transport_lookup_order(parent_matches: bool, order: list[str]) -> None:
    assert keys("user+ext@sub.example.com", transport_strategy(parent_matches)) == order


# access(5) EMAIL ADDRESS PATTERNS with an address extension.
def test_access_lookup_order_for_an_address() -> None:
    assert keys("user+foo@example.com", access_strategy(True)) == [
        "user+foo@example.com", "user@example.com", "example.com", "com", "user+foo@",
        "user@"]


@pytest.mark.parametrize(("parent_matches", "order"), [
    (True, ["host.sub.example.com", "sub.example.com", "example.com", "com"]),
    (False, ["host.sub.example.com", ".sub.example.com", ".example.com", ".com"]),
])
def test_domain_lookup_walks_parent_domains(parent_matches: bool, order: list[str]) -> None:
    table = Recorder()
    assert domain_lookup(Maps("smtpd_access_maps", (table,)), "host.sub.example.com",
                         parent_matches_subdomains=parent_matches) is None
    assert table.asked == order


def test_domain_lookup_shows_only_the_domain_itself_to_pattern_tables() -> None:
    pattern = Pattern()
    domain_lookup(Maps("x", (pattern,)), "a.example.com", parent_matches_subdomains=True)
    assert pattern.asked == ["a.example.com"]


def test_domain_lookup_stops_at_the_first_answer() -> None:
    table = Recorder({"example.com": "OK"})
    assert domain_lookup(Maps("x", (table,)), "a.example.com",
                         parent_matches_subdomains=True) == "OK"
    assert table.asked == ["a.example.com", "example.com"]


def test_empty_keys_are_never_looked_up() -> None:
    table = Recorder()
    assert Maps("x", (table,)).find("") is None
    assert table.asked == []


def test_an_empty_result_is_a_table_error_not_an_answer() -> None:
    maps = Maps("sender_canonical_maps", (Recorder({"a": ""}),))
    with pytest.raises(MapLookupError,
                       match="sender_canonical_maps lookup of a returns an empty string"):
        maps.find("a")


def test_a_failing_table_stops_the_search_with_a_retry_error() -> None:
    from mailrelay.maps.simple import FailTable

    maps = Maps("transport_maps", (FailTable("x"), Recorder({"a": "b"})))
    with pytest.raises(MapLookupError, match="fail:x lookup of a failed"):
        maps.find("a")
