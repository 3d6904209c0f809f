"""Reading main.cf the way Postfix does, keeping where each value came from.

Postfix's rules (checked against postconf 3.7): a logical line starts with non-white text and
goes on over the following lines that start with white space; those are joined with one space
after trimming.  Blank lines and lines whose first non-white character is ``#`` are skipped
anywhere, even between continuation lines; ``#`` elsewhere is part of the value.  A logical line
that starts with white space is ignored with a warning.  A later assignment replaces an earlier
one ("overriding earlier entry").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from mailrelay.util.diagnostic import Fatal, Origin

_NAME = re.compile(r"\A[A-Za-z0-9_.\-]+\Z")


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``name = value`` assignment as written (unexpanded), with its origin."""

    name: str
    value: str
    origin: Origin


@dataclass(slots=True)
class MainCf:
    """The assignments of one main.cf: the last one of each name wins, order of first use kept."""

    path: str
    settings: dict[str, Setting] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, name: str) -> Setting | None:
        return self.settings.get(name)

    def values(self) -> dict[str, str]:
        return {name: s.value for name, s in self.settings.items()}


def logical_lines(lines: Iterable[str], path: str) -> Iterator[tuple[int, str, list[str]]]:
    """(first line number, joined logical line, warnings) for each logical line."""
    start = 0
    parts: list[str] = []
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in " \t":
            if parts:
                parts.append(stripped)
            else:
                yield number, "", [
                    f'{path}: logical line must not start with whitespace: "{line}"'
                ]
            continue
        if parts:
            yield start, " ".join(parts), []
        start, parts = number, [stripped]
    if parts:
        yield start, " ".join(parts), []


def parse_assignment(text: str, origin: Origin) -> Setting:
    """``name = value`` → Setting; Postfix's fatal errors for anything else."""
    name, eq, value = text.partition("=")
    name = name.strip()
    if not eq:
        raise Fatal(f"missing '=' after attribute name: \"{text}\"", origin)
    if not name:
        raise Fatal(f'missing attribute name: "{text}"', origin)
    if not _NAME.match(name):
        raise Fatal(f'bad parameter name: "{name}"', origin)
    return Setting(name, value.strip(), origin)


def parse_main_cf(text: str, path: str) -> MainCf:
    result = MainCf(path)
    for number, line, warnings in logical_lines(text.splitlines(), path):
        result.warnings.extend(warnings)
        if not line:
            continue
        setting = parse_assignment(line, Origin(path, number))
        earlier = result.settings.pop(setting.name, None)
        if earlier is not None:
            result.warnings.append(
                f"{setting.origin}: overriding earlier entry: {earlier.name}={earlier.value}"
            )
        result.settings[setting.name] = setting
    return result


def read_main_cf(path: str) -> MainCf:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except FileNotFoundError:
        raise Fatal(f"open {path}: No such file or directory") from None
    except OSError as e:
        raise Fatal(f"open {path}: {e.strerror}") from None
    return parse_main_cf(text, path)
