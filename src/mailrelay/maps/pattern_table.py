"""The file syntax shared by ``regexp:`` and ``pcre:`` tables, and their lookup.

regexp_table(5) and pcre_table(5) have the same shape: rules ``/pattern/flags result`` tried
in file order, the first match wins; ``!/pattern/`` matches what the pattern does not;
``if /pattern/`` ... ``endif`` (nestable) guards a block that is searched only when the key
matches; ``$1``..``$9``, ``${n}``, ``$(n)`` in a result insert what the pattern captured, and
``$$`` is a dollar.  Only the pattern language differs: a :class:`Dialect` (regexp.py,
pcre.py) turns a pattern and its flags into a compiled Python expression and names its errors
the way the C library Postfix uses would.

As in Postfix, a bad rule does not make the table unusable: it is skipped with a warning
("skipping this rule"), collected in ``Table.warnings``.  Everything is decided when the file
is read; a lookup only runs the compiled expressions (no parsing on the hot path).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mailrelay.maps.source import SPACE, IfBlocks, logical_lines, text
from mailrelay.maps.stamp import FileTable

_SPACE = SPACE.decode()
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class PatternSyntaxError(ValueError):
    """A pattern the dialect cannot compile; the text is the warning after "line N: "."""


@dataclass(frozen=True, slots=True)
class Compiled:
    regex: re.Pattern[str]
    #: pcre's ``A`` flag: the match must start at the beginning of the key.
    anchored: bool = False

    def search(self, key: str) -> re.Match[str] | None:
        return self.regex.match(key) if self.anchored else self.regex.search(key)


class Dialect(Protocol):
    #: "regexp" or "pcre", as in Postfix's "regexp map FILE, line N:" warnings.
    label: str
    #: Flags on before any flag letter toggles them (regexp: ``i`` and extended syntax).
    default_flags: frozenset[str]
    #: Characters that end the flag letters after a pattern (regexp stops at ``!`` too).
    flag_stops: str
    #: regexp allows ``/pattern1/!/pattern2/`` (a second pattern that must not match).
    second_pattern: bool
    #: How "no closing regexp delimiter" ends: "skipping this rule" / "ignoring this rule".
    unclosed_action: str
    #: dict_regexp words the $0 error "out-of-range", dict_pcre "out of range".
    low_index_words: str
    #: dict_regexp takes a backslash that ends the line for the closing delimiter.
    trailing_backslash_closes: bool

    def flag(self, letter: str, flags: set[str], where: str, warn: Warn) -> bool:
        """Apply one flag letter; False (after a warning) when the rule must be skipped."""
        ...

    def compile(self, pattern: str, flags: frozenset[str]) -> Compiled:
        """Compile or raise PatternSyntaxError with the library's wording."""
        ...


class Warn(Protocol):
    def __call__(self, text: str, /) -> None: ...


# -- replacement text (Postfix's mac_parse() with $number only) -------------------------------

Segment = str | int


def parse_replacement(result: str, where: str, dialect: Dialect,
                      warn: Warn) -> tuple[Segment, ...] | None:
    """Literal text and group numbers of a result, or None (after warnings) when bad."""
    segments: list[Segment] = []
    literal: list[str] = []
    ok = True
    i, n = 0, len(result)
    while i < n:
        c = result[i]
        if c != "$":
            literal.append(c)
            i += 1
            continue
        if result.startswith("$$", i):
            literal.append("$")
            i += 2
            continue
        if literal:
            segments.append("".join(literal))
            literal = []
        i += 1
        if i < n and result[i] in "({":
            close = ")" if result[i] == "(" else "}"
            opener = result[i]
            start = i = i + 1
            level = 1
            while level:
                if i >= n:
                    warn(f'truncated macro reference: "{result}"')
                    return None
                if result[i] == opener:
                    level += 1
                elif result[i] == close:
                    level -= 1
                i += 1
            name = result[start : i - 1]
        else:
            start = i
            while i < n and result[i] in _NAME_CHARS:
                i += 1
            name = result[start:i]
        if not name:
            warn(f'empty macro name: "{result}"')
            return None
        if not (name.isascii() and name.isdigit()):
            warn(f'{where}: non-numeric replacement index "{name}"')
            ok = False
        elif int(name) < 1:
            warn(f'{where}: {dialect.low_index_words} replacement index "{name}"')
            ok = False
        else:
            segments.append(int(name))
    if literal:
        segments.append("".join(literal))
    return tuple(segments) if ok else None


def expand(segments: tuple[Segment, ...], match: re.Match[str]) -> str:
    return "".join(s if isinstance(s, str) else (match.group(s) or "") for s in segments)


# -- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchRule:
    line: int
    first: Compiled
    first_positive: bool
    second: Compiled | None
    second_positive: bool
    segments: tuple[Segment, ...]
    #: The result when it has no $number: returned as is, without expansion work.
    literal: str | None


@dataclass(frozen=True, slots=True)
class IfRule:
    line: int
    pattern: Compiled
    positive: bool


@dataclass(frozen=True, slots=True)
class EndifRule:
    line: int


Rule = MatchRule | IfRule | EndifRule


@dataclass(slots=True)
class _Pattern:
    text: str
    flags: frozenset[str]
    positive: bool


class _LineParser:
    """Parses one logical line into a rule, warning the way dict_regexp/dict_pcre do."""

    def __init__(self, dialect: Dialect, mapname: str, number: int, line: str,
                 warn: Warn) -> None:
        self.d = dialect
        self.where = f"{dialect.label} map {mapname}, line {number}"
        self.number = number
        self.line = line
        self.pos = 0
        self.warn = warn

    def skip_space(self) -> None:
        while self.pos < len(self.line) and self.line[self.pos] in _SPACE:
            self.pos += 1

    def pattern(self) -> _Pattern | None:
        line, n = self.line, len(self.line)
        positive = True
        while self.pos < n and (line[self.pos] == "!" or line[self.pos] in _SPACE):
            if line[self.pos] == "!":
                positive = not positive
            self.pos += 1
        if self.pos >= n:
            self.warn(f"{self.where}: no regexp: skipping this rule")
            return None
        delimiter = line[self.pos]
        start = i = self.pos + 1
        while i < n and line[i] != delimiter:
            if line[i] == "\\":
                if i + 1 == n and self.d.trailing_backslash_closes:
                    break
                i += 1
            i += 1
        if i >= n:
            self.warn(f'{self.where}: no closing regexp delimiter "{delimiter}": '
                      f"{self.d.unclosed_action}")
            return None
        body = line[start:i]
        self.pos = i + 1
        flags = set(self.d.default_flags)
        while self.pos < n and line[self.pos] not in _SPACE + self.d.flag_stops:
            if not self.d.flag(line[self.pos], flags, self.where, self.warn):
                return None
            self.pos += 1
        return _Pattern(body, frozenset(flags), positive)

    def compile(self, pattern: _Pattern) -> Compiled | None:
        try:
            return self.d.compile(pattern.text, pattern.flags)
        except PatternSyntaxError as e:
            self.warn(f"{self.where}: {e}")
            return None

    def match_rule(self) -> MatchRule | None:
        first = self.pattern()
        if first is None:
            return None
        second = None
        if self.d.second_pattern and self.line.startswith("!", self.pos):
            second = self.pattern()
            if second is None:
                return None
        self.skip_space()
        result = self.line[self.pos :]
        if not result:
            self.warn(f"{self.where}: no replacement text: using empty string")
        segments = parse_replacement(result, self.where, self.d, self.warn)
        if segments is None:
            self.warn(f"{self.where}: bad replacement syntax: skipping this rule")
            return None
        max_sub = max((s for s in segments if isinstance(s, int)), default=0)
        if max_sub and not first.positive:
            self.warn(f"{self.where}: $number found in negative match replacement text: "
                      "skipping this rule")
            return None
        compiled = self.compile(first)
        if compiled is None:
            return None
        if max_sub > compiled.regex.groups:
            self.warn(f'{self.where}: out of range replacement index "{max_sub}": '
                      "skipping this rule")
            return None
        compiled_second = None
        if second is not None:
            compiled_second = self.compile(second)
            if compiled_second is None:
                return None
        literal = "".join(s for s in segments if isinstance(s, str)) if not max_sub else None
        return MatchRule(self.number, compiled, first.positive, compiled_second,
                         second.positive if second else True, segments, literal)

    def if_rule(self) -> IfRule | None:
        self.pos = 2
        self.skip_space()
        pattern = self.pattern()
        if pattern is None:
            return None
        self.skip_space()
        if self.pos < len(self.line):
            self.warn(f'{self.where}: ignoring extra text after IF statement: '
                      f'"{self.line[self.pos:]}"')
            self.warn(f"{self.where}: do not prepend whitespace to statements between "
                      "IF and ENDIF")
        compiled = self.compile(pattern)
        return None if compiled is None else IfRule(self.number, compiled, pattern.positive)

    def endif_rule(self, nesting: int) -> EndifRule | None:
        if nesting == 0:
            self.warn(f"{self.where}: ignoring ENDIF without matching IF")
            return None
        if self.line[5:].strip(_SPACE):
            self.warn(f"{self.where}: ignoring extra text after ENDIF")
        return EndifRule(self.number)

    def rule(self, nesting: int) -> Rule | None:
        head = self.line[:1]
        if not (head.isascii() and head.isalnum()):
            return self.match_rule()
        if _keyword(self.line, "if"):
            return self.if_rule()
        if _keyword(self.line, "endif"):
            return self.endif_rule(nesting)
        self.warn(f"{self.where}: ignoring unrecognized request")
        return None


def _keyword(line: str, word: str) -> bool:
    after = line[len(word) : len(word) + 1]
    return line[: len(word)].lower() == word and not (after.isascii() and after.isalnum())


class PatternTable(FileTable):
    """A regexp: or pcre: table: rules compiled at open time, tried in order at lookup."""

    __slots__ = ("_ends", "_rules")
    is_pattern = True

    def __init__(self, dialect: Dialect, type_: str, name: str, *,
                 fold_case: bool = True) -> None:
        super().__init__(type_, name, fold_case)
        rules: list[Rule] = []
        blocks = IfBlocks()
        warn = self.warnings.append
        for number, raw in logical_lines(self.read(), name, warn):
            line = text(raw).rstrip(_SPACE)
            if not line:
                continue
            rule = _LineParser(dialect, name, number, line, warn).rule(blocks.nesting)
            if rule is None:
                continue
            if isinstance(rule, IfRule):
                blocks.opened(len(rules))
            elif isinstance(rule, EndifRule):
                blocks.closed(len(rules))
            rules.append(rule)
        for index in blocks.unclosed():
            warn(f"{dialect.label} map {name}, line {rules[index].line}: "
                 "IF has no matching ENDIF")
        self._rules: Sequence[Rule] = rules
        self._ends = blocks.ends

    @property
    def rules(self) -> Sequence[Rule]:
        """The compiled rules in file order, each with its line (check reports by line)."""
        return self._rules

    def lookup(self, key: str) -> str | None:
        rules = self._rules
        i = 0
        while i < len(rules):
            rule = rules[i]
            if isinstance(rule, MatchRule):
                match = rule.first.search(key)
                if (match is not None) == rule.first_positive and (
                    rule.second is None
                    or (rule.second.search(key) is not None) == rule.second_positive
                ):
                    if rule.literal is not None:
                        return rule.literal
                    assert match is not None  # $number is refused in negative rules
                    return expand(rule.segments, match)
            elif isinstance(rule, IfRule) and (
                (rule.pattern.search(key) is not None) != rule.positive
            ):
                end = self._ends[i]
                if end is None:
                    return None
                i = end
            i += 1
        return None
