"""``pcre:`` tables: Perl-compatible expressions (Postfix's pcre_table(5)) on Python's ``re``.

Python's ``re`` is close to PCRE.  This module rewrites what differs, in one pass over the
pattern that knows PCRE's escapes, character classes and groups:

* the table flags: ``i`` (on by default), ``s`` (on by default), ``m``, ``x``; ``A`` anchors
  the match at the start; ``E`` makes ``$`` match only at the very end; ``U`` swaps greedy and
  lazy repetitions; ``X`` is obsolete (a warning, as Postfix built with PCRE2 gives);
* PCRE syntax Python spells differently: ``(?<name>...)``, ``\\k<name>``, ``\\g{n}``,
  ``\\Q...\\E``, ``\\x{hh}``, ``\\e``, ``\\cX``, ``\\h``, ``\\v``, ``\\R``, ``\\z``/``\\Z``,
  POSIX classes inside ``[...]``, option settings such as ``(?i)`` in the middle of a pattern;
* the common errors, reported with PCRE2's words and offsets ("missing closing parenthesis").

Postfix uses PCRE2 in 8-bit, non-UTF mode: case-insensitivity and ``\\w`` are ASCII, as here
(``re.ASCII``).  Features with no Python equivalent (recursion, ``\\p{..}`` properties,
``\\K``, backtracking verbs, conditionals) make the rule be skipped with a warning naming the
feature, where Postfix would have accepted it.
"""

from __future__ import annotations

import re

from mailrelay.maps.pattern_table import Compiled, PatternSyntaxError, Warn

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
_SCOPED_FLAGS = re.compile(r"[imsx]*(?:-[imsx]*)?:")
_FLAG_SETTING = re.compile(r"\(\?([imsx]*)(?:-([imsx]*))?\)")
_HEX2 = re.compile(r"[0-9A-Fa-f]{0,2}")
_DIGITS = re.compile(r"[0-9]+")
_OCTAL3 = re.compile(r"[0-7]{1,3}")
_OCTAL2 = re.compile(r"[0-7]{0,2}")
_QUANTIFIER = re.compile(r"\{(\d+)(,(\d*))?\}")
_MAX_REPEAT = 65535

#: POSIX classes allowed inside PCRE character classes, as Python class contents.
_POSIX = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "0-9A-Za-z", "upper": "A-Z",
    "lower": "a-z", "space": r" \t\n\r\f\v", "blank": r" \t", "word": r"\w",
    "punct": "".join(re.escape(c) for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "print": r"\x20-\x7e", "graph": r"\x21-\x7e", "cntrl": r"\x00-\x1f\x7f",
    "xdigit": "0-9A-Fa-f", "ascii": r"\x00-\x7f",
}
_NEGATED_POSIX = {"digit": r"\D", "space": r"\S", "word": r"\W"}
_HSPACE = r" \t\xa0"
_VSPACE = r"\n\x0b\x0c\r\x85"
#: Escapes that mean the same in PCRE and Python, outside and inside classes.
_SAME = frozenset("dDsSwWfnrta")
_UNSUPPORTED_ESCAPES = frozenset("pPXKCG")


def _error(offset: int, text: str) -> PatternSyntaxError:
    return PatternSyntaxError(f"error in regex at offset {offset}: {text}")


def _unsupported(feature: str) -> PatternSyntaxError:
    return PatternSyntaxError(f'unsupported PCRE feature "{feature}": skipping this rule')


class _Pcre:
    def __init__(self, pattern: str, flags: frozenset[str]) -> None:
        self.s = pattern
        self.i = 0
        self.out: list[str] = []
        self.extended = "x" in flags
        self.ungreedy = "U" in flags
        self.dollar_end_only = "E" in flags and "m" not in flags
        self.groups = 0
        #: Per open group: how many option scopes ("(?i:" for a mid-group "(?i)") are open.
        self.scopes: list[tuple[int, str]] = [(0, "")]
        #: Whether the last thing emitted can take a quantifier.
        self.repeatable = False
        self.references: list[tuple[int, int]] = []

    def translate(self) -> str:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c == "\\":
                self._escape()
            elif c == "[":
                self._class()
            elif c == "(":
                self._open()
            elif c == ")":
                self._close()
            elif c == "|":
                self._close_scopes()
                self.out.append("|")
                self._reopen_scopes()
                self.i += 1
                self.repeatable = False
            elif c in "*+?{":
                self._quantifier()
            elif c == "$":
                self._emit(r"\Z" if self.dollar_end_only else "$", repeatable=False)
            elif self.extended and c == "#":
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end
            elif self.extended and c in " \t\n\r\f\v":
                self.i += 1
            else:
                self._emit(c if c in ".^" else re.escape(c), repeatable=c != "^")
        if len(self.scopes) > 1:
            raise _error(len(s), "missing closing parenthesis")
        self._close_scopes()
        for offset, number in self.references:
            if number > self.groups:
                raise _error(offset, "reference to non-existent subpattern")
        return "".join(self.out)

    def _emit(self, text: str, *, repeatable: bool = True, width: int = 1) -> None:
        self.out.append(text)
        self.i += width
        self.repeatable = repeatable

    # -- escapes ------------------------------------------------------------------------------

    def _escape(self) -> None:
        s, i = self.s, self.i
        if i + 1 >= len(s):
            raise _error(len(s), "\\ at end of pattern")
        c = s[i + 1]
        if c == "Q":
            end = s.find("\\E", i + 2)
            literal = s[i + 2 :] if end < 0 else s[i + 2 : end]
            self.out.append(re.escape(literal))
            self.i = len(s) if end < 0 else end + 2
            self.repeatable = bool(literal)
        elif c == "E":
            self.i += 2
        elif c in "123456789":
            digits = _DIGITS.match(s, i + 1)
            assert digits is not None  # c is a digit
            number = int(digits.group())
            if number < 10 or c in "89" or number <= self.groups:
                self.references.append((i + 1, number))
                self._emit(f"(?:\\{number})", width=1 + len(digits.group()))
            else:
                # PCRE: not a back reference, so up to three octal digits.
                octal = _OCTAL3.match(s, i + 1)
                assert octal is not None and octal.group()  # c is 1-7 here
                self._emit(f"\\x{int(octal.group(), 8) & 0xFF:02x}", width=1 + len(octal.group()))
        elif c == "g" or c == "k":
            self._reference(c)
        elif c in "zZ":
            self._emit(r"\Z" if c == "z" else r"(?=\n?\Z)", repeatable=False, width=2)
        elif c in "bBA":
            self._emit("\\" + c, repeatable=False, width=2)
        elif c in _UNSUPPORTED_ESCAPES:
            raise _unsupported("\\" + c)
        else:
            text, width = self._character_escape(i, in_class=False)
            self._emit(text, width=width)

    def _character_escape(self, i: int, *, in_class: bool) -> tuple[str, int]:
        """Python text and source width of an escape that stands for one character or set."""
        s = self.s
        c = s[i + 1]
        if c in "xo":
            if s.startswith("{", i + 2):
                end = s.find("}", i + 3)
                if end < 0:
                    raise _error(i + 3, "missing terminating } in \\x{} or \\o{}")
                digits = s[i + 3 : end]
                try:
                    code = int(digits, 16 if c == "x" else 8)
                except ValueError:
                    raise _error(i + 3, "non-hex character in \\x{}") from None
                if code > 0xFF:
                    raise _error(end,
                                 "character code point value in \\x{} or \\o{} is too large")
                return f"\\x{code:02x}", end + 1 - i
            if c == "o":
                raise _error(i + 2, "missing opening brace after \\o")
            hex_digits = _HEX2.match(s, i + 2)
            assert hex_digits is not None  # {0,2} always matches
            code = int(hex_digits.group() or "0", 16)
            return f"\\x{code:02x}", 2 + len(hex_digits.group())
        if in_class and c in "1234567":
            octal = _OCTAL3.match(s, i + 1)
            assert octal is not None
            return f"\\x{int(octal.group(), 8) & 0xFF:02x}", 1 + len(octal.group())
        if c == "0":
            octal = _OCTAL2.match(s, i + 2)
            assert octal is not None  # {0,2} always matches
            return f"\\x{int('0' + octal.group(), 8):02x}", 2 + len(octal.group())
        if c == "e":
            return r"\x1b", 2
        if c == "c":
            if i + 2 >= len(s):
                raise _error(i + 2, "\\c at end of pattern")
            return f"\\x{ord(s[i + 2].upper()) ^ 0x40:02x}", 3
        if c == "h" or c == "H":
            return self._set(_HSPACE, negate=c == "H", in_class=in_class), 2
        if c == "v" or c == "V":
            return self._set(_VSPACE, negate=c == "V", in_class=in_class), 2
        if not in_class and c == "R":
            return rf"(?:\r\n|[{_VSPACE}])", 2
        if not in_class and c == "N" and not s.startswith("{", i + 2):
            return r"[^\n]", 2
        if in_class and c == "b":
            return r"\x08", 2
        if c in _SAME:
            return "\\" + c, 2
        if c.isascii() and c.isalnum():
            raise _error(i + 2, "unrecognized character follows \\")
        return re.escape(c), 2

    @staticmethod
    def _set(members: str, *, negate: bool, in_class: bool) -> str:
        if in_class:
            if negate:
                raise _unsupported("negated \\h or \\v inside a class")
            return members
        return f"[{'^' if negate else ''}{members}]"

    def _reference(self, c: str) -> None:
        s, i = self.s, self.i
        m = re.compile(r"\\[gk](?:\{(-?\d+|[A-Za-z_]\w*)\}|<(\w+)>|'(\w+)'|(-?\d+))").match(s, i)
        if m is None:
            raise _error(i + 2, "a numbered reference must not be zero")
        ref = next(g for g in m.groups() if g is not None)
        if c == "g" and (m.group(2) or m.group(3)):
            raise _unsupported("\\g<...> subroutine call")
        if ref.lstrip("-").isdigit():
            number = int(ref)
            if number < 0:
                number = self.groups + 1 + number
            if number <= 0:
                raise _error(i + 2, "reference to non-existent subpattern")
            self.references.append((i + 2, number))
            text = f"(?:\\{number})"
        else:
            text = f"(?P={ref})"
        self.out.append(text)
        self.i = m.end()
        self.repeatable = True

    # -- classes ------------------------------------------------------------------------------

    def _class(self) -> None:
        s = self.s
        i = self.i + 1
        negate = s.startswith("^", i)
        if negate:
            i += 1
        # (Python text, the single character it stands for or None for a set, is a range)
        items: list[tuple[str, str | None, bool]] = []
        first = True
        while True:
            if i >= len(s):
                raise _error(len(s), "missing terminating ] for character class")
            if s[i] == "]" and not first:
                i += 1
                break
            first = False
            if s.startswith("\\Q", i):
                end = s.find("\\E", i + 2)
                literal = s[i + 2 :] if end < 0 else s[i + 2 : end]
                items.extend((re.escape(ch), ch, False) for ch in literal)
                i = len(s) if end < 0 else end + 2
                continue
            if s.startswith("\\E", i):
                i += 2
                continue
            if (s[i] == "-" and items and not items[-1][2] and i + 1 < len(s)
                    and s[i + 1] != "]"):
                low_text, low, _ = items[-1]
                high_text, high, after = self._class_atom(i + 1)
                if low is None or high is None:
                    raise _error(i, "invalid range in character class")
                if ord(low) > ord(high):
                    raise _error(after - 1, "range out of order in character class")
                items[-1] = (f"{low_text}-{high_text}", None, True)
                i = after
                continue
            text, char, i = self._class_atom(i)
            items.append((text, char, False))
        self.out.append("[" + ("^" if negate else "") + "".join(t for t, _, _ in items) + "]")
        self.i = i
        self.repeatable = True

    def _class_atom(self, i: int) -> tuple[str, str | None, int]:
        """One member of a class: (Python text, its character or None for a set, end)."""
        s = self.s
        if s.startswith("[:", i):
            end = s.find(":]", i + 2)
            if end >= 0:
                name = s[i + 2 : end]
                inverted = name.startswith("^")
                name = name.removeprefix("^")
                if name not in _POSIX:
                    raise _error(i + 2 + inverted, "unknown POSIX class name")
                if not inverted:
                    return _POSIX[name], None, end + 2
                if name not in _NEGATED_POSIX:
                    raise _unsupported(f"[:^{name}:]")
                return _NEGATED_POSIX[name], None, end + 2
        if s[i] == "\\":
            if i + 1 >= len(s):
                raise _error(len(s), "\\ at end of pattern")
            if s[i + 1] in "pPX":
                raise _unsupported("\\" + s[i + 1])
            text, width = self._character_escape(i, in_class=True)
            return text, _single(text), i + width
        return re.escape(s[i]), s[i], i + 1

    # -- groups -------------------------------------------------------------------------------

    def _open(self) -> None:
        s, i = self.s, self.i
        if s.startswith("(*", i):
            raise _unsupported("(*VERB)")
        if not s.startswith("(?", i):
            self.groups += 1
            self._push("(", i + 1)
            return
        setting = _FLAG_SETTING.match(s, i)
        if setting:
            # An option setting lasts to the end of the enclosing group, across "|": Python
            # only has scoped "(?i:...)", reopened after each "|" (see _close_scopes).
            flags = self._python_flags(setting.group(1), setting.group(2) or "")
            count, previous = self.scopes[-1]
            self.scopes[-1] = (count + 1, previous + flags)
            self.out.append(f"(?{flags}:")
            self.i = setting.end()
            self.repeatable = False
            return
        rest = s[i + 2 :]
        if not rest:
            raise _error(len(s), "missing closing parenthesis")
        if rest.startswith("P="):
            m = _NAME.match(rest, 2)
            if m is None or not rest.startswith(")", m.end()):
                raise _error(i + 4, "subpattern name expected")
            self.out.append(f"(?P={m.group()})")
            self.i = i + 2 + m.end() + 1
            self.repeatable = True
            return
        name = None
        if rest.startswith("P<") or (rest.startswith("<") and not rest.startswith(("<=", "<!"))):
            skip = 2 if rest.startswith("P<") else 1
            m = _NAME.match(rest, skip)
            if m is None or not rest.startswith(">", m.end()):
                raise _error(i + 2 + skip, "subpattern name expected")
            name, width = m.group(), m.end() + 1
        elif rest.startswith("'"):
            m = _NAME.match(rest, 1)
            if m is None or not rest.startswith("'", m.end()):
                raise _error(i + 3, "subpattern name expected")
            name, width = m.group(), m.end() + 1
        if name is not None:
            self.groups += 1
            self._push(f"(?P<{name}>", i + 2 + width)
            return
        for prefix in (":", "=", "!", "<=", "<!", ">", "#"):
            if rest.startswith(prefix):
                if prefix == "#":
                    end = s.find(")", i)
                    if end < 0:
                        raise _error(len(s), "missing ) after (?# comment")
                    self.i = end + 1
                    return
                self._push("(?" + prefix, i + 2 + len(prefix))
                return
        if _SCOPED_FLAGS.match(rest):
            colon = rest.index(":")
            on, _, off = rest[:colon].partition("-")
            self._push(f"(?{self._python_flags(on, off)}:", i + 3 + colon)
            return
        raise _unsupported(s[i : i + 3])

    @staticmethod
    def _python_flags(on: str, off: str) -> str:
        return on + ("-" + off if off else "")

    def _push(self, text: str, end: int) -> None:
        self.out.append(text)
        self.scopes.append((0, ""))
        self.i = end
        self.repeatable = False

    def _close(self) -> None:
        if len(self.scopes) == 1:
            raise _error(self.i, "unmatched closing parenthesis")
        self._close_scopes()
        self.scopes.pop()
        self._emit(")")

    def _close_scopes(self) -> None:
        count, _ = self.scopes[-1]
        self.out.append(")" * count)

    def _reopen_scopes(self) -> None:
        count, flags = self.scopes[-1]
        if count:
            self.out.append(f"(?{flags}:")
            self.scopes[-1] = (1, flags)

    # -- quantifiers --------------------------------------------------------------------------

    def _quantifier(self) -> None:
        s, i = self.s, self.i
        if s[i] == "{":
            m = _QUANTIFIER.match(s, i)
            if m is None:  # not a quantifier: a literal brace, as in PCRE
                self._emit(r"\{")
                return
            low, high = int(m.group(1)), m.group(3)
            for digits, at in ((m.group(1), m.start(1)), (high or "", m.start(3))):
                value = 0
                for k, digit in enumerate(digits):
                    value = value * 10 + int(digit)
                    if value > _MAX_REPEAT:
                        raise _error(at + k + 1, "number too big in {} quantifier")
            if high and int(high) < low:
                raise _error(m.end() - 1, "numbers out of order in {} quantifier")
            text, end = m.group(), m.end()
        else:
            text, end = s[i], i + 1
        if not self.repeatable:
            raise _error(i, "quantifier does not follow a repeatable item")
        suffix = s[end : end + 1]
        if suffix == "+":
            text, end = text + "+", end + 1
        elif suffix == "?":
            end += 1
            if not self.ungreedy:
                text += "?"
        elif self.ungreedy:
            text += "?"
        self.out.append(text)
        self.i = end
        self.repeatable = False


def _single(text: str) -> str | None:
    """The character a class member stands for, or None for a set such as \\d."""
    if len(text) == 1:
        return text
    if len(text) == 2 and text[0] == "\\" and not text[1].isalnum():
        return text[1]
    if len(text) == 4 and text.startswith("\\x"):
        return chr(int(text[2:], 16))
    return None


def translate(pattern: str, flags: frozenset[str] = frozenset()) -> str:
    """The Python expression equivalent to a PCRE one, or PatternSyntaxError."""
    return _Pcre(pattern, flags).translate()


class PcreDialect:
    label = "pcre"
    default_flags = frozenset({"i", "s"})
    flag_stops = ""
    second_pattern = False
    unclosed_action = "ignoring this rule"
    low_index_words = "out of range"
    trailing_backslash_closes = False

    def flag(self, letter: str, flags: set[str], where: str, warn: Warn) -> bool:
        if letter in "imsxAEU":
            flags ^= {letter}
            return True
        if letter == "X":
            warn(f'{where}: ignoring obsolete regexp option "X"')
            return True
        warn(f'{where}: unknown regexp option "{letter}": skipping this rule')
        return False

    def compile(self, pattern: str, flags: frozenset[str]) -> Compiled:
        expression = translate(pattern, flags)
        options = re.ASCII
        for letter, option in (("i", re.IGNORECASE), ("s", re.DOTALL), ("m", re.MULTILINE),
                               ("x", re.VERBOSE)):
            if letter in flags:
                options |= option
        try:
            return Compiled(re.compile(expression, options), anchored="A" in flags)
        except re.error as e:
            raise _error(e.pos or 0, _python_message(e)) from e


def _python_message(e: re.error) -> str:
    """PCRE2's words for the errors the translation leaves for Python to find."""
    text = e.msg
    for python, pcre in (
        ("nothing to repeat", "quantifier does not follow a repeatable item"),
        ("multiple repeat", "quantifier does not follow a repeatable item"),
        ("invalid group reference", "reference to non-existent subpattern"),
        ("unknown group name", "reference to non-existent subpattern"),
        ("cannot refer to an open group", "recursive back reference"),
        ("redefinition of group name", "two named subpatterns have the same name"),
        ("look-behind requires fixed-width pattern",
         "lookbehind assertion is not fixed length"),
        ("bad character range", "range out of order in character class"),
    ):
        if text.startswith(python):
            return pcre
    return text


DIALECT = PcreDialect()
