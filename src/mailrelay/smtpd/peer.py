"""Who is on the other end: Postfix's client names, asked of the system resolver.

The logic is :func:`mailrelay.policy.peer.client_names` (pure: PTR, then a forward lookup
that must give the address back, else ``unknown``/FORGED).  Its questions are answered the
way Postfix's smtpd answers them: getnameinfo(3) and getaddrinfo(3), so /etc/hosts counts as
it does for Postfix.  Answers are kept a minute per address: a relay's clients are a few hosts
that connect often.

SECURITY: performs name lookups of the client's address.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import time

from mailrelay.policy.dns import DnsQuery, DnsResult, DnsStatus, RRType
from mailrelay.policy.peer import ClientNames, client_names
from mailrelay.smtpd.resolver import settle

_TTL = 60.0
_FAMILY = {RRType.A: socket.AF_INET, RRType.AAAA: socket.AF_INET6}


@functools.lru_cache(maxsize=1024)
def rfc_address(address: str) -> str:
    """The address as Received: and smtpd's replies show it (``IPv6:::1``); remembered, as
    the same few clients connect again and again (ip_address() was 1.5 % of a worker)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return f"IPv6:{ip}" if ip.version == 6 else address


def arpa_address(name: str) -> str:
    """``9.2.0.192.in-addr.arpa`` → ``192.0.2.9``; ip6.arpa nibbles likewise."""
    labels = name.rstrip(".").split(".")
    if name.endswith("in-addr.arpa"):
        return ".".join(reversed(labels[:-2]))
    nibbles = "".join(reversed(labels[:-2]))
    return str(ipaddress.IPv6Address(int(nibbles, 16)))


def _failure(error: socket.gaierror) -> DnsResult:
    if error.errno == socket.EAI_AGAIN:
        return DnsResult(DnsStatus.RETRY, reason="Host not found, try again")
    if error.errno == getattr(socket, "EAI_NODATA", None):
        return DnsResult(DnsStatus.NODATA, reason="No address associated with name")
    return DnsResult(DnsStatus.NXDOMAIN, reason="Host not found")


class SystemResolver:
    """The policy's Resolver for PTR, A and AAAA, through the C library."""

    async def resolve(self, query: DnsQuery) -> DnsResult:
        loop = asyncio.get_running_loop()
        try:
            if query.rrtype is RRType.PTR:
                name, _ = await loop.getnameinfo((arpa_address(query.name), 0),
                                                 socket.NI_NAMEREQD)
                return DnsResult(DnsStatus.OK, (name,))
            infos = await loop.getaddrinfo(query.name, None, family=_FAMILY[query.rrtype],
                                           type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            return _failure(e)
        except KeyError:
            return DnsResult(DnsStatus.FAIL, reason=f"no {query.rrtype.value} lookups here")
        return DnsResult(DnsStatus.OK, tuple(dict.fromkeys(str(i[4][0]) for i in infos)))


class PeerNames:
    def __init__(self) -> None:
        self._resolver = SystemResolver()
        self._cache: dict[str, tuple[float, ClientNames]] = {}

    async def lookup(self, address: str) -> ClientNames:
        now = time.monotonic()
        hit = self._cache.get(address)
        if hit is not None and hit[0] > now:
            return hit[1]
        names, _ = await settle(lambda answers: client_names(address, answers),
                                self._resolver)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[address] = (now + _TTL, names)
        return names
