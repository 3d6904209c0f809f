"""The smtp client's MX lookup against a real DNS server on loopback (dnslib packets).

The server runs in the test's own event loop (asyncio UDP, no thread) and answers from a
small zone; chosen names SERVFAIL, REFUSE or stay silent.  It records every question, so a
test can also say which queries were *not* asked.  Expected texts are Postfix 3.7's (see
tests/golden/local/README.md for the ones captured from the oracle).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

dnslib = pytest.importorskip("dnslib", reason="dnslib is needed to serve DNS on loopback "
                                              "(pip install dnslib)")

from mailrelay.config.maincf import parse_main_cf  # noqa: E402
from mailrelay.config.model import Config  # noqa: E402
from mailrelay.delivery.dns import (  # noqa: E402
    DNS_SERVER_ENV,
    LookupFailure,
    LookupSettings,
    MxResolver,
    Target,
)
from mailrelay.route.nexthop import parse_nexthop  # noqa: E402

ZONE: dict[tuple[str, str], list[Any]] = {
    ("pref.test.", "MX"): [(20, "mx2.pref.test."), (10, "mx1.pref.test.")],
    ("mx1.pref.test.", "A"): ["192.0.2.1"],
    ("mx2.pref.test.", "A"): ["192.0.2.2"],
    ("equal.test.", "MX"): [(10, f"h{i}.equal.test.") for i in range(4)]
    + [(20, "backup.equal.test.")],
    **{(f"h{i}.equal.test.", "A"): [f"192.0.2.{10 + i}"] for i in range(4)},
    ("backup.equal.test.", "A"): ["192.0.2.20"],
    ("nomx.test.", "A"): ["192.0.2.30"],
    ("dual.test.", "A"): ["192.0.2.40"],
    ("dual.test.", "AAAA"): ["2001:db8::40"],
    ("many.test.", "MX"): [(i, f"m{i}.many.test.") for i in range(7)],
    **{(f"m{i}.many.test.", "A"): [f"192.0.2.{50 + i}"] for i in range(7)},
    ("nullmx.test.", "MX"): [(0, ".")],
    ("cname.test.", "MX"): [(10, "alias.cname.test.")],
    ("alias.cname.test.", "CNAME"): ["real.cname.test."],
    ("real.cname.test.", "A"): ["192.0.2.60"],
    ("self.test.", "MX"): [(10, "me.self.test.")],
    ("me.self.test.", "A"): ["127.0.0.1"],
    ("backupself.test.", "MX"): [(10, "far.backupself.test."), (20, "me.self.test.")],
    ("secondary.test.", "MX"): [(10, "mx1.pref.test."), (20, "me.self.test.")],
    ("halfbroken.test.", "MX"): [(10, "servfail.test."), (20, "mx2.pref.test.")],
    ("noaddr.test.", "MX"): [(10, "gone1.test."), (20, "gone2.test.")],
    ("refusedmx.test.", "MX"): [(10, "refused.test.")],
    ("softhard.test.", "MX"): [(10, "servfail.test."), (20, "gone1.test.")],
}
SERVFAIL, REFUSED, SILENT = "servfail.test.", "refused.test.", "silent.test."


def _rdata(qtype: str, value: Any) -> Any:
    if qtype == "A":
        return dnslib.A(value)
    if qtype == "AAAA":
        return dnslib.AAAA(value)
    if qtype == "CNAME":
        return dnslib.CNAME(value)
    return dnslib.MX(value[1], value[0])


class DnsServer(asyncio.DatagramProtocol):
    """Answers from ZONE; remembers every (name, type) it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # a datagram transport (not a subclass of the ABC)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = self.answer(data)
        if packet is not None:
            self.transport.sendto(packet, addr)

    def answer(self, packet: bytes) -> bytes | None:
        request = dnslib.DNSRecord.parse(packet)
        name = str(request.q.qname).lower()
        qtype = dnslib.QTYPE[request.q.qtype]
        self.asked.append((name, qtype))
        reply = request.reply()
        if name == SILENT:
            return None
        if name in (SERVFAIL, REFUSED):
            reply.header.rcode = dnslib.RCODE.SERVFAIL if name == SERVFAIL else dnslib.RCODE.REFUSED
            return reply.pack()
        while (name, "CNAME") in ZONE and qtype != "CNAME":
            target = ZONE[(name, "CNAME")][0]
            reply.add_answer(dnslib.RR(name, dnslib.QTYPE.CNAME, rdata=_rdata("CNAME", target)))
            name = target
        if not any(n == name for n, _ in ZONE):
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
        for value in ZONE.get((name, qtype), []):
            reply.add_answer(dnslib.RR(name, getattr(dnslib.QTYPE, qtype),
                                       rdata=_rdata(qtype, value), ttl=60))
        return reply.pack()


BASE_MAIN_CF = """\
myhostname = relay.corp.local
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
"""


def config(text: str = "") -> Config:
    return Config(parse_main_cf(BASE_MAIN_CF + text, "main.cf"), "/etc/postfix")


Lookup = Callable[[str], Awaitable[list[Target]]]


def run(test: Callable[[Lookup, DnsServer], Awaitable[None]], main_cf: str = "",
        seed: int = 1, port: int = 25) -> None:
    async def main() -> None:
        server = DnsServer()
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: server, local_addr=("127.0.0.1", 0))
        address = ("127.0.0.1", transport.get_extra_info("sockname")[1])
        resolver = MxResolver(LookupSettings.from_config(config(main_cf)), address,
                              timeout=0.2, lifetime=0.5, rng=random.Random(seed))
        try:
            await test(lambda nexthop: resolver.targets(parse_nexthop(nexthop), port), server)
        finally:
            transport.close()

    asyncio.run(main())


def addresses(targets: list[Target]) -> list[str]:
    return [t.address for t in targets]


def failure(nexthop: str, main_cf: str = "") -> LookupFailure:
    caught: list[LookupFailure] = []

    async def test(lookup: Lookup, server: DnsServer) -> None:
        with pytest.raises(LookupFailure) as info:
            await lookup(nexthop)
        caught.append(info.value)

    run(test, main_cf)
    return caught[0]


# -- MX order ---------------------------------------------------------------------------------


def test_mx_hosts_are_tried_in_preference_order_with_their_preference_and_port() -> None:
    async def test(lookup: Lookup, server: DnsServer) -> None:
        assert await lookup("pref.test") == [
            Target("mx1.pref.test", "192.0.2.1", 25, 10),
            Target("mx2.pref.test", "192.0.2.2", 25, 20),
        ]
        assert (await lookup("pref.test:2525"))[0].port == 2525

    run(test)


def test_equal_preferences_are_shuffled_but_stay_before_worse_ones() -> None:
    got: list[list[Target]] = []

    async def test(lookup: Lookup, server: DnsServer) -> None:
        got.append(await lookup("equal.test"))

    for seed in range(12):
        run(test, "smtp_mx_address_limit = 0", seed=seed)
    firsts = set()
    for targets in got:
        assert [t.preference for t in targets] == [10, 10, 10, 10, 20]
        assert sorted(t.hostname for t in targets[:4]) == [f"h{i}.equal.test" for i in range(4)]
        firsts.add(targets[0].hostname)
    assert len(got) == 12 and len(firsts) > 1


def test_equal_preferences_keep_dns_order_without_smtp_randomize_addresses() -> None:
    async def test(lookup: Lookup, server: DnsServer) -> None:
        targets = await lookup("equal.test")
        assert [t.hostname for t in targets[:4]] == [f"h{i}.equal.test" for i in range(4)]

    run(test, "smtp_randomize_addresses = no")


# -- fallbacks and families --------------------------------------------------------------------


def test_a_domain_without_mx_records_is_its_own_server_with_preference_zero() -> None:
    async def test(lookup: Lookup, server: DnsServer) -> None:
        assert await lookup("nomx.test") == [Target("nomx.test", "192.0.2.30", 25, 0)]
        assert server.asked == [("nomx.test.", "MX"), ("nomx.test.", "A")]

    run(test)


def test_a_bracketed_name_is_looked_up_without_mx() -> None:
    async def test(lookup: Lookup, server: DnsServer) -> None:
        assert await lookup("[mx1.pref.test]:587") == [
            Target("mx1.pref.test", "192.0.2.1", 587, 0)]
        assert server.asked == [("mx1.pref.test.", "A")]

    run(test)


def test_a_bracketed_address_needs_no_dns_at_all() -> None:
    async def test(lookup: Lookup, server: DnsServer) -> None:
        assert await lookup("[192.0.2.99]:2525") == [Target("192.0.2.99", "192.0.2.99", 2525, 0)]
        assert await lookup("[ipv6:2001:db8::9]") == [Target("2001:db8::9", "2001:db8::9", 25, 0)]
        assert server.asked == []

    run(test, "inet_protocols = all")


@pytest.mark.parametrize(("protocols", "preference", "expected", "asked"), [
    ("ipv4", "any", ["192.0.2.40"], ["A"]),
    ("ipv6", "any", ["2001:db8::40"], ["AAAA"]),
    ("all", "ipv6", ["2001:db8::40", "192.0.2.40"], ["A", "AAAA"]),
    ("all", "ipv4", ["192.0.2.40", "2001:db8::40"], ["A", "AAAA"]),
])
def test_inet_protocols_choose_the_address_records_and_the_preference_orders_them(
        protocols: str, preference: str, expected: list[str], asked: list[str]) -> None:
    async def test(lookup: Lookup, server: DnsServer) -> None:
        assert addresses(await lookup("[dual.test]")) == expected
        assert [t for _, t in server.asked] == asked

    run(test, f"inet_protocols = {protocols}\nsmtp_address_preference = {preference}\n")


@pytest.mark.parametrize(("limit", "count"), [("", 5), ("2", 2), ("0", 7)])
def test_the_list_is_cut_at_smtp_mx_address_limit(limit: str, count: int) -> None:
    async def test(lookup: Lookup, server: DnsServer) -> None:
        targets = await lookup("many.test")
        assert addresses(targets) == [f"192.0.2.{50 + i}" for i in range(count)]

    run(test, f"smtp_mx_address_limit = {limit}\n" if limit else "")


def test_a_cnamed_mx_host_keeps_its_mx_name_unless_the_cname_overrides_it() -> None:
    async def test(lookup: Lookup, server: DnsServer) -> None:
        assert await lookup("cname.test") == [Target("alias.cname.test", "192.0.2.60", 25, 10)]

    run(test)

    async def override(lookup: Lookup, server: DnsServer) -> None:
        assert (await lookup("cname.test"))[0].hostname == "real.cname.test"

    run(override, "smtp_cname_overrides_servername = yes")


def test_an_mx_host_that_fails_is_skipped_when_another_has_an_address() -> None:
    async def test(lookup: Lookup, server: DnsServer) -> None:
        assert addresses(await lookup("halfbroken.test")) == ["192.0.2.2"]

    run(test)


# -- failures --------------------------------------------------------------------------------


def test_nxdomain_bounces_with_the_text_of_the_address_query() -> None:
    error = failure("example.invalid")
    assert (error.reason, error.dsn, error.permanent) == (
        "Host or domain name not found. Name service error for name=example.invalid type=A: "
        "Host not found", "5.4.4", True)


def test_with_both_protocols_the_text_names_the_last_query_aaaa() -> None:
    error = failure("example.invalid", "inet_protocols = all")
    assert error.reason.endswith("name=example.invalid type=AAAA: Host not found")


def test_servfail_defers_with_postfix_try_again_text() -> None:
    error = failure("servfail.test")
    assert (error.reason, error.dsn, error.permanent) == (
        "Host or domain name not found. Name service error for name=servfail.test type=MX: "
        "Host not found, try again", "4.4.3", False)


def test_a_silent_server_is_a_temporary_failure() -> None:
    error = failure("silent.test")
    assert (error.dsn, error.permanent) == ("4.4.3", False)
    assert error.reason.endswith("type=MX: Host not found, try again")


def test_a_refusing_server_is_a_non_recoverable_error() -> None:
    error = failure("refused.test")
    assert (error.reason, error.dsn) == (
        "Host or domain name not found. Name service error for name=refused.test type=MX: "
        "Non-recoverable error", "5.4.3")


def test_a_null_mx_refuses_mail_for_good() -> None:
    error = failure("nullmx.test")
    assert (error.reason, error.dsn, error.permanent) == (
        "Domain nullmx.test does not accept mail (nullMX)", "5.1.0", True)


def test_mx_hosts_without_any_address_bounce_unless_told_to_defer() -> None:
    error = failure("noaddr.test")
    assert (error.reason, error.dsn) == (
        "Host or domain name not found. Name service error for name=gone2.test type=A: "
        "Host not found", "5.4.4")
    soft = failure("noaddr.test", "smtp_defer_if_no_mx_address_found = yes")
    assert (soft.dsn, soft.permanent) == ("4.4.4", False)


def test_an_mx_host_whose_server_refuses_is_a_hard_failure() -> None:
    error = failure("refusedmx.test")
    assert (error.reason, error.dsn) == (
        "Host or domain name not found. Name service error for name=refused.test type=A: "
        "Non-recoverable error", "5.4.3")


def test_a_soft_mx_host_failure_dominates_a_later_hard_one_whose_text_is_kept() -> None:
    error = failure("softhard.test")
    assert (error.reason, error.dsn) == (
        "Host or domain name not found. Name service error for name=gone1.test type=A: "
        "Host not found", "4.4.4")


# -- this host among the MX hosts ---------------------------------------------------------------


def test_mail_for_a_domain_whose_best_mx_is_this_host_loops_back() -> None:
    error = failure("self.test")
    assert (error.reason, error.dsn) == ("mail for self.test loops back to myself", "5.4.6")


def test_when_better_mx_hosts_have_no_address_there_is_no_primary_relay() -> None:
    error = failure("backupself.test")
    assert (error.reason, error.dsn) == (
        "unable to find primary relay for backupself.test", "4.4.4")


def test_a_backup_mx_list_is_cut_before_this_host() -> None:
    async def test(lookup: Lookup, server: DnsServer) -> None:
        assert addresses(await lookup("secondary.test")) == ["192.0.2.1"]

    run(test)


def test_proxy_interfaces_count_as_this_host() -> None:
    error = failure("secondary.test", "proxy_interfaces = 192.0.2.1")
    assert error.reason == "mail for secondary.test loops back to myself"


def test_a_bracketed_host_that_is_this_host_loops_back() -> None:
    error = failure("[127.0.0.1]")
    assert (error.reason, error.dsn) == ("mail for 127.0.0.1 loops back to myself", "5.4.6")


def test_loops_are_only_detected_on_the_smtp_port() -> None:
    async def test(lookup: Lookup, server: DnsServer) -> None:
        assert addresses(await lookup("self.test")) == ["127.0.0.1"]

    run(test, port=587)


# -- configuration ---------------------------------------------------------------------------


def test_the_environment_names_the_dns_server(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        server = DnsServer()
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: server, local_addr=("127.0.0.1", 0))
        monkeypatch.setenv(DNS_SERVER_ENV, f"127.0.0.1:{transport.get_extra_info('sockname')[1]}")
        try:
            resolver = MxResolver.from_config(config())
            targets = await resolver.targets(parse_nexthop("pref.test"), 25)
        finally:
            transport.close()
        assert addresses(targets) == ["192.0.2.1", "192.0.2.2"]
        assert server.asked[0] == ("pref.test.", "MX")

    asyncio.run(main())


def test_a_malformed_dns_server_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DNS_SERVER_ENV, "127.0.0.1")
    with pytest.raises(ValueError, match="expected IP:PORT"):
        MxResolver.from_config(config())


def test_disabled_dns_skips_mx_lookups() -> None:
    settings = LookupSettings.from_config(config("smtp_dns_support_level = disabled"))
    assert (settings.dns, settings.host_dns, settings.host_native) == (False, False, True)
    legacy = LookupSettings.from_config(config("disable_dns_lookups = yes"))
    assert legacy.dns is False
