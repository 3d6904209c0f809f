"""Qualifying bare addresses, as trivial-rewrite does in the "local" rewriting context.

``alice`` becomes ``alice@$myorigin`` (append_at_myorigin) and ``alice@host`` becomes
``alice@host.$mydomain`` (append_dot_mydomain, off from compatibility level 1).  Envelope
addresses are always rewritten this way; header addresses only for clients in
local_header_rewrite_clients (captured: tests/golden/cleanup).  The null sender stays null.
"""

from __future__ import annotations

from mailrelay.cleanup.settings import CleanupSettings


def qualify(address: str, settings: CleanupSettings) -> str:
    if not address:
        return address
    local, at, domain = address.rpartition("@")
    if not at:
        if settings.append_at_myorigin and settings.myorigin:
            return f"{address}@{settings.myorigin}"
        return address
    domain = domain.rstrip(".")
    if (settings.append_dot_mydomain and settings.mydomain and "." not in domain
            and not domain.startswith("[")):
        domain = f"{domain}.{settings.mydomain}"
    return f"{local}@{domain}"
