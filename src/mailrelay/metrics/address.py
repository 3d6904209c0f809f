"""metrics_http_address's value: ``host:port``, ``[ipv6]:port`` or ``:port`` (all addresses)."""

from __future__ import annotations

from mailrelay.config.model import Config
from mailrelay.util.diagnostic import Fatal

PARAMETER = "metrics_http_address"


def parse_address(value: str) -> tuple[str, int]:
    """(host, port); ValueError when *value* is not one of the forms above."""
    host, colon, port = value.strip().rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'bad value "{value}": expected host:port')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f'bad value "{value}": write an IPv6 address as [address]:port')
    return host, int(port)


def metrics_address(config: Config) -> tuple[str, int] | None:
    """Where the endpoint listens; None when metrics are off; Fatal (naming the parameter and
    where it is set) for a value that is not an address."""
    value = config.get_str(PARAMETER).strip()
    if not value:
        return None
    try:
        return parse_address(value)
    except ValueError as e:
        raise Fatal(f"{PARAMETER}: {e}", config.origin(PARAMETER), PARAMETER) from None
