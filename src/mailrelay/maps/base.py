"""The one interface every lookup table implements.

A table answers ``lookup(key)`` with the value as stored (no ``$n`` substitution left to do by
the caller, except for regexp/pcre tables, which substitute their own ``$1``), or ``None`` when
the key is not there.  A table that cannot answer right now (a file that vanished, a database
error) raises :class:`MapLookupError`: callers defer, as Postfix's "table lookup problem".
A table that is malformed at open time raises :class:`MapError` naming the file and line.
"""

from __future__ import annotations

from typing import Protocol

from mailrelay.util.diagnostic import Fatal


class MapError(Fatal):
    """A table that cannot be opened or compiled: names the file and line."""


class MapLookupError(Exception):
    """A lookup that failed for now (Postfix's DICT_ERR_RETRY): the caller should defer."""


class Map(Protocol):
    #: ``type:name`` exactly as configured (``hash:/etc/postfix/generic``).
    spec: str
    #: Pattern tables (regexp, pcre, cidr...) are queried with the whole key only: no
    #: ``user@domain`` → ``@domain`` variants, no parent domains (Postfix's DICT_FLAG_PATTERN).
    is_pattern: bool
    #: Keys are folded to lower case before lookup (Postfix's DICT_FLAG_FOLD_FIX).
    fold_case: bool

    def lookup(self, key: str) -> str | None: ...

    def is_stale(self) -> bool:
        """True when the file behind the table changed since it was opened (reopen it)."""
        ...
