"""The pure ordering rules of the smtp client's server list (Postfix's smtp_addr.c)."""

from __future__ import annotations

import random

import pytest

from mailrelay.route.mx import (
    Address,
    AddressPreference,
    DnsStatus,
    Failure,
    Lookup,
    Ordering,
    arrange,
    balance,
    combine,
    own_addresses,
    parse_mx,
    truncate_at_self,
)


def v4(n: int, pref: int = 10) -> Address:
    return Address(f"h{n}", f"192.0.2.{n}", pref)


def v6(n: int, pref: int = 10) -> Address:
    return Address(f"h{n}", f"2001:db8::{n}", pref)


def test_mx_records_are_sorted_by_preference_keeping_dns_order_among_equals() -> None:
    assert parse_mx(["20 b.example.", "10 c.example", "10 a.example"]) == [
        (10, "c.example"), (10, "a.example"), (20, "b.example")]


@pytest.mark.parametrize(("v4_count", "v6_count", "first", "kept4", "kept6"), [
    (4, 1, 4, 4, 1),  # fits: nothing removed
    (6, 1, 4, 4, 1),  # few IPv6 (region R1): all of them kept
    (1, 6, 6, 1, 4),  # few IPv4 (region R3)
    (6, 6, 4, 3, 2),  # both many (R2): the odd one goes to the first address's family
    (6, 6, 6, 2, 3),
])
def test_balancing_keeps_both_families_within_the_limit(
        v4_count: int, v6_count: int, first: int, kept4: int, kept6: int) -> None:
    fours = [v4(i) for i in range(v4_count)]
    sixes = [v6(i) for i in range(v6_count)]
    addresses = fours + sixes if first == 4 else sixes + fours
    kept = balance(addresses, 5)
    assert sum(a.version == 4 for a in kept) == kept4
    assert sum(a.version == 6 for a in kept) == kept6
    assert kept == [a for a in addresses if a in kept]  # order unchanged


def test_one_family_alone_is_not_balanced_but_cut_at_the_limit() -> None:
    addresses = [v4(i) for i in range(8)]
    assert arrange(addresses, Ordering(randomize=False), random.Random(0)) == addresses[:5]


def test_arrange_sorts_by_preference_then_by_the_preferred_family() -> None:
    addresses = [v4(1, 20), v6(2, 10), v4(3, 10), v6(4, 20)]
    ordering = Ordering(preference=AddressPreference.IPV4, address_limit=0)
    got = arrange(addresses, ordering, random.Random(3))
    assert [(a.preference, a.version) for a in got] == [(10, 4), (10, 6), (20, 4), (20, 6)]


def test_without_sorting_a_host_list_keeps_its_shuffle() -> None:
    addresses = [v4(i, 0) for i in range(5)]
    orders = {tuple(arrange(addresses, Ordering(), random.Random(s), sort=False))
              for s in range(10)}
    assert len(orders) > 1


def test_the_list_is_cut_before_this_host_and_everything_as_good() -> None:
    own = own_addresses(["127.0.0.1", "[::1]", "all"])
    addresses = [v4(1, 10), Address("me", "127.0.0.1", 20), v4(3, 20), v4(4, 30)]
    assert truncate_at_self("d", addresses, own, 10) == [v4(1, 10)]


def test_this_host_as_best_mx_is_a_loop_and_as_backup_a_missing_primary() -> None:
    own = own_addresses(["0:0:0:0:0:0:0:1"])
    me = Address("me", "::1", 10)
    assert truncate_at_self("d", [me], own, 10) == Failure(
        "mail for d loops back to myself", "5.4.6")
    assert truncate_at_self("d", [me], own, 5) == Failure(
        "unable to find primary relay for d", "4.4.4")


def test_combined_lookups_report_the_most_hopeful_failure_or_the_last() -> None:
    nx_a = Lookup(DnsStatus.NOTFOUND, reason="A")
    nx_aaaa = Lookup(DnsStatus.NOTFOUND, reason="AAAA")
    retry = Lookup(DnsStatus.RETRY, reason="retry")
    ok = Lookup(DnsStatus.OK, ("2001:db8::1",), canonical="x")
    assert combine([nx_a, nx_aaaa]).reason == "AAAA"
    assert combine([retry, nx_aaaa]).reason == "retry"
    assert combine([nx_a, ok]) == Lookup(DnsStatus.OK, ("2001:db8::1",), canonical="x")
