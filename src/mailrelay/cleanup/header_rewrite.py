"""Address mapping inside header fields: canonical (cleanup) and generic (smtp client).

Postfix parses an address header with tok822, maps each address (internal form) through
the table and, when any address changed, writes the field again from the parsed list:
``Name: `` then the list with one address per line, lines joined with a space while under
70 characters, continuation lines starting with a tab (captured in tests/golden/rewriting:
a folded ``Cc:`` comes out on one line, ``<...>``, display names and comments kept).  A field
where nothing changed is kept byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable

from mailrelay.cleanup.header_addresses import ADDRESS_FIELDS, rewrite_addresses
from mailrelay.cleanup.tok822 import Token, internalize, quote_822_local, scan

#: Fields mapped as senders (sender_canonical_maps, header_sender); the other
#: ADDRESS_FIELDS are recipient fields.  Reply-To and Mail-Followup-To are senders, but
#: Resent-Reply-To is a recipient (captured: tests/golden/rewriting/classes).
SENDER_FIELDS = frozenset({
    "disposition-notification-to", "errors-to", "from", "mail-followup-to", "reply-to",
    "resent-from", "resent-sender", "return-path", "return-receipt-to", "sender",
})
RECIPIENT_FIELDS = ADDRESS_FIELDS - SENDER_FIELDS

#: Maps one internal-form address to its replacement (the same string when unchanged).
AddressRewrite = Callable[[str], str]


def field_name(field: bytes) -> str:
    """The lower-case name of a header field (``b"From: x"`` is ``from``)."""
    return field[: field.find(b":")].strip().decode("ascii", "replace").lower()


def rewrite_field(field: bytes, rewrite: AddressRewrite) -> bytes | None:
    """One address header field (folded lines included, CRLF at the end) with each address
    passed through *rewrite*; None when no address changed (keep it as written)."""

    def step(tok: Token) -> bool:
        before = internalize(tok.parts)
        after = rewrite(before)
        if after == before:
            return False
        tok.parts = scan(quote_822_local(after))
        return True

    return rewrite_addresses(field, step)
