"""Reading main.cf the way Postfix does, keeping where each value came from.

Postfix's rules (readlline.c and split_nameval.c, checked against postconf 3.7):

- A logical line starts with a line whose first character is not white space and goes on over
  the following lines that start with white space.  The lines are joined *as they are*, without
  a separator and without trimming (``a\\n  b`` is ``a  b``); postconf only looks as if it
  joined them with one space because it prints values with their white space collapsed.
- Blank lines and lines whose first non-white character is ``#`` are skipped anywhere, even
  between continuation lines; a ``#`` elsewhere is part of the value.
- A logical line that starts with white space is ignored with the warning "logical line must
  not start with whitespace" (its first 30 characters, no line number).
- ``name = value``: the name runs to white space or ``=``; the value is trimmed.  Otherwise
  "missing attribute name" or "missing '=' after attribute name", fatal, with file and line.
- A later assignment replaces an earlier one ("overriding earlier entry: NAME=OLD").  Postfix
  3.7's postconf reads main.cf several times and so prints these warnings several times over;
  they are kept once here.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from mailrelay.util.diagnostic import Fatal, Origin

#: C's isspace(): what Postfix trims and what makes a line a continuation line.
SPACE = " \t\n\r\v\f"


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``name = value`` assignment as written (unexpanded), with its origin."""

    name: str
    value: str
    origin: Origin


@dataclass(slots=True)
class MainCf:
    """The assignments of one main.cf: the last one of each name wins."""

    path: str
    settings: dict[str, Setting] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, name: str) -> Setting | None:
        return self.settings.get(name)

    def values(self) -> dict[str, str]:
        return {name: s.value for name, s in self.settings.items()}


@dataclass(frozen=True, slots=True)
class LogicalLine:
    """One logical line and where each of its physical lines starts in it."""

    text: str
    #: (offset in *text*, line number) of each physical line, in order.
    starts: tuple[tuple[int, int], ...]

    @property
    def number(self) -> int:
        return self.starts[0][1]

    def line_at(self, offset: int) -> int:
        """The physical line number of the character at *offset*."""
        return self.starts[bisect_right([o for o, _ in self.starts], offset) - 1][1]


def _is_content(line: str) -> bool:
    stripped = line.lstrip(SPACE)
    return bool(stripped) and not stripped.startswith("#")


def read_logical_lines(text: str, path: str, warnings: list[str]) -> Iterator[LogicalLine]:
    """Postfix's readllines(): the logical lines of *text*; warnings are appended."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    group: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        if not _is_content(line):
            continue
        if group and line[0] not in SPACE:
            yield from _logical(group, path, warnings)
            group = []
        group.append((number, line))
    if group:
        yield from _logical(group, path, warnings)


def _logical(group: list[tuple[int, str]], path: str, warnings: list[str]) -> Iterator[LogicalLine]:
    """The logical line made of *group*; none, with a warning, if it starts with white space."""
    text = "".join(line for _, line in group)
    if text[0] in SPACE:
        more = "..." if len(text) > 30 else ""
        warnings.append(f'{path}: logical line must not start with whitespace: "{text[:30]}{more}"')
        return
    offsets = accumulate((len(line) for _, line in group[:-1]), initial=0)
    yield LogicalLine(text, tuple(zip(offsets, (n for n, _ in group), strict=True)))


def split_nameval(text: str) -> tuple[str, str]:
    """Postfix's split_nameval(): ``name = value`` → (name, value); ValueError as Postfix."""
    rest = text.lstrip(SPACE)
    if not rest or rest[0] == "=":
        raise ValueError("missing attribute name")
    end = 0
    while end < len(rest) and rest[end] not in SPACE and rest[end] != "=":
        end += 1
    after = rest[end:].lstrip(SPACE)
    if not after.startswith("="):
        raise ValueError("missing '=' after attribute name")
    return rest[:end], after[1:].strip(SPACE)


def parse_assignment(text: str, origin: Origin) -> Setting:
    """``name = value`` → Setting; Postfix's fatal errors for anything else."""
    try:
        name, value = split_nameval(text)
    except ValueError as e:
        raise Fatal(f'{e}: "{text}"', origin) from None
    return Setting(name, value, origin)


def parse_main_cf(text: str, path: str) -> MainCf:
    result = MainCf(path)
    for line in read_logical_lines(text, path, result.warnings):
        setting = parse_assignment(line.text, Origin(path, line.number))
        earlier = result.settings.pop(setting.name, None)
        if earlier is not None:
            result.warnings.append(
                f"{setting.origin}: overriding earlier entry: {earlier.name}={earlier.value}"
            )
        result.settings[setting.name] = setting
    return result


def read_text(path: str) -> str:
    """A configuration file's text; Postfix's "open FILE: REASON" when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            return f.read()
    except OSError as e:
        raise Fatal(f"open {path}: {e.strerror}") from None


def read_main_cf(path: str) -> MainCf:
    return parse_main_cf(read_text(path), path)
