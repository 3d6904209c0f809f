"""``hash:``, ``btree:`` and ``lmdb:`` tables: a postmap source compiled into an LMDB file.

Postfix's hash and btree tables are Berkeley DB files; mailrelay compiles all three types into
one single-file LMDB database (``FILE.db`` for hash and btree, ``FILE.lmdb`` for lmdb, named as
Postfix names them), because LMDB is memory-mapped (a lookup is a B-tree walk in shared pages,
no system call) and its format is the one Postfix's own ``lmdb:`` type uses.  Keys and values
are stored as UTF-8 without a terminating null byte, as Postfix's postmap writes them.

Invariant: a compiled file is never modified in place.  ``postmap`` (even ``-i`` and ``-d``)
writes a complete new file beside the old one, flushes it and renames it over the old one
(util.durable), so a reader has either the old table or the new one, never half of one.  That
is what lets readers open the file without LMDB's lock file (``lock=False``) and keep one read
transaction for the life of the table; a replaced file is noticed by ``is_stale()``.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from pathlib import Path

import lmdb

from mailrelay.maps.base import MapError, MapLookupError, Table, fold
from mailrelay.maps.source import Warn, entries
from mailrelay.maps.stamp import Stamp, changed, stamp
from mailrelay.util.durable import replacement

SUFFIXES: dict[str, str] = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb"}

#: LMDB's compiled-in key size limit (MDB_MAXKEYSIZE); Berkeley DB has none.
MAX_KEY_BYTES = 511

#: Postfix warns about a compiled file older than its source only when the source has not
#: been touched for this long, so that an edit followed by postmap raises no alarm.
STALE_GRACE_SECONDS = 100


class DupMode(enum.Enum):
    """What a duplicate key does (postmap's default, ``-w``, ``-r``)."""

    WARN = "warn"
    IGNORE = "ignore"
    REPLACE = "replace"


def compiled_path(type_: str, name: str) -> str:
    return name + SUFFIXES[type_]


def dup_label(type_: str, name: str) -> str:
    """How Postfix names the table in "duplicate entry" warnings: the file, or lmdb:name."""
    return f"lmdb:{name}" if type_ == "lmdb" else compiled_path(type_, name)


def stale_warning(db_path: str, source_path: str, now: float) -> str | None:
    """Postfix's warning for a compiled file older than its source (None when it is not)."""
    try:
        source = int(os.stat(source_path).st_mtime)
        compiled = int(os.stat(db_path).st_mtime)
    except OSError:
        return None
    if compiled < source < now - STALE_GRACE_SECONDS:
        return f"database {db_path} is older than source file {source_path}"
    return None


class _Shared:
    """One open LMDB environment and its read transaction, shared by the tables of a file.

    LMDB (and py-lmdb, which enforces it) allows a file to be opened once per process, so
    two tables on the same file (``hash:/etc/x`` in two parameters, or ``postmap -q - hash:x
    hash:x``) share one environment, identified like py-lmdb does: by device and inode.
    """

    __slots__ = ("env", "txn", "users")

    def __init__(self, env: lmdb.Environment) -> None:
        self.env = env
        self.txn = env.begin(buffers=False)
        self.users = 0


_OPEN: dict[tuple[int, int], _Shared] = {}


def _acquire(path: str, type_: str, name: str) -> tuple[Stamp, _Shared]:
    """The stamp (taken before opening) and shared environment of a compiled file."""
    for _ in range(10):
        before = stamp(path)
        if before is None:
            # Raises the right MapError (missing, no access); if the file just appeared,
            # start again with its stamp.
            _open_reader(path, type_, name).close()
            continue
        key = (before.device, before.inode)
        shared = _OPEN.get(key)
        if shared is None:
            env = _open_reader(path, type_, name)
            after = stamp(path)
            if after is None or (after.device, after.inode) != key:
                env.close()  # replaced while we opened it: open the new one
                continue
            shared = _OPEN[key] = _Shared(env)
        shared.users += 1
        return before, shared
    raise MapError(f"open database {path}: the file keeps being replaced")


def _release(opened: Stamp, shared: _Shared) -> None:
    shared.users -= 1
    if shared.users == 0:
        shared.txn.abort()
        shared.env.close()
        del _OPEN[(opened.device, opened.inode)]


class IndexedTable(Table):
    """A read-only view of a compiled table, kept open with one reusable read transaction."""

    __slots__ = ("_shared", "_stamp", "_txn", "path")

    def __init__(self, type_: str, name: str, *, fold_case: bool = True,
                 now: float | None = None) -> None:
        super().__init__(type_, name, fold_case)
        self.path = compiled_path(type_, name)
        self._stamp, shared = _acquire(self.path, type_, name)
        self._shared: _Shared | None = shared
        self._txn = shared.txn
        if now is not None:
            warning = stale_warning(self.path, name, now)
            if warning:
                self.warnings.append(warning)

    def lookup(self, key: str) -> str | None:
        if self.fold_case:
            key = fold(key)
        raw = key.encode("utf-8", "surrogateescape")
        if not raw or len(raw) > MAX_KEY_BYTES:
            return None
        try:
            value = self._txn.get(raw)
        except lmdb.Error as e:
            raise MapLookupError(_reason(e)) from e
        return None if value is None else value.decode("utf-8", "surrogateescape")

    def items(self) -> Iterator[tuple[str, str]]:
        for key, value in self._txn.cursor():
            yield key.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape")

    def is_stale(self) -> bool:
        return changed(self.path, self._stamp)

    def close(self) -> None:
        if self._shared is not None:
            _release(self._stamp, self._shared)
            self._shared = None


def _open_reader(path: str, type_: str, name: str) -> lmdb.Environment:
    try:
        return lmdb.open(path, subdir=False, readonly=True, lock=False, create=False,
                         readahead=False, max_dbs=0)
    except lmdb.Error as e:
        if not os.path.exists(path):
            raise MapError(f"open database {path}: No such file or directory") from e
        if isinstance(e, lmdb.InvalidError | lmdb.VersionMismatchError):
            raise MapError(f"open database {path}: not a mailrelay table (built by another "
                           f'program?); rebuild it with "mailrelay postmap {type_}:{name}"'
                           ) from e
        raise MapError(f"open database {path}: {_reason(e)}") from e


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e).split(": ", 1)[-1]


# -- writing --------------------------------------------------------------------------------


def default_mode(source_mode: int | None, existing_mode: int | None) -> int:
    """Permissions of a compiled file: never readable by anyone who cannot read the source.

    Postfix creates a new file as 0644 less the group/other read bits its source lacks
    (``postmap -p``: plain 0644, *source_mode* None) and leaves an existing file's mode alone;
    mailrelay also takes the bits away from an existing file whose source is private now
    (``chmod 600 sasl_passwd; postmap sasl_passwd`` must not leave a readable copy behind).
    """
    base = existing_mode if existing_mode is not None else 0o644
    if source_mode is None:
        return base
    return base & ~(~source_mode & 0o077)


def _write(path: Path, items: list[tuple[bytes, bytes]], payload: int) -> None:
    """Write sorted, distinct *items* into a fresh LMDB file at *path* (no fsync: the caller's
    util.durable.replacement() flushes the file before renaming it)."""
    # The map size only reserves address space (pages are written with pwrite, not through
    # the map), so be generous: twice the data, a node header per entry, room for overflow.
    map_size = 2 * payload + 64 * len(items) + (32 << 20)
    while True:
        env = lmdb.open(str(path), subdir=False, lock=False, sync=False, metasync=False,
                        map_size=map_size, readahead=False, meminit=False, max_dbs=0)
        try:
            with env.begin(write=True) as txn:
                txn.cursor().putmulti(items, append=True)
            return
        except lmdb.MapFullError:
            map_size *= 2
        finally:
            env.close()


def _install(target: str, items: list[tuple[bytes, bytes]], payload: int, mode: int | None,
             owner: tuple[int, int] | None) -> None:
    def build(tmp: Path) -> None:
        _write(tmp, items, payload)
        if owner is not None:
            os.chown(tmp, *owner)

    try:
        with replacement(target, mode) as tmp:
            build(tmp)
    except OSError as e:
        raise MapError(f"open database {target}: {e.strerror or e}") from e


def _merge(
    table: dict[bytes, bytes],
    new: Iterable[tuple[int, bytes, bytes]],
    dup: DupMode,
    label: str,
    warn: Warn,
) -> None:
    """Add *new* entries to *table* the way Postfix's postmap treats duplicates."""
    for number, key, value in new:
        if len(key) > MAX_KEY_BYTES:
            warn(f"{label}: key longer than {MAX_KEY_BYTES} bytes at line {number}: "
                 "skipping this entry")
            continue
        if dup is DupMode.REPLACE:
            table[key] = value
            continue
        size = len(table)
        table.setdefault(key, value)
        if len(table) == size and dup is DupMode.WARN:
            warn(f'{label}: duplicate entry: "{key.decode("utf-8", "replace")}"')


def _sorted(table: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """Entries in key order, for LMDB's append mode (pages filled, no B-tree splits).

    Keys are unique, so sorting on the key alone gives the same order as sorting the pairs,
    in less than half the time (no tuple comparisons).
    """
    return sorted(table.items(), key=itemgetter(0))


def compile_source(
    type_: str,
    name: str,
    data: bytes,
    warn: Warn,
    *,
    fold_keys: bool = True,
    dup: DupMode = DupMode.WARN,
    mode: int | None = None,
    owner: tuple[int, int] | None = None,
) -> int:
    """Build ``name``'s compiled file from the source text *data*; returns the entry count."""
    table: dict[bytes, bytes] = {}
    _merge(table, entries(data, name, warn, fold=fold_keys), dup, dup_label(type_, name), warn)
    items = _sorted(table)
    _install(compiled_path(type_, name), items, len(data), mode, owner)
    return len(items)


def _load(type_: str, name: str, create: bool) -> dict[bytes, bytes]:
    """The current content of a compiled table (empty when *create* and it does not exist)."""
    path = compiled_path(type_, name)
    if create and not os.path.exists(path):
        return {}
    opened, shared = _acquire(path, type_, name)
    try:
        return dict(shared.txn.cursor())
    finally:
        _release(opened, shared)


def update_source(
    type_: str,
    name: str,
    data: bytes,
    label: str,
    warn: Warn,
    *,
    fold_keys: bool = True,
    dup: DupMode = DupMode.WARN,
    mode: int | None = None,
) -> None:
    """``postmap -i``: add the entries of *data* (read from *label*) to the table."""
    table = _load(type_, name, create=True)
    _merge(table, entries(data, label, warn, fold=fold_keys), dup, dup_label(type_, name), warn)
    payload = sum(len(k) + len(v) for k, v in table.items())
    _install(compiled_path(type_, name), _sorted(table), payload, mode, None)


def delete_keys(type_: str, name: str, keys: Iterable[str], *, fold_keys: bool = True) -> bool:
    """``postmap -d``: remove each key; True when at least one was there."""
    table = _load(type_, name, create=False)
    prepare: Callable[[str], str] = fold if fold_keys else str
    found = False
    for key in keys:
        if table.pop(prepare(key).encode("utf-8", "surrogateescape"), None) is not None:
            found = True
    if found:
        payload = sum(len(k) + len(v) for k, v in table.items())
        _install(compiled_path(type_, name), _sorted(table), payload, None, None)
    return found
