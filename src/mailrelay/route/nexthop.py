"""Nexthop syntax of the smtp transport: ``[host]:port``, ``[host]``, ``host:port``, ``host``.

Brackets mean "this host, no MX lookup"; a bare name means "the MX hosts of this domain"
(with fallback to its A/AAAA records).  An IPv6 address is written ``[ipv6:2001:db8::1]``
(the ``ipv6:`` prefix is optional, as in Postfix).  The port is a number or one of the
well-known service names.  Postfix 3.5 and later accept several destinations separated by
commas or white space (``relayhost = [a]:587, [b]:587``): :func:`parse_nexthops`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailrelay.util.tokens import split_list

#: Service names Postfix users write in nexthops (from /etc/services; no resolver call here).
SERVICES = {"smtp": 25, "submission": 587, "smtps": 465, "submissions": 465, "lmtp": 24}


class NexthopError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Nexthop:
    host: str
    #: None: the transport's default port (25 for smtp).
    port: int | None
    #: Look up the MX records of *host* (it was not in brackets).
    mx: bool

    def __str__(self) -> str:
        host = f"[{self.host}]" if not self.mx else self.host
        return host if self.port is None else f"{host}:{self.port}"


def _port(text: str, whole: str) -> int:
    if text.isdigit():
        port = int(text)
        if 0 < port < 65536:
            return port
    elif text.lower() in SERVICES:
        return SERVICES[text.lower()]
    raise NexthopError(f"bad port number or service name in nexthop: {whole}")


def parse_nexthop(text: str) -> Nexthop:
    """One destination; NexthopError when it cannot be understood."""
    whole = text
    text = text.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise NexthopError(f"missing ']' in nexthop: {whole}")
        host, rest = text[1:close], text[close + 1:]
        if host.lower().startswith("ipv6:"):
            host = host[5:]
        if not host:
            raise NexthopError(f"empty host in nexthop: {whole}")
        if not rest:
            return Nexthop(host, None, mx=False)
        if not rest.startswith(":"):
            raise NexthopError(f"garbage after ']' in nexthop: {whole}")
        return Nexthop(host, _port(rest[1:], whole), mx=False)
    host, colon, port = text.rpartition(":")
    if not colon:
        host, port = text, ""
    if not host or ":" in host:
        raise NexthopError(f"bad host in nexthop (an IPv6 address needs brackets): {whole}")
    return Nexthop(host, _port(port, whole) if colon else None, mx=True)


def parse_nexthops(text: str) -> tuple[Nexthop, ...]:
    """A list of destinations, tried in order (commas and/or white space between them)."""
    return tuple(parse_nexthop(item) for item in split_list(text))
