"""Editing main.cf in place: ``postconf -e name=value``, ``-X name``, ``-# name``.

As Postfix's postconf_edit.c: comments, blank lines and the order of the file are kept; an
existing assignment is replaced by ``name = value`` on one line (its continuation lines go;
comment lines among them stay), every assignment of the name if there are several (with the
warning "multiple entries"); names not found are appended in name order (Postfix 3.7 appends
them in hash-table order, which changes from run to run; later versions sort them too).
``-X`` removes the assignments, ``-#`` puts ``#`` before each of their lines.

Unlike Postfix, which rewrites the file with mode 0644, the new file keeps the old one's
permissions, and it replaces the old one atomically and durably (util.durable).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mailrelay.config.maincf import SPACE, split_nameval
from mailrelay.util.diagnostic import Fatal
from mailrelay.util.durable import write_atomically


class Mode(enum.Enum):
    SET = "-e"
    REMOVE = "-X"
    COMMENT = "-#"


@dataclass(slots=True)
class Edits:
    """What to do to which names; *values* is None for -X and -#."""

    mode: Mode
    values: dict[str, str | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def parse_requests(mode: Mode, args: list[str]) -> Edits:
    """The command-line arguments of -e/-X/-#, checked with Postfix's fatal errors."""
    edits = Edits(mode)
    for arg in args:
        if "\n" in arg:
            raise Fatal("-e, -X, or -# accepts no multi-line input")
        text = arg.lstrip(SPACE)
        if text.startswith("#"):
            raise Fatal("-e, -X, or -# accepts no comment input")
        value: str | None
        if mode is Mode.SET:
            try:
                name, value = split_nameval(text)
            except ValueError as e:
                raise Fatal(f'{e}: "{text}"') from None
        else:
            if not text:
                raise Fatal("-X or -# requires non-blank parameter names")
            if "=" in text:
                raise Fatal("-X or -# requires parameter names without value")
            name, value = text.rstrip(SPACE), None
        if name in edits.values:
            earlier = edits.values.pop(name)
            edits.warnings.append(f"ignoring earlier request: '{name} = {earlier}'")
        edits.values[name] = value
    return edits


def _key(line: str) -> str:
    end = 0
    while end < len(line) and line[end] not in " \t\r\n=":
        end += 1
    return line[:end]


def edit_text(text: str, path: str, edits: Edits) -> str:
    """The new main.cf text; "multiple entries" warnings are added to *edits*."""
    out: list[str] = []
    found: dict[str, int] = {}
    interesting = False
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for raw in lines:
        line = raw + "\n"
        content = line.lstrip(SPACE)
        if not content or content.startswith("#"):
            out.append(line)
        elif line[0] in SPACE:
            # A continuation line belongs to the assignment above it.
            if not interesting:
                out.append(line)
            elif edits.mode is Mode.COMMENT:
                out.append("#" + line)
        else:
            key = _key(line)
            interesting = key in edits.values
            if not interesting:
                out.append(line)
                continue
            found[key] = found.get(key, 0) + 1
            if found[key] == 2:
                edits.warnings.append(f'{path}: multiple entries for "{key}"')
            if edits.mode is Mode.SET:
                out.append(f"{key} = {edits.values[key]}\n")
            elif edits.mode is Mode.COMMENT:
                out.append("#" + line)
    if edits.mode is Mode.SET:
        out += [f"{name} = {edits.values[name]}\n"
                for name in sorted(edits.values) if name not in found]
    return "".join(out)


def edit_main_cf(path: str, edits: Edits) -> None:
    """Apply *edits* to the main.cf at *path*, atomically, keeping its permissions."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            text = f.read()
    except OSError as e:
        raise Fatal(f"open {path} for reading: {e.strerror}") from None
    new = edit_text(text, path, edits)
    try:
        write_atomically(path, new.encode("utf-8", "surrogateescape"))
    except OSError as e:
        raise Fatal(f"cannot replace {path}: {e.strerror}") from None
