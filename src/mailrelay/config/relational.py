"""Postfix 3.x relational macros: ``${{text1} OP {text2} ? {if true} : {if false}}``.

Postfix's own defaults use them (``smtputf8_enable = ${{$compatibility_level} <level {1} ?
{no} : {yes}}``), so the defaults mean what they mean in Postfix only if these evaluate.
Operators: ``==`` and ``!=`` compare text; ``<``, ``<=``, ``>``, ``>=`` compare decimal
numbers; ``<level``, ``<=level``, ``>level``, ``>=level`` compare compatibility levels
(``3.6`` < ``3.10``, a missing part is 0).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_LEVEL = re.compile(r"\A[0-9]+(\.[0-9]+){0,2}\Z")
_NUMBER = re.compile(r"\A-?[0-9]+\Z")
_OPERATOR = re.compile(r"\s*(==|!=|<=level|>=level|<level|>level|<=|>=|<|>)\s*")


class RelationalError(ValueError):
    pass


def _level(text: str) -> tuple[int, ...]:
    if not _LEVEL.match(text):
        raise RelationalError(f'bad compatibility level: "{text}"')
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def _number(text: str) -> int:
    if not _NUMBER.match(text):
        raise RelationalError(f'non-numerical operand: "{text}"')
    return int(text)


_COMPARE: dict[str, Callable[[str, str], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: _number(a) < _number(b),
    "<=": lambda a, b: _number(a) <= _number(b),
    ">": lambda a, b: _number(a) > _number(b),
    ">=": lambda a, b: _number(a) >= _number(b),
    "<level": lambda a, b: _level(a) < _level(b),
    "<=level": lambda a, b: _level(a) <= _level(b),
    ">level": lambda a, b: _level(a) > _level(b),
    ">=level": lambda a, b: _level(a) >= _level(b),
}


def _group(text: str, i: int) -> tuple[str, int]:
    """The ``{...}`` group at *i* (after white space): its inside and the index after it."""
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text) or text[i] != "{":
        raise RelationalError(f'"{{" expected at: "...{text[:i]}>>>{text[i:]}"')
    level = 0
    for k in range(i, len(text)):
        if text[k] == "{":
            level += 1
        elif text[k] == "}":
            level -= 1
            if level == 0:
                return text[i + 1 : k], k + 1
    raise RelationalError(f'missing "}}" in "{text}"')


def evaluate(body: str, expand: Callable[[str], str]) -> str:
    """Evaluate the inside of ``${...}`` that starts with ``{``; return the chosen text expanded."""
    left, i = _group(body, 0)
    m = _OPERATOR.match(body, i)
    if not m:
        raise RelationalError(f'unknown operator at: "...{body[:i]}>>>{body[i:]}"')
    op = m.group(1)
    right, i = _group(body, m.end())
    m = re.compile(r"\s*\?").match(body, i)
    if not m:
        raise RelationalError(f'"?" expected at: "...{body[:i]}>>>{body[i:]}"')
    if_true, i = _group(body, m.end())
    m = re.compile(r"\s*:").match(body, i)
    if not m:
        raise RelationalError(f'":" expected at: "...{body[:i]}>>>{body[i:]}"')
    if_false, i = _group(body, m.end())
    if body[i:].strip():
        raise RelationalError(f'unexpected text at: "...{body[:i]}>>>{body[i:]}"')
    chosen = if_true if _COMPARE[op](expand(left).strip(), expand(right).strip()) else if_false
    return expand(chosen.strip())
