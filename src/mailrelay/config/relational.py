"""The operators of Postfix 3.x relational macros: ``${{text1} OP {text2} ? {t} : {f}}``.

Postfix's own defaults use them (``smtputf8_enable = ${{$compatibility_level} <level {1} ?
{no} : {yes}}``), so defaults mean what they mean in Postfix only if these evaluate as Postfix
does (mac_expand.c's ``mac_exp_eval`` and compat_level.c, checked with ``postconf -x``):

- ``==``, ``!=``, ``<``, ``<=``, ``>=``, ``>`` compare as numbers when both operands are all
  digits, otherwise as text (``strcmp``): ``{ten} > {9}`` is true, not an error;
- the same operators with the ``level`` suffix (``<level``) compare compatibility levels
  ``major[.minor[.patch]]`` as versions (``3.6`` < ``3.10``, a missing part is 0), and an
  operand that is not a level is an error.

The parsing of the expression itself lives in :mod:`mailrelay.config.expand`.
"""

from __future__ import annotations

import re

#: The operators Postfix knows, and the characters it reads as an operator (for diagnostics).
OPERATORS = ("==", "!=", "<", "<=", ">=", ">")
OPERATOR_CHARS = "<>!=?+-*/~&|%"
#: The operator suffixes registered by every Postfix program (compat_level_relop_register).
SUFFIXES = ("level",)

_LEVEL = re.compile(r"\A([0-9]+)(?:\.([0-9]+)(?:\.([0-9]+))?)?\Z")
#: compat_level.c packs minor and patch into 10 bits each.
_PART_MAX = 0x3FF


class RelationalError(ValueError):
    """An operand the operator cannot compare; the text is Postfix's warning."""


def _level(text: str) -> tuple[int, int, int]:
    m = _LEVEL.match(text)
    if not m or any(int(p) > _PART_MAX for p in m.groups("0")[1:]):
        raise RelationalError(f'malformed compatibility level syntax: "{text}"')
    major, minor, patch = (int(p) for p in m.groups("0"))
    return major, minor, patch


def _delta(left: str, right: str, suffix: str) -> int:
    if suffix == "level":
        a, b = _level(left), _level(right)
        return (a > b) - (a < b)
    if left.isdigit() and right.isdigit() and left.isascii() and right.isascii():
        return (int(left) > int(right)) - (int(left) < int(right))
    # strcmp() compares bytes; code points order UTF-8 text the same way.
    return (left > right) - (left < right)


def compare(left: str, op: str, right: str, suffix: str = "") -> bool:
    """``left OP right`` (operands already expanded); *suffix* is ``""`` or ``"level"``."""
    delta = _delta(left, right, suffix)
    return {
        "==": delta == 0, "!=": delta != 0, "<": delta < 0,
        "<=": delta <= 0, ">=": delta >= 0, ">": delta > 0,
    }[op]
