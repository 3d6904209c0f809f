"""How postconf lays out its output, byte for byte as Postfix 3.7 (postconf_print.c,
postconf_master.c, postconf_match.c).

- ``name = value`` lines have their white space collapsed to single spaces (Postfix does this
  for display only), and with ``-f`` are folded before column 80 with a four-space indent.
- ``-M`` puts the eight master.cf fields at columns 0, 11, 17, 25, 33, 41, 49 and 57 (at least
  one space apart); with ``-f``, each ``-o`` goes on its own indented line and other arguments
  are folded before column 80.  An argument with white space is shown in ``{}``.
- Service patterns are ``name[/type[/field-or-parameter]]``; ``*`` alone matches anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mailrelay.config.mastercf import FIELD_NAMES, Service
from mailrelay.util.diagnostic import Fatal

LINE_LIMIT = 80
INDENT = "    "
#: Postfix's PCF_SEPARATORS: the white space collapsed in displayed values.
SEPARATORS = " \t\r\n"
_COLUMNS = (0, 11, 17, 25, 33, 41, 49, 57)

#: Expands a ``-o`` value (``name=value``) as the service sees it, for ``-x``.
Expand = Callable[[Service, str], str]


def format_line(text: str, fold: bool) -> str:
    """pcf_print_line(): *text* with white space collapsed, optionally folded; with newline."""
    out: list[str] = []
    length = 0
    for word in _words(text):
        if length > 0:
            if not fold or length + len(word) < LINE_LIMIT:
                out.append(" ")
                length += 1
            else:
                out.append("\n" + INDENT)
                length = len(INDENT)
        out.append(word)
        length += len(word)
    return "".join(out) + "\n"


_TO_SPACE = str.maketrans({ch: " " for ch in SEPARATORS})


def _words(text: str) -> list[str]:
    return [w for w in text.translate(_TO_SPACE).split(" ") if w]


def _has_blank(text: str) -> bool:
    return any(ch in SEPARATORS for ch in text)


def _arguments(
    service: Service, out: list[str], length: int, fold: bool, expand: Expand | None,
    value_extra: int = 3,
) -> None:
    """The arguments after the command, laid out as pcf_print_master_entry() does (which
    counts an option's value 3 columns wider, pcf_print_master_field() 1)."""
    args = service.args
    in_options = True
    i = 0
    while i < len(args):
        arg = args[i]
        width, value, braces = len(arg), None, False
        if in_options:
            if not arg.startswith("-") or arg == "--":
                in_options = False
            elif arg[1:2] == "o" and i + 1 < len(args):
                length = LINE_LIMIT  # an option with a value starts a line
                value = args[i + 1]
                if arg == "-o" and expand is not None:
                    value = expand(service, value)
                width += len(value) + value_extra
                braces = _has_blank(value)
                width += 2 if braces else 0
        if not in_options:
            braces = _has_blank(arg)
        if length > len(INDENT):
            if not fold or length + 1 + width < LINE_LIMIT:
                out.append(" ")
                length += 1
            else:
                out.append("\n" + INDENT)
                length = len(INDENT)
        shown = f"{{{arg}}}" if not in_options and braces else arg
        out.append(shown)
        length += len(shown)
        if value is not None:
            out.append(" " + (f"{{{value}}}" if braces else value))
            i += 1
            length = LINE_LIMIT  # and ends it
        i += 1


def format_entry(service: Service, fold: bool, expand: Expand | None = None) -> str:
    """One ``postconf -M`` entry, with its newline."""
    out: list[str] = []
    length = 0
    for column, text in zip(_COLUMNS, service.fields, strict=True):
        if length > 0:
            pad = max(1, column - length)
            out.append(" " * pad)
            length += pad
        out.append(text)
        length += len(text)
    _arguments(service, out, length, fold, expand)
    return "".join(out) + "\n"


def format_field(
    service: Service, index: int, fold: bool, hide_name: bool, expand: Expand | None = None
) -> str:
    """One ``postconf -F`` line (``name/type/field = value``), with its newline."""
    out: list[str] = []
    length = 0
    value = service.fields[index]
    if not hide_name:
        prefix = f"{service.key}/{FIELD_NAMES[index]} = "
        out.append(prefix)
        length = len(prefix)
        if length + len(value) > LINE_LIMIT:
            out.append("\n" + INDENT)
            length = len(INDENT)
    out.append(value)
    length += len(value)
    if index == FIELD_NAMES.index("command"):
        _arguments(service, out, length, fold, expand, value_extra=1)
    return "".join(out) + "\n"


# -- service patterns -----------------------------------------------------------------------


def parse_pattern(text: str, least: int, most: int, usage: str) -> list[str]:
    """pcf_parse_service_pattern(): the parts of ``name/type/...``, ``*`` for missing ones."""
    parts = [p for p in text.split("/") if p]
    if (text.startswith("/") or not least <= len(parts) <= most
            or any(p != "*" and "*" in p for p in parts)):
        raise Fatal(usage)
    return parts + ["*"] * (most - len(parts))


def matches(pattern: Sequence[str], service: Service) -> bool:
    """Does ``name/type`` of *service* match the first two parts of *pattern*?"""
    return pattern[0] in ("*", service.name) and pattern[1] in ("*", service.type)


def field_index(name: str) -> int | None:
    """The index of a ``-F`` field name; None for ``*``."""
    if name == "*":
        return None
    if name not in FIELD_NAMES:
        raise Fatal(f'invalid service attribute name: "{name}"')
    return FIELD_NAMES.index(name)
