"""virtual_alias_maps in cleanup: each envelope recipient expanded into its aliases.

Theory of operation.  Postfix's cleanup_map1n_internal(): the recipient starts a list; each
element of the list is looked up (mail_addr_map: the same lookup order as canonical(5),
unmatched extensions propagated when ``virtual`` is in propagate_unmatched_extensions) and
replaced by the first address of its entry, the others appended to the list; the element is
looked up again until it has no entry (recursion).  An address that maps to itself (among
others, ``loop@x  loop@x, y@x``) is kept and not looked up again.  The order is the list's
(captured in tests/golden/rewriting/virtual).  Limits, each of which makes the message wait
("message not accepted, try again later", never delivered half-expanded):
virtual_alias_expansion_limit (elements in the list), virtual_alias_recursion_limit (lookups
of one element), virtual_alias_address_length_limit (length of a result).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailrelay.cleanup.address_map import AddressMap, CleanupDefer
from mailrelay.config.model import Config
from mailrelay.maps.lookup import Maps

if TYPE_CHECKING:  # the registry imports lmdb: sendmail imports cleanup without it
    from mailrelay.maps.registry import MapCache


@dataclass(frozen=True, slots=True)
class VirtualAlias:
    map: AddressMap
    expansion_limit: int = 1000
    recursion_limit: int = 1000
    address_length_limit: int = 1000

    @classmethod
    def from_config(cls, config: Config, cache: MapCache) -> VirtualAlias | None:
        found = AddressMap.from_config(config, "virtual_alias_maps", cache, "virtual")
        if found is None:
            return None
        return cls(found, config.get_int("virtual_alias_expansion_limit"),
                   config.get_int("virtual_alias_recursion_limit"),
                   config.get_int("virtual_alias_address_length_limit"))

    def tables(self) -> Maps:
        return self.map.tables()

    def expand(self, maps: Maps, address: str) -> list[str]:
        """The addresses *address* stands for (itself when it has no entry)."""
        found = [address]
        fixed: set[str] = set()  # addresses that expanded into themselves
        i = 0
        while i < len(found):
            if len(found) > self.expansion_limit:
                self._defer("expansion size", address)
            for count in range(self.recursion_limit + 1):
                current = found[i]
                if current.lower() in fixed:
                    break
                if count >= self.recursion_limit:
                    self._defer("nesting", address)
                result = self.map.lookup_all(maps, current)
                if result is None:
                    break
                self._check_lengths(result)
                found[i] = result[0]
                found += result[1:]
                if any(r.lower() == current.lower() for r in result):
                    fixed.add(current.lower())
            i += 1
        return found

    def _check_lengths(self, result: list[str]) -> None:
        for address in result:
            if len(address) > self.address_length_limit:
                raise CleanupDefer(f"unreasonable {self.map.title} result {address[:300]}... "
                                   "-- message not accepted, try again later")

    def _defer(self, what: str, address: str) -> None:
        raise CleanupDefer(f"unreasonable {self.map.title} map {what} for {address} -- "
                           "message not accepted, try again later")
