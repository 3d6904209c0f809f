"""Postfix's ``$name`` expansion, exactly as mac_parse.c and mac_expand.c do it.

Theory of operation.  A value is cut into literal text and macro references: ``$$`` is a
dollar, ``$name`` (ASCII letters, digits, ``_``), ``${...}`` and ``$(...)`` (the body ends at
the matching bracket of the same kind).  Each piece is handled at a nesting *level*: a
reference to a parameter whose value has references goes one level deeper, and so do the
texts chosen by ``?`` and ``:``; past level 100 Postfix stops with "unreasonable macro call
nesting" (that is how a loop such as ``a = $b``, ``b = $a`` ends).

A body is, after optional white space:

- ``name`` — the parameter's value, itself expanded (nothing if it has none);
- ``name?text`` / ``name:text`` — *text* when the raw value is non-empty / empty or unset; the
  text runs to the end of the body, ``:`` included (Postfix 2.x compatibility);
- ``name?{text}``, ``name:{text}``, ``name?{t1}:{t2}`` — white space around the braces is
  ignored, but the text *inside* them is kept as written (``${x?{ a }}`` gives `` a ``:
  postconf only looks trimmed because it prints every value with its white space collapsed);
- ``{t1} OP {t2}`` optionally followed by ``?``/``:`` parts — a relational expression
  (:mod:`mailrelay.config.relational`), whose own value is ``true`` or nothing.

The test for "non-empty" is made on the value *as written* (``a = $empty`` is non-empty), as
Postfix's lookup functions return raw values.  Errors carry Postfix's warning text; postconf
prints that warning and then "macro processing error".

Scanning (:func:`scan`) is Postfix's MAC_EXP_FLAG_SCAN: it lists every name referenced,
in both branches of every condition, without looking anything up; postconf uses it to find
user-defined parameters and "undefined parameter" references.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mailrelay.config.relational import (
    OPERATOR_CHARS,
    OPERATORS,
    SUFFIXES,
    RelationalError,
    compare,
)
from mailrelay.util.diagnostic import Fatal

MAX_LEVEL = 100
#: Postfix's CHARS_SPACE: the white space skipped around names, operators and braces.
WHITESPACE = " \t\r\n"

Lookup = Callable[[str], "str | None"]

#: mac_expand.c's MAC_EXP_OP_STR_ANY, with its doubled quotes, as Postfix prints it.
_ANY_OPERATOR = '"==" or "!="" or "<"" or "<="" or ">="" or ">"'


class MacroError(Fatal):
    """Postfix's "macro processing error"; the text is the warning that explains it."""


def _span(text: str, i: int, chars: str = WHITESPACE) -> int:
    """strspn(): the index of the first character at or after *i* not in *chars*."""
    while i < len(text) and text[i] in chars:
        i += 1
    return i


def _is_name_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


@dataclass(slots=True)
class _Expansion:
    """One mac_expand() call: its lookup, its output and its nesting level."""

    lookup: Lookup | None  # None: scan mode
    names: list[str]
    out: list[str] = field(default_factory=list)
    level: int = 0

    # -- mac_parse: split into literal text and macro references ---------------------------

    def parse(self, value: str) -> None:
        literal: list[str] = []
        i, n = 0, len(value)
        while i < n:
            if value[i] != "$":
                literal.append(value[i])
                i += 1
                continue
            if value[i + 1 : i + 2] == "$":
                literal.append("$")
                i += 2
                continue
            if literal:
                self._piece("".join(literal), macro=False)
                literal = []
            i += 1
            if i < n and value[i] in "({":
                i, body = self._bracketed(value, i)
            else:
                j = i
                while j < n and _is_name_char(value[j]):
                    j += 1
                i, body = j, value[i:j]
            if not body:
                raise MacroError(f'empty macro name: "{value}"')
            self._piece(body, macro=True)
        if literal:
            self._piece("".join(literal), macro=False)

    @staticmethod
    def _bracketed(value: str, i: int) -> tuple[int, str]:
        """The body of ``${...}`` or ``$(...)`` whose opening bracket is at *i*."""
        opening = value[i]
        closing = ")" if opening == "(" else "}"
        level = 1
        j = i + 1
        while level:
            if j >= len(value):
                raise MacroError(f'truncated macro reference: "{value}"')
            if value[j] == opening:
                level += 1
            elif value[j] == closing:
                level -= 1
            j += 1
        return j, value[i + 1 : j - 1]

    # -- mac_expand_callback ----------------------------------------------------------------

    def _piece(self, text: str, *, macro: bool) -> None:
        if self.level > MAX_LEVEL:
            raise MacroError(f'unreasonable macro call nesting: "{text}"')
        self.level += 1
        if macro:
            self._macro(text)
        elif self.lookup is not None:
            self.out.append(text)
        self.level -= 1

    def _macro(self, body: str) -> None:
        start = _span(body, 0)
        if body[start : start + 1] == "{":
            value, op, i = self._relational(body, start)
        else:
            name, op, i = self._name(body, start)
            value = self._lookup(name)
        scanning = self.lookup is None
        if op == "?":
            if_true, i = self._operand(body, i)
            if value or scanning:
                self.parse(if_true)
            if i < len(body):
                if body[i] != ":":
                    raise MacroError(f'":" expected at: "...{if_true}}}>>>{body[i : i + 20]}"')
                op, i = ":", i + 1
        if op == ":":
            if_false, i = self._operand(body, i)
            if not value or scanning:
                self.parse(if_false)
            if i < len(body):
                raise MacroError(f'unexpected input at: "...{if_false}}}>>>{body[i : i + 20]}"')
        elif op == "" and value and not scanning:
            self.parse(value)

    @staticmethod
    def _name(body: str, start: int) -> tuple[str, str, int]:
        """(name, operator ``?``/``:``/empty, index after the operator)."""
        i = start
        while True:
            after = _span(body, i)
            if after == len(body):
                return body[start:i], "", after
            if body[after] in "?:":
                return body[start:i], body[after], after + 1
            if not _is_name_char(body[i]):
                raise MacroError(
                    f'attribute name syntax error at: "...{body[:i]}>>>{body[i : i + 20]}"'
                )
            i += 1

    def _lookup(self, name: str) -> str | None:
        if self.lookup is None:
            self.names.append(name)
            return None
        return self.lookup(name)

    @staticmethod
    def _operand(body: str, i: int) -> tuple[str, int]:
        """The text after ``?`` or ``:``: a ``{...}`` group, or the rest of the body."""
        j = _span(body, i)
        if body[j : j + 1] == "{":
            return _curly(body, j)
        return body[i:], len(body)

    def _relational(self, body: str, start: int) -> tuple[str | None, str, int]:
        """``{t1} OP {t2}``: (``true`` or empty, None when scanning; operator; next index)."""
        left, i = _curly(body, start)
        op_end = _span(body, i, OPERATOR_CHARS)
        op = body[i:op_end]
        if op not in OPERATORS:
            raise MacroError(f'{_ANY_OPERATOR} expected at: "...{left}}}>>>{body[i : i + 20]}"')
        suffix_end = op_end
        while suffix_end < len(body) and body[suffix_end].isascii() and body[suffix_end].isalnum():
            suffix_end += 1
        suffix = body[op_end:suffix_end]
        if suffix and suffix not in SUFFIXES:
            raise MacroError(f'bad operator suffix at: "...{op}>>>{suffix}"')
        j = _span(body, suffix_end)
        if body[j : j + 1] != "{":
            raise MacroError(
                f'"{{expression}}" expected at: '
                f'"...{{{left}}} {op}>>>{body[suffix_end : suffix_end + 20]}"'
            )
        right, i = _curly(body, j)
        # Each operand is a separate mac_expand() call: a fresh nesting level.
        left_value, right_value = self._sub(left), self._sub(right)
        value: str | None = None
        if self.lookup is not None:
            try:
                value = "true" if compare(left_value, op, right_value, suffix) else ""
            except RelationalError as e:
                raise MacroError(str(e)) from None
        if i == len(body):
            return value, "", i
        if body[i] not in "?:":
            raise MacroError(f'"?" or ":" expected at: "...}}>>>{body[i : i + 20]}"')
        return value, body[i], i + 1

    def _sub(self, text: str) -> str:
        inner = _Expansion(self.lookup, self.names)
        inner.parse(text)
        return "".join(inner.out)


def _curly(body: str, i: int) -> tuple[str, int]:
    """The inside of the ``{...}`` at *i*, untrimmed, and the index after it and white space."""
    level = 1
    for k in range(i + 1, len(body)):
        if body[k] == "{":
            level += 1
        elif body[k] == "}":
            level -= 1
            if level == 0:
                return body[i + 1 : k], _span(body, k + 1)
    raise MacroError(f'unbalanced {{}} in attribute expression: "{body[i:]}"')


def expand(text: str, lookup: Lookup) -> str:
    """*text* with every reference expanded, recursively; raises :class:`MacroError`."""
    expansion = _Expansion(lookup, [])
    expansion.parse(text)
    return "".join(expansion.out)


@dataclass(frozen=True, slots=True)
class Scan:
    """The names a value refers to (in order, repeats kept) and its first syntax error."""

    names: tuple[str, ...]
    error: str | None


def scan(text: str) -> Scan:
    """Every ``$name`` in *text*, both branches of every condition included, unexpanded."""
    names: list[str] = []
    try:
        _Expansion(None, names).parse(text)
    except MacroError as e:
        return Scan(tuple(names), e.text)
    return Scan(tuple(names), None)

