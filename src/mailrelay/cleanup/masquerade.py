"""Address masquerading: masquerade_domains, masquerade_exceptions, masquerade_classes.

Postfix's masquerade_addr(): the domain of an address is replaced by the first entry of
masquerade_domains that is a parent of it (``user@host.corp.local`` becomes
``user@corp.local``); the walk stops at the first entry that is the domain itself or one of
its parents, so an entry ``!sub.corp.local`` put first keeps ``sub.corp.local`` and every
host under it as they are.  A local part in masquerade_exceptions (``root``) is never
masqueraded.  The classes default to envelope_sender, header_sender, header_recipient:
envelope recipients are left alone (captured in tests/golden/rewriting/masquerade).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailrelay.cleanup.canonical import AddressClass, address_classes
from mailrelay.cleanup.header_rewrite import (
    RECIPIENT_FIELDS,
    SENDER_FIELDS,
    field_name,
    rewrite_field,
)
from mailrelay.config.model import Config


@dataclass(frozen=True, slots=True)
class Masquerade:
    #: masquerade_domains as written, lower case, ``!`` kept.
    domains: tuple[str, ...]
    exceptions: frozenset[str] = frozenset()
    classes: AddressClass = (AddressClass.ENVELOPE_SENDER | AddressClass.HEADER_SENDER
                             | AddressClass.HEADER_RECIPIENT)

    @classmethod
    def from_config(cls, config: Config) -> Masquerade | None:
        domains = tuple(d.lower() for d in config.get_list("masquerade_domains") if d)
        if not domains:
            return None
        return cls(domains,
                   frozenset(e.lower() for e in config.get_list("masquerade_exceptions")),
                   address_classes(config, "masquerade_classes"))

    def applies(self, address_class: AddressClass) -> bool:
        return bool(self.classes & address_class)

    def address(self, address: str) -> str:
        """*address* (internal form) masqueraded, or as it was."""
        at = address.rfind("@")
        if at < 0 or address[:at].lower() in self.exceptions:
            return address
        domain = address[at + 1 :].lower()
        for entry in self.domains:
            excluded = entry.startswith("!")
            masq = entry[1:] if excluded else entry
            if not masq:
                continue
            if masq == domain:
                return address
            if domain.endswith("." + masq):
                return address if excluded else address[: at + 1] + masq
        return address


def masquerade_header(field: bytes, masquerade: Masquerade) -> bytes | None:
    """An address header with its addresses masqueraded (header_sender for From:, Sender:...,
    header_recipient for To:, Cc:...), or None when unchanged."""
    name = field_name(field)
    if name in SENDER_FIELDS:
        wanted = AddressClass.HEADER_SENDER
    elif name in RECIPIENT_FIELDS:
        wanted = AddressClass.HEADER_RECIPIENT
    else:
        return None
    if not masquerade.applies(wanted):
        return None
    return rewrite_field(field, masquerade.address)
