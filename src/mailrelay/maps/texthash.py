"""``texthash:`` tables: a postmap source read straight into memory, no compile step.

The syntax is postmap's (source.py); Postfix's dict_thash words two warnings differently: a
line without a value says "-- ignoring this line", and a duplicate is reported with its line
and the key as written rather than as stored.
"""

from __future__ import annotations

from collections.abc import Iterator

from mailrelay.maps.base import fold
from mailrelay.maps.indexed import DupMode
from mailrelay.maps.source import entries
from mailrelay.maps.stamp import FileTable


class TexthashTable(FileTable):
    __slots__ = ("_entries",)

    def __init__(self, name: str, *, fold_case: bool = True,
                 dup: DupMode = DupMode.WARN) -> None:
        super().__init__("texthash", name, fold_case)
        self._entries = self._parse(self.read("open database"), dup)

    def _parse(self, data: bytes, dup: DupMode) -> dict[str, str]:
        name = self.name
        warn = self.warnings.append
        table: dict[str, str] = {}
        for number, raw_key, raw_value in entries(data, name, warn, fold=False, texthash=True):
            key = raw_key.decode("utf-8", "surrogateescape")
            value = raw_value.decode("utf-8", "surrogateescape")
            stored = fold(key) if self.fold_case else key
            if stored in table:
                if dup is DupMode.REPLACE:
                    table[stored] = value
                elif dup is DupMode.WARN:
                    warn(f'{name}, line {number}: duplicate entry: "{key}"')
                continue
            table[stored] = value
        return table

    def lookup(self, key: str) -> str | None:
        return self._entries.get(fold(key) if self.fold_case else key)

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self._entries.items())
