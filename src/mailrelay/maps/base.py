"""The one interface every lookup table implements.

A table answers ``lookup(key)`` with the value as stored (no ``$n`` substitution left to do by
the caller, except for regexp/pcre tables, which substitute their own ``$1``), or ``None`` when
the key is not there.  A table that cannot answer right now (a file that vanished, a database
error) raises :class:`MapLookupError`: callers defer, as Postfix's "table lookup problem".
A table that is malformed at open time raises :class:`MapError` naming the file and line.

:class:`Map` is what consumers need.  :class:`Table` is the common base of the concrete tables
of this package: it adds what ``postmap`` and ``check`` need on top (open-time warnings such
as Postfix's "skipping this rule", ``postmap -s`` listing, closing a memory-mapped file).
"""

from __future__ import annotations

from collections.abc import Iterator
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
    #: Keys are folded to lower case before lookup (Postfix's DICT_FLAG_FOLD_FIX).  The table
    #: folds the key itself: callers pass keys as they have them.
    fold_case: bool

    def lookup(self, key: str) -> str | None: ...

    def is_stale(self) -> bool:
        """True when the file behind the table changed since it was opened (reopen it)."""
        ...


def fold(key: str) -> str:
    """Postfix's casefold(): full Unicode case folding (``ß`` → ``ss``), plain for ASCII."""
    return key.lower() if key.isascii() else key.casefold()


class Table:
    """Common base of this package's tables; satisfies :class:`Map`.

    ``warnings`` are the open-time diagnostics Postfix logs as warnings (a skipped regexp
    rule, a compiled file older than its source): the table still works, and whoever opened
    it decides where they go (stderr for ``postmap``, the log for the daemon, ``check``).
    """

    __slots__ = ("fold_case", "name", "spec", "type", "warnings")

    is_pattern: bool = False

    def __init__(self, type_: str, name: str, fold_case: bool) -> None:
        self.type = type_
        self.name = name
        self.spec = f"{type_}:{name}"
        self.fold_case = fold_case
        self.warnings: list[str] = []

    def lookup(self, key: str) -> str | None:
        raise NotImplementedError

    def is_stale(self) -> bool:
        return False

    def items(self) -> Iterator[tuple[str, str]]:
        """Every (key, value), for ``postmap -s``; pattern tables cannot list themselves."""
        raise MapError(f"table {self.spec}: sequence operation is not supported")

    def close(self) -> None:
        """Release the file behind the table (a no-op for tables held in memory)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec}>"
