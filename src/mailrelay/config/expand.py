"""Postfix's ``$name`` expansion (mac_expand).

Forms: ``$name``, ``${name}``, ``$(name)``, ``$$`` (a dollar), ``${name?text}`` (text when name
has a non-empty value), ``${name:text}`` (text when it has none), ``{text}`` variants whose
white space is trimmed, and ``${name?{text1}:{text2}}``.  Values are expanded recursively; a
name that refers back to itself stops with "unreasonable macro call nesting", as Postfix does.
An undefined name expands to nothing and is reported to the caller (postconf's "undefined
parameter" warning).
"""

from __future__ import annotations

from collections.abc import Callable

from mailrelay.config.relational import RelationalError, evaluate
from mailrelay.util.diagnostic import Fatal

MAX_NESTING = 100

Lookup = Callable[[str], "str | None"]


class MacroError(Fatal):
    """Postfix's "macro processing error", with the warning that explains it."""


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class Expander:
    """Expands values against *lookup*; remembers undefined names it met."""

    def __init__(self, lookup: Lookup):
        self._lookup = lookup
        self.undefined: list[str] = []

    def expand(self, text: str, depth: int = 0) -> str:
        if "$" not in text:
            return text
        if depth > MAX_NESTING:
            raise MacroError("macro processing error")
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if ch != "$":
                j = text.find("$", i)
                j = n if j < 0 else j
                out.append(text[i:j])
                i = j
                continue
            i += 1
            if i < n and text[i] == "$":
                out.append("$")
                i += 1
                continue
            if i < n and text[i] in "{(":
                i = self._braced(text, i, depth, out)
                continue
            j = i
            while j < n and _is_name_char(text[j]):
                j += 1
            if j == i:
                raise MacroError(f'empty macro name: "{text}"')
            out.append(self._value(text[i:j], depth))
            i = j
        return "".join(out)

    def _value(self, name: str, depth: int) -> str:
        if depth >= MAX_NESTING:
            raise MacroError(f'unreasonable macro call nesting: "{name}"')
        raw = self._lookup(name)
        if raw is None:
            if name not in self.undefined:
                self.undefined.append(name)
            return ""
        return self.expand(raw, depth + 1)

    def _braced(self, text: str, i: int, depth: int, out: list[str]) -> int:
        """Handle ``${...}`` / ``$(...)`` starting at the opening bracket; return the next index."""
        close = "}" if text[i] == "{" else ")"
        end = _matching(text, i)
        if end < 0:
            raise MacroError(f'truncated macro reference: "{text[i - 1:]}"')
        body = text[i + 1 : end]
        if close == "}" and body.startswith("{"):
            try:
                out.append(evaluate(body, lambda t: self.expand(t, depth + 1)))
            except RelationalError as e:
                raise MacroError(str(e)) from None
            return end + 1
        j = 0
        while j < len(body) and _is_name_char(body[j]):
            j += 1
        name, rest = body[:j], body[j:]
        if not name:
            raise MacroError(f'empty macro name: "{text}"')
        if not rest:
            out.append(self._value(name, depth))
            return end + 1
        if close == ")" or rest[0] not in "?:":
            raise MacroError(f'unknown operator in macro reference: "{text[i - 1 : end + 1]}"')
        raw = self._lookup(name)
        if raw is None and name not in self.undefined:
            self.undefined.append(name)
        # Postfix tests the value as written: an assigned, non-empty value counts as present.
        present = bool(raw and raw.strip())
        if_true, if_false = _alternatives(rest)
        chosen = if_true if present else if_false
        out.append(self.expand(chosen, depth + 1) if chosen else "")
        return end + 1


def _matching(text: str, i: int) -> int:
    """Index of the bracket closing the one at *i*, or -1."""
    opening = text[i]
    closing = "}" if opening == "{" else ")"
    level = 0
    for k in range(i, len(text)):
        if text[k] == opening:
            level += 1
        elif text[k] == closing:
            level -= 1
            if level == 0:
                return k
    return -1


def _alternatives(rest: str) -> tuple[str, str]:
    """Parse ``?text``, ``:text``, ``?{t}``, ``:{t}``, ``?{t1}:{t2}`` → (if set, if unset)."""
    op, arg = rest[0], rest[1:]
    if not arg.startswith("{"):
        return (arg, "") if op == "?" else ("", arg)
    end = _matching(arg, 0)
    if end < 0:
        raise MacroError(f'missing "}}" in "{rest}"')
    first = arg[1:end].strip()
    tail = arg[end + 1 :]
    if not tail:
        return (first, "") if op == "?" else ("", first)
    if op != "?" or not tail.startswith(":{") or _matching(tail, 1) != len(tail) - 1:
        raise MacroError(f'":" expected at: "...{arg[: end + 1]}>>>{tail}"')
    return first, tail[2:-1].strip()


def expand(text: str, lookup: Lookup) -> str:
    return Expander(lookup).expand(text)
