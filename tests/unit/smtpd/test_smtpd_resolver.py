"""The dnspython resolver against a real DNS server on loopback (dnslib packets, asyncio UDP).

The server runs in the test's own event loop (no thread): it answers from a small zone,
SERVFAILs, REFUSEs or stays silent for chosen names, so every classification the policy
relies on is seen on the wire.  Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

dnslib = pytest.importorskip("dnslib", reason="dnslib is needed to serve DNS on loopback "
                                              "(pip install dnslib)")

from mailrelay.config.maincf import parse_main_cf  # noqa: E402
from mailrelay.config.model import Config  # noqa: E402
from mailrelay.policy import (  # noqa: E402
    DnsQuery,
    DnsStatus,
    PeerStatus,
    PolicySettings,
    Request,
    Verdict,
    recipient_stage,
)
from mailrelay.policy.dns import RRType  # noqa: E402
from mailrelay.policy.peer import ClientNames, client_names  # noqa: E402
from mailrelay.smtpd.resolver import DnsPythonResolver, settle  # noqa: E402

ZONE = {
    ("mail.example.", "A"): ["192.0.2.1"],
    ("v6.example.", "AAAA"): ["2001:db8::1"],
    ("example.com.", "MX"): [(10, "mx.example.com.")],
    ("nomail.example.", "MX"): [(0, ".")],
    ("2.0.0.127.zen.example.", "A"): ["127.0.0.2"],
    ("2.0.0.127.zen.example.", "TXT"): ["listed; see ", "https://zen.example/"],
    ("9.2.0.192.in-addr.arpa.", "PTR"): ["mail.example."],
    ("nodata.example.", "TXT"): ["only text here"],
}
SERVFAIL, REFUSED, SILENT = "servfail.example.", "refused.example.", "silent.example."


def _record(name: str, qtype: str, value: Any) -> Any:
    if qtype == "A":
        rdata = dnslib.A(value)
    elif qtype == "AAAA":
        rdata = dnslib.AAAA(value)
    elif qtype == "MX":
        rdata = dnslib.MX(value[1], value[0])
    elif qtype == "PTR":
        rdata = dnslib.PTR(value)
    else:
        rdata = dnslib.TXT(value)
    return dnslib.RR(name, getattr(dnslib.QTYPE, qtype), rdata=rdata, ttl=60)


def answer(packet: bytes) -> bytes | None:
    request = dnslib.DNSRecord.parse(packet)
    name = str(request.q.qname).lower()
    qtype = dnslib.QTYPE[request.q.qtype]
    reply = request.reply()
    if name == SILENT:
        return None
    if name in (SERVFAIL, REFUSED):
        reply.header.rcode = dnslib.RCODE.SERVFAIL if name == SERVFAIL else dnslib.RCODE.REFUSED
        return reply.pack()
    values = ZONE.get((name, qtype))
    if values is None:
        if not any(n == name for n, _ in ZONE):
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
        return reply.pack()
    if qtype == "TXT":
        values = [tuple(values)]
    for value in values:
        reply.add_answer(_record(name, qtype, value))
    return reply.pack()


class DnsServer(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # a datagram transport (not a subclass of the ABC)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = answer(data)
        if packet is not None:
            self.transport.sendto(packet, addr)


def with_server(test: Callable[[DnsPythonResolver], Awaitable[None]]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(DnsServer,
                                                           local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        try:
            await test(DnsPythonResolver(["127.0.0.1"], port=port, timeout=0.3, lifetime=0.6))
        finally:
            transport.close()

    asyncio.run(main())


@pytest.mark.parametrize(("name", "rrtype", "status", "records"), [
    ("mail.example", RRType.A, DnsStatus.OK, ("192.0.2.1",)),
    ("v6.example", RRType.AAAA, DnsStatus.OK, ("2001:db8::1",)),
    ("example.com", RRType.MX, DnsStatus.OK, ("10 mx.example.com",)),
    ("nomail.example", RRType.MX, DnsStatus.OK, ("0 .",)),
    ("9.2.0.192.in-addr.arpa", RRType.PTR, DnsStatus.OK, ("mail.example",)),
    ("2.0.0.127.zen.example", RRType.TXT, DnsStatus.OK,
     ("listed; see https://zen.example/",)),
    ("nodata.example", RRType.A, DnsStatus.NODATA, ()),
    ("nx.example", RRType.A, DnsStatus.NXDOMAIN, ()),
    ("servfail.example", RRType.A, DnsStatus.RETRY, ()),
    ("refused.example", RRType.A, DnsStatus.FAIL, ()),
    ("silent.example", RRType.A, DnsStatus.RETRY, ()),
])
def test_answers_are_classified_as_postfix_classifies_them(
        name: str, rrtype: RRType, status: DnsStatus, records: tuple[str, ...]) -> None:
    async def test(resolver: DnsPythonResolver) -> None:
        result = await resolver.resolve(DnsQuery(name, rrtype))
        assert (result.status, result.records) == (status, records)

    with_server(test)


def test_a_stage_is_settled_with_real_dns_answers() -> None:
    text = ("myhostname = relay.example\nmydestination = relay.example\n"
            "mynetworks = 192.0.2.0/24\ninet_interfaces = 127.0.0.1\n"
            "smtpd_client_restrictions = reject_rbl_client zen.example\n")
    settings = PolicySettings.from_config(Config(parse_main_cf(text, "main.cf"), "/etc"))
    request = Request("127.0.0.2", recipient="postmaster@relay.example", sender="s@x.example",
                      helo="client.example", protocol="ESMTP")

    async def test(resolver: DnsPythonResolver) -> None:
        result, answers = await settle(lambda a: recipient_stage(settings, request, a),
                                       resolver)
        assert isinstance(result, Verdict)
        assert str(result.reply) == (
            "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using "
            "zen.example; listed; see https://zen.example/")
        assert set(answers) == {DnsQuery("2.0.0.127.zen.example", RRType.A),
                                DnsQuery("2.0.0.127.zen.example", RRType.TXT)}

    with_server(test)


def test_client_names_are_forward_confirmed_over_real_dns() -> None:
    async def test(resolver: DnsPythonResolver) -> None:
        names, _ = await settle(lambda a: client_names("192.0.2.9", a), resolver)
        assert isinstance(names, ClientNames)
        assert (names.name, names.name_status) == ("unknown", PeerStatus.FORGED)
        names, _ = await settle(lambda a: client_names("192.0.2.1", a), resolver)
        assert isinstance(names, ClientNames)
        assert (names.name, names.name_status) == ("unknown", PeerStatus.PERM)

    with_server(test)
