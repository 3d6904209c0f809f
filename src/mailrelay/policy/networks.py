"""Host and domain lists: mynetworks, relay_domains, mydestination... (Postfix's match_list).

A list is a sequence of patterns tried in order; the first that matches decides, and a
pattern written ``!pattern`` decides "no".  A pattern is one of:

* ``/file/name`` -- the patterns in that file (white space or commas between them, ``#``
  comments), in place; ``!/file/name`` negates each of them;
* ``type:table`` -- a lookup (the name, then its parent domains in tables that allow partial
  keys; the address as a whole);
* an address ``192.0.2.1``, ``[2001:db8::1]``, or a network ``192.0.2.0/24``,
  ``[2001:db8::]/32`` (the host bits must be zero, as Postfix insists);
* a host or domain name: ``example.com`` matches itself and, when the list's parameter is in
  ``parent_domain_matches_subdomains``, every name below it; otherwise ``.example.com``
  matches the names below.

Three kinds of lists exist, as in Postfix: *string* lists compare the whole string
(mydestination, virtual_*_domains), *domain* lists compare host names (relay_domains), and
*host* lists compare the client's name and its address (mynetworks,
smtpd_client_event_limit_exceptions).  Note Postfix's quirk, kept here: a pattern with a
``:`` that does not start with ``[`` is a table, so an IPv6 network needs brackets.

A table that cannot answer raises MapLookupError (callers turn that into a 451 reply).
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mailrelay.maps.base import Map, MapError, fold
from mailrelay.util.tokens import split_list

MapOpener = Callable[[str], Map]
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_ADDRESS_CHARS = frozenset("0123456789.abcdefABCDEF:")


class ListKind(enum.Enum):
    STRING = "string"
    DOMAIN = "domain"
    HOST = "host"


@dataclass(frozen=True, slots=True)
class Pattern:
    negated: bool
    text: str
    table: Map | None = None
    network: _Network | None = None


def is_table(pattern: str) -> bool:
    """Postfix's MATCH_DICTIONARY(): ``type:name``, but not ``[address]`` forms."""
    return not pattern.startswith("[") and ":" in pattern


def parse_network(pattern: str) -> _Network | None:
    """``addr/len`` or ``[addr]/len`` as a network; None when *pattern* is not of that form.

    Raises MapError with Postfix's words for a malformed network or one with host bits set.
    """
    if "/" not in pattern:
        return None
    address, _, length = pattern.rpartition("/")
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    if not set(address) <= _ADDRESS_CHARS or not length.isdigit():
        return None
    try:
        network = ipaddress.ip_network(f"{address}/{length}", strict=False)
    except ValueError:
        raise MapError(f'bad net/mask pattern: "{pattern}"') from None
    if network.network_address != ipaddress.ip_address(address):
        raise MapError(f'non-null host address bits in "{pattern}", perhaps you should use '
                       f'"{_bracket(network)}" instead')
    return network


def _bracket(network: _Network) -> str:
    if network.version == 6:
        return f"[{network.network_address}]/{network.prefixlen}"
    return str(network)


def _read_patterns(path: str) -> list[str]:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise MapError(f"open file {path}: {e.strerror}") from None
    items: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        items += split_list(line)
    return items


class HostList:
    """One parsed list; ``match_*`` answer True, False, or raise MapLookupError."""

    __slots__ = ("kind", "parent_style", "patterns", "title")

    def __init__(self, title: str, kind: ListKind, patterns: Sequence[Pattern],
                 parent_style: bool) -> None:
        self.title = title
        self.kind = kind
        self.patterns = tuple(patterns)
        self.parent_style = parent_style

    @classmethod
    def parse(cls, title: str, kind: ListKind, items: Sequence[str], open_map: MapOpener,
              parent_style: bool = False) -> HostList:
        patterns: list[Pattern] = []
        _parse_into(patterns, items, open_map, False)
        return cls(title, kind, patterns, parent_style)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def match_string(self, string: str) -> bool:
        for p in self.patterns:
            if p.table is not None:
                hit = p.table.lookup(fold(string)) is not None
            else:
                hit = fold(string) == p.text
            if hit:
                return not p.negated
        return False

    def match_domain(self, name: str) -> bool:
        for p in self.patterns:
            if self._hostname(p, name):
                return not p.negated
        return False

    def match_host(self, name: str, address: str) -> bool:
        for p in self.patterns:
            if self._hostname(p, name) or self._address(p, address):
                return not p.negated
        return False

    def _hostname(self, p: Pattern, name: str) -> bool:
        if p.table is not None:
            return _table_walk(p.table, name, self.parent_style)
        if p.network is not None:
            return False
        lowered = fold(name)
        if lowered == p.text:
            return True
        if self.parent_style:
            return lowered.endswith("." + p.text) and len(lowered) > len(p.text) + 1
        return p.text.startswith(".") and lowered.endswith(p.text) and len(lowered) > len(p.text)

    @staticmethod
    def _address(p: Pattern, address: str) -> bool:
        well_formed, ip = _client_ip(address)
        if not well_formed:
            return False
        if p.table is not None:
            return p.table.lookup(address) is not None
        if p.network is not None:
            return ip is not None and ip in p.network
        text = p.text[1:-1] if p.text.startswith("[") and p.text.endswith("]") else p.text
        if text == address.lower():
            return True
        if (":" in text) != (":" in address) or ":" not in text:
            return False
        try:  # IPv6 has many spellings of one address (0:0::1 is ::1)
            return ipaddress.ip_address(text) == ipaddress.ip_address(address)
        except ValueError:
            return False


@functools.lru_cache(maxsize=1024)
def _client_ip(address: str) -> tuple[bool, ipaddress.IPv4Address | ipaddress.IPv6Address | None]:
    """(only address characters?, the parsed address or None): parsed once per client, not
    once per pattern and restriction (the same few addresses are asked again and again)."""
    if not address or not set(address) <= _ADDRESS_CHARS:
        return False, None
    try:
        return True, ipaddress.ip_address(address)
    except ValueError:
        return True, None


def _table_walk(table: Map, name: str, parent_style: bool) -> bool:
    """The name, then (tables with fixed keys only) ``parent`` or ``.parent`` keys."""
    entry = name
    while entry:
        if table.lookup(entry) is not None:
            return True
        if table.is_pattern:
            return False
        dot = entry.find(".", 1)
        if dot < 0:
            return False
        entry = entry[dot + 1:] if parent_style else entry[dot:]
    return False


def _parse_into(out: list[Pattern], items: Sequence[str], open_map: MapOpener,
                negate: bool) -> None:
    for item in items:
        negated = negate
        while item.startswith("!"):
            negated = not negated
            item = item[1:]
        if not item:
            continue
        if item.startswith("/"):
            _parse_into(out, _read_patterns(item), open_map, negated)
        elif is_table(item):
            out.append(Pattern(negated, item, table=open_map(item)))
        else:
            out.append(Pattern(negated, fold(item), network=parse_network(item)))
