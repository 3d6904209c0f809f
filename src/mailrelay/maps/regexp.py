"""``regexp:`` tables: POSIX regular expressions (Postfix's regexp_table(5)) on Python's ``re``.

Postfix compiles regexp tables with the C library's regcomp(): POSIX extended syntax (basic
syntax with the ``x`` flag), case-insensitive unless ``i``, ``.`` matching a newline unless
``m`` (REG_NEWLINE), in the C locale.  This module translates such a pattern into an
equivalent Python expression, token by token, with glibc's parser rules and error texts
("Unmatched ( or \\(", "Invalid preceding regular expression"...), so that a table that
Postfix accepts is accepted here with the same meaning, and one it refuses is refused with the
same words.  The translation differs where POSIX does: ``$`` is the end of the text only,
``a+?`` is ``(a+)?`` (not a lazy ``+``), a backslash inside ``[...]`` is an ordinary
character, ``\\d`` is the letter d, ``\\<`` and ``\\>`` are word boundaries.

One thing is not reproduced: POSIX picks the longest of several alternatives that match at
the same place, Python the first.  That can change what ``$1`` captures for patterns such as
``(a|ab)(c|bcd)``; it never changes whether a pattern matches.
"""

from __future__ import annotations

import re

from mailrelay.maps.pattern_table import Compiled, PatternSyntaxError, Warn

RE_DUP_MAX = 0x7FFF

BADRPT = "Invalid preceding regular expression"
EPAREN = "Unmatched ( or \\("
EBRACK = "Unmatched [, [^, [:, [., or [="
EBRACE = "Unmatched \\{"
BADBR = "Invalid content of \\{\\}"
ERANGE = "Invalid range end"
ECTYPE = "Invalid character class name"
ECOLLATE = "Invalid collation character"
ESUBREG = "Invalid back reference"
EESCAPE = "Trailing backslash"
ESIZE = "Regular expression too big"

#: POSIX character classes in the C locale, as Python class contents.
CLASSES: dict[str, str] = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "0-9A-Za-z",
    "upper": "A-Z",
    "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v",
    "blank": " \\t",
    "punct": "".join(re.escape(c) for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "print": "\\x20-\\x7e",
    "graph": "\\x21-\\x7e",
    "cntrl": "\\x00-\\x1f\\x7f",
    "xdigit": "0-9A-Fa-f",
}

#: GNU escapes that are not literal characters: word classes and anchors.
_CLASS_ESCAPES = {"w": r"\w", "W": r"\W", "s": r"\s", "S": r"\S"}
_ANCHOR_ESCAPES = {"b": r"\b", "B": r"\B", "<": r"\b(?=\w)", ">": r"\b(?<=\w)",
                   "`": r"\A", "'": r"\Z"}


class _Token:
    __slots__ = ("end", "kind", "value")

    def __init__(self, kind: str, value: str, end: int) -> None:
        #: char, any, bracket, open, close, alt, dup, interval (the opening brace), rbrace,
        #: anchor, backref, class or end.
        self.kind = kind
        self.value = value
        self.end = end


class _Posix:
    """Recursive descent over a POSIX pattern, after glibc's parse_reg_exp() and friends."""

    def __init__(self, pattern: str, extended: bool, newline: bool) -> None:
        self.s = pattern
        self.i = 0
        self.ext = extended
        self.newline = newline
        self.depth = 0
        self.groups = 0
        self.completed: set[int] = set()

    # -- tokens -------------------------------------------------------------------------------

    def token(self, i: int, at_start: bool = False) -> _Token:
        s = self.s
        if i >= len(s):
            return _Token("end", "", i)
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s):
                raise PatternSyntaxError(EESCAPE)
            return self._escape(s[i + 1], i + 2)
        if c == "[":
            return _Token("bracket", c, i + 1)
        if c == ".":
            return _Token("any", c, i + 1)
        if self.ext:
            kinds = {"(": "open", "|": "alt", "*": "dup", "+": "dup", "?": "dup",
                     "{": "interval", "}": "rbrace", "^": "anchor", "$": "anchor"}
            kind = kinds.get(c)
            if c == ")" and self.depth > 0:
                kind = "close"
            return _Token(kind or "char", c, i + 1)
        if c == "*":
            return _Token("dup", c, i + 1)
        if c == "^" and at_start:
            return _Token("anchor", c, i + 1)
        if c == "$" and (i + 1 == len(s) or s.startswith(("\\)", "\\|"), i + 1)):
            return _Token("anchor", c, i + 1)
        return _Token("char", c, i + 1)

    def _escape(self, c: str, end: int) -> _Token:
        if c in "123456789":
            return _Token("backref", c, end)
        if c in _CLASS_ESCAPES:
            return _Token("class", _CLASS_ESCAPES[c], end)
        if c in _ANCHOR_ESCAPES:
            return _Token("anchor", _ANCHOR_ESCAPES[c], end)
        if not self.ext:
            kinds = {"(": "open", ")": "close", "|": "alt", "{": "interval",
                     "}": "rbrace", "+": "dup", "?": "dup"}
            if c in kinds:
                return _Token(kinds[c], c, end)
        return _Token("char", c, end)

    def peek(self, at_start: bool = False) -> _Token:
        return self.token(self.i, at_start)

    # -- grammar ------------------------------------------------------------------------------

    def regex(self) -> str:
        branches = [self.branch()]
        while self.peek().kind == "alt":
            self.i = self.peek().end
            branches.append(self.branch())
        return "|".join(branches)

    def branch(self) -> str:
        parts: list[str] = []
        at_start = True
        while True:
            tok = self.peek(at_start)
            if tok.kind in ("end", "alt"):
                break
            if tok.kind == "close":
                if self.depth > 0:
                    break
                raise PatternSyntaxError(EPAREN)  # glibc's word for a stray "\)" too
            text, is_anchor = self.expression(at_start)
            parts.append(text)
            # In basic syntax a '*' right after a '^' anchor is an ordinary character.
            at_start = is_anchor and not self.ext and text == "^"
        return "".join(parts)

    def expression(self, at_start: bool) -> tuple[str, bool]:
        tok = self.peek(at_start)
        self.i = tok.end
        if tok.kind in ("dup", "interval"):
            if self.ext or tok.kind == "interval":
                raise PatternSyntaxError(BADRPT)
            atom = re.escape(tok.value)  # a basic-syntax '*' with nothing before it
        elif tok.kind == "anchor":
            # Anchors cannot be repeated: a repetition after one starts a new expression,
            # which glibc refuses ("^*" is an error in extended syntax).
            return self._anchor(tok.value), True
        elif tok.kind == "open":
            atom = self._group()
        elif tok.kind == "backref":
            number = int(tok.value)
            if number not in self.completed:
                raise PatternSyntaxError(ESUBREG)
            atom = f"(?:\\{number})"
        elif tok.kind == "bracket":
            atom = self._bracket()
        elif tok.kind == "class":
            atom = tok.value
        elif tok.kind == "any":
            atom = "."
        else:
            atom = re.escape(tok.value)
        repeated = False
        while (tok := self.peek()).kind in ("dup", "interval"):
            self.i = tok.end
            operator = tok.value if tok.kind == "dup" else self._interval()
            if repeated:
                # POSIX stacks repetitions ("a**", "a+?" = "(a+)?"); Python would read the
                # second one as lazy or possessive, or refuse it.
                atom = f"(?:{atom})"
            atom += operator
            repeated = True
        return atom, False

    def _anchor(self, value: str) -> str:
        if value == "^":
            return "^"
        if value == "$":
            return "$" if self.newline else r"\Z"
        return value

    def _group(self) -> str:
        self.groups += 1
        number = self.groups
        self.depth += 1
        inner = self.regex()
        tok = self.peek()
        if tok.kind != "close":
            raise PatternSyntaxError(EPAREN)
        self.i = tok.end
        self.depth -= 1
        self.completed.add(number)
        return f"({inner})"

    def _number(self) -> tuple[int, str]:
        """glibc's fetch_number(): -1 no digits, -2 invalid; and what stopped it."""
        number = -1
        while True:
            tok = self.peek()
            self.i = tok.end
            if tok.kind == "end":
                return -2, "end"
            if tok.kind == "rbrace":
                return number, "close"
            if tok.kind == "char" and tok.value == ",":
                return number, ","
            if tok.kind != "char" or not "0" <= tok.value <= "9" or number == -2:
                number = -2
            else:
                number = min(RE_DUP_MAX + 1, max(number, 0) * 10 + int(tok.value))

    def _interval(self) -> str:
        start, stop = self._number()
        end = -2
        if start == -1:
            if stop != ",":
                raise PatternSyntaxError(BADBR)
            start = 0
        if start != -2:
            if stop == "close":
                end = start
            elif stop == ",":
                end, stop = self._number()
        if start == -2 or end == -2:
            raise PatternSyntaxError(EBRACE if stop == "end" else BADBR)
        if (end != -1 and start > end) or stop != "close":
            raise PatternSyntaxError(BADBR)
        if (start if end == -1 else end) > RE_DUP_MAX:
            raise PatternSyntaxError(ESIZE)
        return f"{{{start},}}" if end == -1 else f"{{{start},{end}}}"

    def _bracket(self) -> str:
        s, i = self.s, self.i
        negate = s.startswith("^", i)
        if negate:
            i += 1
        items: list[str] = []
        first = True
        while True:
            if i >= len(s):
                raise PatternSyntaxError(EBRACK)
            if s[i] == "]" and not first:
                i += 1
                break
            first = False
            kind, value, i = self._element(i)
            if s.startswith("-", i) and i + 1 < len(s) and s[i + 1] != "]":
                if kind != "char":
                    raise PatternSyntaxError(ERANGE)
                end_kind, end_value, i = self._element(i + 1)
                if end_kind != "char" or ord(value) > ord(end_value):
                    raise PatternSyntaxError(ERANGE)
                items.append(f"{re.escape(value)}-{re.escape(end_value)}")
            else:
                items.append(CLASSES[value] if kind == "class" else re.escape(value))
        self.i = i
        if negate and self.newline:
            items.append("\\n")  # REG_NEWLINE: a non-matching list never matches a newline
        return "[" + ("^" if negate else "") + "".join(items) + "]"

    def _element(self, i: int) -> tuple[str, str, int]:
        s = self.s
        if i >= len(s):
            raise PatternSyntaxError(EBRACK)
        if s[i] == "[" and i + 1 < len(s) and s[i + 1] in ":.=":
            delimiter = s[i + 1]
            end = s.find(delimiter + "]", i + 2)
            if end < 0:
                raise PatternSyntaxError(EBRACK)
            name = s[i + 2 : end]
            if delimiter == ":":
                if name not in CLASSES:
                    raise PatternSyntaxError(ECTYPE)
                return "class", name, end + 2
            if len(name) != 1:
                raise PatternSyntaxError(ECOLLATE)
            return "char", name, end + 2
        return "char", s[i], i + 1


def translate(pattern: str, *, extended: bool = True, newline: bool = False) -> str:
    """The Python expression equivalent to a POSIX one, or PatternSyntaxError."""
    return _Posix(pattern, extended, newline).regex()


class RegexpDialect:
    label = "regexp"
    default_flags = frozenset({"i", "x"})
    flag_stops = "!"
    second_pattern = True
    unclosed_action = "skipping this rule"
    low_index_words = "out-of-range"
    trailing_backslash_closes = True

    def flag(self, letter: str, flags: set[str], where: str, warn: Warn) -> bool:
        if letter in "imx":
            flags ^= {letter}
            return True
        warn(f'{where}: unknown regexp option "{letter}": skipping this rule')
        return False

    def compile(self, pattern: str, flags: frozenset[str]) -> Compiled:
        newline = "m" in flags
        expression = translate(pattern, extended="x" in flags, newline=newline)
        options = re.ASCII | (re.MULTILINE if newline else re.DOTALL)
        if "i" in flags:
            options |= re.IGNORECASE
        try:
            return Compiled(re.compile(expression, options))
        except re.error as e:  # pragma: no cover - the translation only emits valid syntax
            raise PatternSyntaxError(str(e)) from e


DIALECT = RegexpDialect()
