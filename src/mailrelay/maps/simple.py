"""Tables with no file: ``inline:{...}``, ``static:value`` and ``fail:name``.

``inline:{ key=value, { key = value with spaces } }`` is a table written in main.cf; as in
Postfix, its keys are folded like a hash table's, a later duplicate replaces an earlier one,
and a syntax error names the whole table and the form it needs.
``static:`` answers every key (also the partial keys of an address lookup: it is a fixed
table, not a pattern table) with its value; ``static:{ value with spaces }`` keeps spaces.
``fail:`` fails every lookup, as a table whose server is down would: for testing deferrals.
"""

from __future__ import annotations

from collections.abc import Iterator

from mailrelay.maps.base import MapError, MapLookupError, Table, fold
from mailrelay.util.tokens import split_list

#: Postfix's CHARS_COMMA_SP: inline entries are separated by commas and/or white space.
_ENTRY_SEPARATORS = ", \t\r\n"
_SPACE = " \t\n\v\f\r"


def balpar(text: str) -> int:
    """Length of the balanced ``{...}`` group at the start of *text*; 0 when there is none."""
    if not text.startswith("{"):
        return 0
    level = 1
    for i in range(1, len(text)):
        if text[i] == "}":
            level -= 1
            if level == 0:
                return i + 1
        elif text[i] == "{":
            level += 1
    return 0


def extpar(text: str) -> tuple[str, str | None]:
    """Postfix's extpar(..., EXTPAR_FLAG_STRIP): ``{ text }`` → (``text``, error or None)."""
    length = balpar(text)
    if length == 0:
        return text[1:].strip(_SPACE), f"missing '}}' in \"{text}\""
    error = f"syntax error after '}}' in \"{text}\"" if length < len(text) else None
    return text[1 : length - 1].strip(_SPACE), error


def split_nameval(text: str) -> tuple[str, str]:
    """Postfix's split_nameval(): ``name = value`` with the blanks around each part dropped."""
    stripped = text.lstrip(_SPACE)
    if not stripped:
        raise ValueError("missing attribute name")
    end = 0
    while end < len(stripped) and stripped[end] not in _SPACE and stripped[end] != "=":
        end += 1
    rest = stripped[end:].lstrip(_SPACE)
    if not rest.startswith("="):
        raise ValueError("missing '=' after attribute name")
    return stripped[:end], rest[1:].strip(_SPACE)


class InlineTable(Table):
    __slots__ = ("_entries",)

    def __init__(self, name: str, *, fold_case: bool = True) -> None:
        super().__init__("inline", name, fold_case)
        self._entries = self._parse(name)

    def _fail(self, why: str) -> MapError:
        return MapError(f'{why}: "{self.spec}"; need "inline:{{name=value...}}"')

    def _parse(self, name: str) -> dict[str, str]:
        length = balpar(name)
        if length == 0 or length != len(name) or length == 2:
            raise self._fail("bad syntax")
        table: dict[str, str] = {}
        # The outer group is balanced, so the brace-aware splitter cannot fail here.
        for item in split_list(name[1:-1], _ENTRY_SEPARATORS):
            error = None
            if item.startswith("{"):
                item, error = extpar(item)
            if error is None:
                try:
                    key, value = split_nameval(item)
                except ValueError as e:
                    error = str(e)
            if error is not None:
                raise self._fail(error)
            table[fold(key) if self.fold_case else key] = value
        if not table:
            raise self._fail("empty table")
        return table

    def lookup(self, key: str) -> str | None:
        return self._entries.get(fold(key) if self.fold_case else key)

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self._entries.items())


class StaticTable(Table):
    __slots__ = ("value",)

    def __init__(self, name: str, *, fold_case: bool = True) -> None:
        super().__init__("static", name, fold_case)
        if name.startswith("{"):
            value, error = extpar(name)
            if error is not None:
                raise MapError(f"bad static:name syntax: {error}")
            self.value = value
        else:
            self.value = name

    def lookup(self, key: str) -> str | None:
        return self.value


class FailTable(Table):
    __slots__ = ()
    #: As Postfix's dict_fail: a pattern table, so partial keys never reach it.
    is_pattern = True

    #: The text Postfix prints for a fail: table's error (its errno is "application error").
    REASON = "Application error"

    def __init__(self, name: str, *, fold_case: bool = True) -> None:
        super().__init__("fail", name, fold_case)

    def lookup(self, key: str) -> str | None:
        raise MapLookupError(self.REASON)

    def items(self) -> Iterator[tuple[str, str]]:
        raise MapLookupError(self.REASON)
