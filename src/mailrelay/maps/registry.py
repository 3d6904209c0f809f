"""From ``type:name`` to an open table: the one place that knows every table type.

``open_map(spec)`` opens one table; ``MapCache`` keeps tables open across lookups and
transactions and reopens one whose file was replaced (``postmap`` renames a new file over the
old one); ``map_files(spec)`` tells ``check`` which files a table reads (to test their
permissions) and ``is_source_newer`` / ``stale_warning`` whether ``postmap`` must be run
again.  Errors use Postfix's words: ``unsupported dictionary type: foo``, ``open database
/etc/postfix/generic.db: No such file or directory``.

``proxy:type:name`` (Postfix's proxymap indirection) opens ``type:name`` directly: mailrelay
has no proxymap server, and its tables need none (a relay process reads them itself).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mailrelay.maps import indexed, pcre, regexp
from mailrelay.maps.base import MapError, Table
from mailrelay.maps.cidr import CidrTable
from mailrelay.maps.indexed import DupMode, IndexedTable
from mailrelay.maps.lookup import Maps
from mailrelay.maps.pattern_table import PatternTable
from mailrelay.maps.simple import FailTable, InlineTable, StaticTable
from mailrelay.maps.texthash import TexthashTable
from mailrelay.util.tokens import TokenError, split_list

DEFAULT_DATABASE_TYPE = "hash"


@dataclass(frozen=True, slots=True)
class OpenOptions:
    #: Fold keys to lower case (Postfix's DICT_FLAG_FOLD_FIX; ``postmap -f`` turns it off).
    fold_case: bool = True
    #: Duplicate keys in a table read as text (texthash).
    dup: DupMode = DupMode.WARN
    #: The current time, to warn about a compiled file older than its source; None: no check.
    now: float | None = None


Opener = Callable[[str, str, OpenOptions], Table]


@dataclass(frozen=True, slots=True)
class MapType:
    name: str
    open: Opener
    #: The name is a file: the source of an indexed table, or the table itself.
    file_backed: bool
    #: ``postmap type:file`` can build it (hash, btree, lmdb).
    indexed: bool = False


def _indexed(type_: str, name: str, o: OpenOptions) -> Table:
    return IndexedTable(type_, name, fold_case=o.fold_case, now=o.now)


TYPES: dict[str, MapType] = {
    t.name: t
    for t in (
        MapType("hash", _indexed, True, indexed=True),
        MapType("btree", _indexed, True, indexed=True),
        MapType("lmdb", _indexed, True, indexed=True),
        MapType("texthash", lambda t, n, o: TexthashTable(n, fold_case=o.fold_case, dup=o.dup),
                True),
        MapType("regexp", lambda t, n, o: PatternTable(regexp.DIALECT, t, n), True),
        MapType("pcre", lambda t, n, o: PatternTable(pcre.DIALECT, t, n), True),
        MapType("cidr", lambda t, n, o: CidrTable(n), True),
        MapType("inline", lambda t, n, o: InlineTable(n, fold_case=o.fold_case), False),
        MapType("static", lambda t, n, o: StaticTable(n), False),
        MapType("fail", lambda t, n, o: FailTable(n), False),
    )
}


def map_type_names() -> frozenset[str]:
    """Every table type ``open_map`` knows (and ``proxy``, which it passes through)."""
    return frozenset(TYPES) | {"proxy"}


def split_spec(spec: str, default_type: str = DEFAULT_DATABASE_TYPE) -> tuple[str, str]:
    """(type, name) of ``type:name``; a bare name has the default database type."""
    type_, colon, name = spec.partition(":")
    if not colon:
        return default_type, spec
    if not type_ or not name:
        raise MapError(f'open dictionary: expecting "type:name" form instead of "{spec}"')
    if type_ == "proxy":
        return split_spec(name, default_type)
    return type_, name


def map_type(type_: str) -> MapType:
    try:
        return TYPES[type_]
    except KeyError:
        raise MapError(f"unsupported dictionary type: {type_}") from None


def open_map(spec: str, options: OpenOptions | None = None, *,
             default_type: str = DEFAULT_DATABASE_TYPE) -> Table:
    """Open the table *spec* (``hash:/etc/postfix/generic``); MapError when it cannot be."""
    type_, name = split_spec(spec, default_type)
    return map_type(type_).open(type_, name, options or OpenOptions())


def map_list(value: str) -> list[str]:
    """The table specs of a ``*_maps`` parameter value (commas/blanks, ``{...}`` kept)."""
    try:
        return split_list(value)
    except TokenError as e:
        raise MapError(str(e)) from e


# -- files, for check and postmap -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MapFiles:
    #: The file the administrator edits (None for inline:, static:, fail:).
    source: str | None
    #: The file postmap builds from it (hash, btree, lmdb), else None.
    compiled: str | None


def map_files(spec: str, *, default_type: str = DEFAULT_DATABASE_TYPE) -> MapFiles:
    type_, name = split_spec(spec, default_type)
    kind = map_type(type_)
    if kind.indexed:
        return MapFiles(name, indexed.compiled_path(type_, name))
    return MapFiles(name if kind.file_backed else None, None)


def is_source_newer(spec: str, *, default_type: str = DEFAULT_DATABASE_TYPE) -> bool:
    """True when an indexed table's source changed after ``postmap`` last built it."""
    files = map_files(spec, default_type=default_type)
    if files.source is None or files.compiled is None:
        return False
    try:
        return os.stat(files.source).st_mtime_ns > os.stat(files.compiled).st_mtime_ns
    except OSError:
        return False


def stale_warning(spec: str, now: float, *,
                  default_type: str = DEFAULT_DATABASE_TYPE) -> str | None:
    """Postfix's "database X.db is older than source file X" (not for a source edited in the
    last 100 seconds, as Postfix), or None."""
    files = map_files(spec, default_type=default_type)
    if files.source is None or files.compiled is None:
        return None
    return indexed.stale_warning(files.compiled, files.source, now)


# -- keeping tables open ----------------------------------------------------------------------


class MapCache:
    """Open tables by spec, reopened when their file is replaced.

    ``get()`` costs one ``stat()`` to notice a replaced file: call it when starting a unit of
    work (a transaction, a queue run), not per lookup; hold the table (or the :class:`Maps`
    from ``maps()``) for the lookups of that unit.  When a table cannot be reopened (its new
    file is broken, or missing for a moment), ``get()`` raises MapError and keeps the old
    table, so that a later call tries again.
    """

    def __init__(self, options: OpenOptions | None = None, *,
                 default_type: str = DEFAULT_DATABASE_TYPE,
                 clock: Callable[[], float] | None = None) -> None:
        self._options = options or OpenOptions()
        self._default_type = default_type
        self._clock = clock
        self._tables: dict[str, Table] = {}

    def get(self, spec: str) -> Table:
        table = self._tables.get(spec)
        if table is not None and not table.is_stale():
            return table
        options = self._options
        if self._clock is not None:
            options = OpenOptions(options.fold_case, options.dup, self._clock())
        fresh = open_map(spec, options, default_type=self._default_type)
        if table is not None:
            table.close()
        self._tables[spec] = fresh
        return fresh

    def maps(self, value: str, title: str) -> Maps:
        """The tables of a ``*_maps`` parameter, in order, as one searchable list."""
        return Maps(title, tuple(self.get(spec) for spec in map_list(value)))

    def __iter__(self) -> Iterator[Table]:
        return iter(list(self._tables.values()))

    def close(self) -> None:
        for table in self._tables.values():
            table.close()
        self._tables.clear()
