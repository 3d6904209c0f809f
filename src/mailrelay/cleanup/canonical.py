"""canonical(5) in cleanup: canonical_maps, sender_canonical_maps, recipient_canonical_maps.

Postfix's cleanup maps the envelope sender through sender_canonical_maps then canonical_maps,
each envelope recipient through recipient_canonical_maps then canonical_maps, and the
addresses of header fields the same way (From:, Sender:... as senders; To:, Cc:,
Reply-To:... as recipients), each only for the classes its ``*_classes`` parameter names
(``envelope_sender``, ``envelope_recipient``, ``header_sender``, ``header_recipient``).
Header addresses are mapped whatever the client (unlike qualification, which is for the
local rewriting context only).  A table that cannot answer raises MapLookupError.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailrelay.cleanup.address_map import AddressMap
from mailrelay.cleanup.header_rewrite import (
    RECIPIENT_FIELDS,
    SENDER_FIELDS,
    field_name,
    rewrite_field,
)
from mailrelay.config.model import Config
from mailrelay.maps.lookup import Maps

if TYPE_CHECKING:  # the registry imports lmdb: sendmail imports cleanup without it
    from mailrelay.maps.registry import MapCache


class AddressClass(enum.Flag):
    ENVELOPE_SENDER = enum.auto()
    ENVELOPE_RECIPIENT = enum.auto()
    HEADER_SENDER = enum.auto()
    HEADER_RECIPIENT = enum.auto()


ALL_CLASSES = (AddressClass.ENVELOPE_SENDER | AddressClass.ENVELOPE_RECIPIENT
               | AddressClass.HEADER_SENDER | AddressClass.HEADER_RECIPIENT)


def address_classes(config: Config, name: str) -> AddressClass:
    """A ``*_classes`` parameter as flags (unknown words are ignored, as Postfix warns)."""
    found = AddressClass(0)
    for word in config.get_list(name):
        member = AddressClass.__members__.get(word.upper())
        if member is not None:
            found |= member
    return found


@dataclass(frozen=True, slots=True)
class ClassMap:
    """One canonical parameter and the classes it applies to."""

    map: AddressMap
    classes: AddressClass


@dataclass(frozen=True, slots=True)
class Canonical:
    """The canonical parameters, read once; :meth:`open` per message."""

    sender: tuple[ClassMap, ...]
    recipient: tuple[ClassMap, ...]

    @classmethod
    def from_config(cls, config: Config, cache: MapCache) -> Canonical | None:
        def one(name: str, classes: str) -> ClassMap | None:
            found = AddressMap.from_config(config, name, cache, "canonical")
            return None if found is None else ClassMap(found, address_classes(config, classes))

        common = one("canonical_maps", "canonical_classes")
        sender = one("sender_canonical_maps", "sender_canonical_classes")
        recipient = one("recipient_canonical_maps", "recipient_canonical_classes")
        if common is None and sender is None and recipient is None:
            return None
        return cls(tuple(m for m in (sender, common) if m is not None),
                   tuple(m for m in (recipient, common) if m is not None))

    def open(self, warn: Callable[[str], None]) -> OpenCanonical:
        opened = {m.map.title: m.map.tables() for m in (*self.sender, *self.recipient)}
        return OpenCanonical(self, opened, warn)


class OpenCanonical:
    """The canonical tables of one message, opened once."""

    def __init__(self, canonical: Canonical, tables: dict[str, Maps],
                 warn: Callable[[str], None]) -> None:
        self._canonical = canonical
        self._tables = tables
        self._warn = warn

    def _map(self, maps: tuple[ClassMap, ...], wanted: AddressClass, address: str) -> str:
        for entry in maps:
            if entry.classes & wanted:
                address = entry.map.map_nested(self._tables[entry.map.title], address,
                                               self._warn)
        return address

    def envelope_sender(self, address: str) -> str:
        return self._map(self._canonical.sender, AddressClass.ENVELOPE_SENDER, address)

    def envelope_recipient(self, address: str) -> str:
        return self._map(self._canonical.recipient, AddressClass.ENVELOPE_RECIPIENT, address)

    def header(self, field: bytes) -> bytes | None:
        """An address header field with its addresses mapped, or None when unchanged."""
        name = field_name(field)
        if name in SENDER_FIELDS:
            maps, wanted = self._canonical.sender, AddressClass.HEADER_SENDER
        elif name in RECIPIENT_FIELDS:
            maps, wanted = self._canonical.recipient, AddressClass.HEADER_RECIPIENT
        else:
            return None
        if not any(m.classes & wanted for m in maps):
            return None
        return rewrite_field(field, lambda a: self._map(maps, wanted, a) if a else a)
