"""Is ``mynetworks`` limited to private address ranges?

Every address in mynetworks may relay through this server without authentication, so a
public range there is an open relay for that range; the guide's checklist says "mynetworks
restreint aux IPs internes".  Entries that name other sources (``/file``, ``type:table``,
host names) are read or noted, never guessed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from mailrelay.audit.finding import Finding, note, warning
from mailrelay.config.model import Config

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PRIVATE_RANGES: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
        "100.64.0.0/10", "::1/128", "fc00::/7", "fe80::/10",
    )
)


def parse_network(item: str) -> Network | None:
    """``10.0.0.0/8``, ``127.0.0.1``, ``[::1]/128``, ``[fe80::]/10`` → network; else None."""
    text = item.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        text = host + rest
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def is_private(net: Network) -> bool:
    return any(net.version == p.version and net.subnet_of(p) for p in PRIVATE_RANGES)  # type: ignore[arg-type]


def mynetworks_findings(
    config: Config, read_file: Callable[[str], list[str]] | None = None
) -> list[Finding]:
    """Warnings for public ranges in mynetworks; notes for entries that cannot be judged."""
    origin = config.origin("mynetworks")
    source = "mynetworks" if config.is_explicit("mynetworks") else (
        "mynetworks (not set: computed from mynetworks_style = "
        f"{config.get_str('mynetworks_style')})"
    )
    findings: list[Finding] = []
    items = list(config.get_list("mynetworks"))
    seen_files: set[str] = set()
    while items:
        item = items.pop(0)
        if item.startswith("!"):
            continue
        if item.startswith("/"):
            if read_file is not None and item not in seen_files:
                seen_files.add(item)
                items.extend(read_file(item))
            continue
        net = parse_network(item)
        if net is None:
            if ":" in item and not item.startswith("["):
                findings.append(note(
                    f"mynetworks: entries of {item} are not checked for public ranges",
                    origin, "mynetworks",
                ))
            continue
        if not is_private(net):
            findings.append(warning(
                f"{source}: {item} is not a private network range: every host in it may "
                "relay mail through this server without authentication",
                origin, "mynetworks",
            ))
    return findings
