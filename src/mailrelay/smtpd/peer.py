"""Who is on the other end: Postfix's verified client name, through the system resolver.

Postfix names a client ``name[address]`` where name is the PTR name only when a forward
lookup of that name gives the address back, else ``unknown``; the PTR name alone is the
"reverse client name".  Like Postfix (getnameinfo/getaddrinfo), this honours /etc/hosts.
Answers are kept a minute per address: a relay's clients are a few hosts that connect often.

SECURITY: performs DNS lookups of the client's address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

UNKNOWN = "unknown"
_TTL = 60.0


@dataclass(frozen=True, slots=True)
class PeerName:
    name: str
    reverse_name: str
    #: Lookup failed for now (Postfix's PeerStatus TEMP): reject_unknown_* defers.
    temporary: bool = False


def rfc_address(address: str) -> str:
    """The address as Received: and smtpd's replies show it (``IPv6:::1``)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return f"IPv6:{ip}" if ip.version == 6 else address


class PeerNames:
    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, PeerName]] = {}

    async def lookup(self, address: str) -> PeerName:
        now = time.monotonic()
        hit = self._cache.get(address)
        if hit is not None and hit[0] > now:
            return hit[1]
        peer = await self._resolve(address)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[address] = (now + _TTL, peer)
        return peer

    async def _resolve(self, address: str) -> PeerName:
        loop = asyncio.get_running_loop()
        try:
            reverse, _ = await loop.getnameinfo((address, 0), socket.NI_NAMEREQD)
        except socket.gaierror as e:
            return PeerName(UNKNOWN, UNKNOWN, temporary=e.errno == socket.EAI_AGAIN)
        try:
            infos = await loop.getaddrinfo(reverse, None, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            return PeerName(UNKNOWN, reverse, temporary=e.errno == socket.EAI_AGAIN)
        forward = {str(ipaddress.ip_address(info[4][0])) for info in infos}
        verified = str(ipaddress.ip_address(address)) in forward
        return PeerName(reverse if verified else UNKNOWN, reverse)
