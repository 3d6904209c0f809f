"""One-to-one address mapping: canonical(5) in cleanup, generic(5) in the smtp client.

Postfix's mail_addr_map(): the address (internal form) is looked up in Postfix's order
(:func:`mailrelay.maps.lookup.address_lookup`: ``user+ext@domain``, ``user@domain``, then
``user+ext`` and ``user`` when the domain is this machine's -- ``$myorigin``,
``$mydestination`` or one of its address literals -- then ``@domain``).  The table's value is
an address in external (quoted) form, made internal; a value ``@other`` keeps the local part
(``user@domain`` becomes ``user@other``); an extension that was removed to find the match is
put back when the map's class is in propagate_unmatched_extensions.  A value with several
addresses uses the first one (Postfix warns).  A table that cannot answer raises
MapLookupError: the caller defers the mail.

cleanup's canonical mapping repeats the lookup on its own result until it no longer changes
(at most ten times, then Postfix warns "unreasonable ... map nesting"); the smtp client's
generic mapping looks up once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailrelay.cleanup.tok822 import addresses, quote_822_local
from mailrelay.config.model import Config
from mailrelay.maps.base import MapError, MapLookupError
from mailrelay.maps.lookup import Maps, Strategy, address_lookup

if TYPE_CHECKING:  # the registry imports lmdb: sendmail imports cleanup without it
    from mailrelay.maps.registry import MapCache


#: cleanup_map11's MAX_RECURSION.
MAX_NESTING = 10


class CleanupDefer(OSError):
    """A table needed for this message cannot answer (or be opened): the message is not
    accepted now (smtpd: 451 4.3.0 Error: queue file write error, as Postfix), never
    passed on unmapped or unfiltered.  The text is Postfix's warning."""

    @classmethod
    def lookup_problem(cls, title: str, detail: object = None) -> CleanupDefer:
        """Postfix's warning for table *title* (with *detail*, e.g. why it cannot open)."""
        text = f"{title} map lookup problem -- message not accepted, try again later"
        return cls(text if detail is None else f"{text} ({detail})")


def local_domains(config: Config) -> Callable[[str], bool]:
    """mail_addr_find's "local" test: ``$myorigin``, a ``$mydestination`` name, or an
    address literal of ``inet_interfaces`` / ``proxy_interfaces``.  (Table entries in
    mydestination are not consulted here.)"""
    names = {config.get_str("myorigin").lower()}
    names.update(n.lower() for n in config.get_list("mydestination") if ":" not in n)
    for parameter in ("inet_interfaces", "proxy_interfaces"):
        names.update(f"[{a.lower().strip('[]')}]" for a in config.get_list(parameter)
                     if a.lower() not in ("all", "loopback-only"))

    def local(domain: str) -> bool:
        return domain.lower().rstrip(".") in names

    return local


@dataclass(frozen=True, slots=True)
class MapResult:
    address: str
    #: The table gave several addresses; only the first is used.
    multiple: bool = False


@dataclass(frozen=True, slots=True)
class AddressMap:
    """The tables of one address-mapping parameter, opened per unit of work."""

    #: The parameter name (``sender_canonical_maps``), for messages.
    title: str
    #: The parameter's value (``hash:/etc/postfix/generic``).
    spec: str
    cache: MapCache = field(compare=False)
    delimiter: str = ""
    #: The class is in propagate_unmatched_extensions.
    propagate: bool = False
    local_domain: Callable[[str], bool] = field(default=lambda _d: False, compare=False)

    @classmethod
    def from_config(cls, config: Config, name: str, cache: MapCache,
                    ext_class: str) -> AddressMap | None:
        """The map of parameter *name*, or None when it is empty; *ext_class* is its name
        in propagate_unmatched_extensions (``canonical``, ``generic``)."""
        spec = config.get_str(name).strip()
        if not spec:
            return None
        classes = {c.lower() for c in config.get_list("propagate_unmatched_extensions")}
        return cls(name, spec, cache, config.get_str("recipient_delimiter"),
                   ext_class in classes, local_domains(config))

    def tables(self) -> Maps:
        """Open (or reuse) the tables: once per message, not per lookup."""
        try:
            return self.cache.maps(self.spec, self.title)
        except MapError as error:
            raise CleanupDefer.lookup_problem(self.title, error) from error

    def lookup(self, maps: Maps, address: str) -> MapResult | None:
        """mail_addr_map(): the mapped address (internal form), or None when no entry."""
        found = self.lookup_all(maps, address)
        return None if found is None else MapResult(found[0], len(found) > 1)

    def lookup_all(self, maps: Maps, address: str) -> list[str] | None:
        """Every address of the entry for *address* (internal form), or None."""
        if not address:
            return None
        try:
            match = address_lookup(maps, address, delimiter=self.delimiter,
                                   local_domain=self.local_domain, strategy=Strategy.DEFAULT)
        except MapLookupError as error:
            raise CleanupDefer.lookup_problem(self.title) from error
        if match is None:
            return None
        value, extension = match.value.strip(), match.extension
        if value.startswith("@"):  # "@other": the local part, without its extension
            at = address.rfind("@")
            local = address[:at] if at >= 0 else address
            if extension and local.endswith(extension):
                local = local[: len(local) - len(extension)]
            value = quote_822_local(local + value)
        found = addresses(value) or [value]
        if self.propagate and extension:
            found = [_with_extension(a, extension) for a in found]
        return found

    def map_nested(self, maps: Maps, address: str, warn: Callable[[str], None]) -> str:
        """cleanup_map11_internal(): map until the result no longer changes."""
        for _ in range(MAX_NESTING):
            found = self.lookup(maps, address)
            if found is None:
                return address
            if found.multiple:
                warn(f"multi-valued {self.title} entry for {address}")
            if found.address.lower() == address.lower():
                return found.address
            address = found.address
        warn(f"unreasonable {self.title} map nesting for {address}")
        return address


def _with_extension(address: str, extension: str) -> str:
    at = address.rfind("@")
    return address + extension if at < 0 else address[:at] + extension + address[at:]
