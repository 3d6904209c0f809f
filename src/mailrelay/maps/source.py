"""The text syntax shared by Postfix's table files, and postmap(1)'s ``key value`` source.

Logical lines (Postfix's readllines()): empty lines, white-space-only lines and lines whose
first non-blank character is ``#`` are ignored wherever they are; a line that starts with
white space continues the logical line before it (the text is joined as is, newline dropped),
even across ignored lines; a logical line is reported with the number of its first line.
Every table file type (hash sources, texthash, regexp, pcre, cidr) reads its file this way.

postmap's source syntax on top: the key ends at the first white space that is not inside
``"..."`` (a backslash escapes the next character); the value is the rest, trimmed.  Keys are
folded (Postfix's casefold) unless ``postmap -f``.  The file is read as bytes and each line is
checked for UTF-8, as Postfix does with ``smtputf8_enable = yes``.

The hot loop (a million-line source for ``postmap``) does as little Python work per line as
possible: bytes methods, no regular expressions, the quoted-key scanner only for lines that
contain a quote or a backslash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

Warn = Callable[[str], None]

#: C isspace() in the C locale: what Postfix's ISSPACE() accepts.
SPACE = b" \t\n\v\f\r"
_SPACE_CODES = frozenset(SPACE)
_HASH = ord("#")
_QUOTE = ord('"')
_BACKSLASH = ord("\\")
_COLON = ord(":")


def text(data: bytes) -> str:
    """Bytes for a message: invalid UTF-8 shows as U+FFFD (printed as ``?`` by the CLI)."""
    return data.decode("utf-8", "replace")


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _has_indented_line(data: bytes) -> bool:
    """Does a line start with white space (a continuation, or a blank line)?  A few memchr
    scans: much faster than a regular expression over a big file."""
    blanks = (b" ", b"\t", b"\v", b"\f", b"\r")
    return data[:1] in blanks or any(b"\n" + blank in data for blank in blanks)


def logical_lines(data: bytes, path: str, warn: Warn) -> Iterator[tuple[int, bytes]]:
    """(first line number, logical line) for each logical line of *data*."""
    if not _has_indented_line(data):
        # No continuation lines (most tables): every non-empty line that is not a comment
        # is a logical line of its own.  Same result, a third of the time on big tables.
        return ((n, line) for n, line in enumerate(data.split(b"\n"), 1)
                if line and line[0] != _HASH)
    return _joined_lines(data, path, warn)


def _joined_lines(data: bytes, path: str, warn: Warn) -> Iterator[tuple[int, bytes]]:
    current: list[bytes] = []
    first = 0
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line:
            continue
        head = line[0]
        if head in _SPACE_CODES:
            rest = line.lstrip(SPACE)
            if not rest or rest[0] == _HASH:
                continue
            if not current:
                # Continuation text with nothing to continue: Postfix collects it as one
                # logical line, warns and drops it (so postmap never dies half-way).
                first = number
            current.append(line)
            continue
        if head == _HASH:
            continue
        if current:
            yield from _finish(current, first, path, warn)
        current = [line]
        first = number
    if current:
        yield from _finish(current, first, path, warn)


def _finish(parts: list[bytes], first: int, path: str, warn: Warn) -> Iterator[tuple[int, bytes]]:
    line = parts[0] if len(parts) == 1 else b"".join(parts)
    if line[0] in _SPACE_CODES:
        more = "..." if len(line) > 30 else ""
        warn(f'{path}: logical line must not start with whitespace: "{text(line[:30])}{more}"')
        return
    yield first, line


def split_quoted(line: bytes) -> tuple[bytes, bytes] | None:
    """postmap's key/value split when the key may be quoted; None for an unbalanced quote."""
    in_quotes = False
    i = 0
    n = len(line)
    while i < n:
        c = line[i]
        if c == _BACKSLASH:
            i += 1
            if i >= n:
                break
        elif c in _SPACE_CODES:
            if not in_quotes:
                break
        elif c == _QUOTE:
            in_quotes = not in_quotes
        i += 1
    if in_quotes:
        return None
    return line[:i], line[i + 1 :].strip(SPACE)


def fold_key(key: bytes) -> bytes:
    """Postfix's casefold() of a UTF-8 key (plain lower case for ASCII, the common case)."""
    if key.isascii():
        return key.lower()
    return key.decode("utf-8", "surrogateescape").casefold().encode("utf-8", "surrogateescape")


def entries(
    data: bytes, path: str, warn: Warn, *, fold: bool = True, texthash: bool = False
) -> Iterator[tuple[int, bytes, bytes]]:
    """(line number, key, value) for each valid entry of a postmap source, keys folded.

    *texthash*: Postfix's texthash reader, which words one warning differently.
    """
    ignoring = " -- ignoring this line" if texthash else ""
    # A file that is valid UTF-8 as a whole has only valid lines: check once, not per line.
    whole_utf8 = data.isascii() or is_utf8(data)
    space = SPACE
    for number, line in logical_lines(data, path, warn):
        if not whole_utf8 and not line.isascii() and not is_utf8(line):
            warn(f'{path}, line {number}: non-UTF-8 input "{text(line)}" -- ignoring this line')
            continue
        if _QUOTE in line or _BACKSLASH in line:
            split = split_quoted(line)
            if split is None:
                warn(f"{path}, line {number}: unbalanced '\"' in '{text(line)}'"
                     " -- ignoring this line")
                continue
            key, value = split
        else:
            parts = line.split(None, 1)
            key = parts[0]
            value = parts[1].rstrip(space) if len(parts) == 2 else b""
        if not key or not value:
            warn(f"{path}, line {number}: expected format: key whitespace value{ignoring}")
            continue
        if key[-1] == _COLON:
            warn(f'{path}, line {number}: record is in "key: value" format;'
                 " is this an alias file?")
        if fold:
            key = key.lower() if key.isascii() else fold_key(key)
        yield number, key, value


class IfBlocks:
    """Where each ``if`` of a rule list ends: the ``if``/``endif`` syntax that regexp, pcre
    and cidr tables share.  A lookup that fails an ``if`` jumps to its ``endif``; an ``if``
    left open ends the search (Postfix's behaviour)."""

    def __init__(self) -> None:
        self._open: list[int] = []
        #: rule index of each "if" -> rule index of its "endif", None when unclosed.
        self.ends: dict[int, int | None] = {}

    @property
    def nesting(self) -> int:
        return len(self._open)

    def opened(self, index: int) -> None:
        self._open.append(index)
        self.ends[index] = None

    def closed(self, index: int) -> None:
        self.ends[self._open.pop()] = index

    def unclosed(self) -> list[int]:
        """The rule indexes of the ifs left open, innermost first (as Postfix warns)."""
        return self._open[::-1]
