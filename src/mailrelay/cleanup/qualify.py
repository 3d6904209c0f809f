"""Qualifying bare addresses, as trivial-rewrite does in the "local" rewriting context.

In trivial-rewrite's order: ``site!user`` becomes ``user@site`` (swap_bangpath: at the first
``!``, so ``a!b!c`` is ``b!c@a``), else ``user%domain`` becomes ``user@domain``
(allow_percent_hack: at the last ``%``) — both only for an address without ``@`` (a
``user%domain@local-host`` is opened up when resolved, not here) and not for a local part
that must be quoted; then ``alice`` becomes ``alice@$myorigin`` (append_at_myorigin) and
``alice@host`` becomes ``alice@host.$mydomain`` (append_dot_mydomain, off from compatibility
level 1).  Envelope addresses are always rewritten this way; header addresses only for
clients in local_header_rewrite_clients, or with remote_header_rewrite_domain
(captured: tests/golden/cleanup, tests/golden/cleanup-rewrite-context).  The null sender
stays null.
"""

from __future__ import annotations

from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.cleanup.tok822 import quote_822_local


def route_operators(address: str, settings: CleanupSettings) -> str:
    """*address* with a bang path or percent hack turned into ``user@domain``."""
    if "@" in address or quote_822_local(address) != address:
        return address
    if settings.swap_bangpath and "!" in address:
        site, _, user = address.partition("!")
        return f"{user}@{site}"
    if settings.allow_percent_hack and "%" in address:
        user, _, domain = address.rpartition("%")
        return f"{user}@{domain}"
    return address


def qualify(address: str, settings: CleanupSettings) -> str:
    if not address:
        return address
    address = route_operators(address, settings)
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
