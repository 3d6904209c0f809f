"""Postfix's line wrapping of notification text: 79 columns, continuation lines indented by 4.

The recipient lines of the human-readable part (``<user@example.com>: reason``) and the
``Diagnostic-Code:`` field of the delivery report are wrapped this way; the other fields are
not (tests/golden/bounce shows a 102-column ``Final-Recipient:`` left alone).

How a text is cut, as observed: it is read word by word, a word running up to the next space
or tab (two blanks in a row make an empty word).  A line is ended before a word when the
line, with that word, would be longer than the width left after the indentation; the line
loses its trailing white space and the next one starts at the next non-blank character.  A
word is never split: a word longer than the width sits alone on a line of its own, so that
the first line can even be just ``<address>:``.  Only lines after the first are indented.
"""

from __future__ import annotations

#: The total width and the indentation of continuation lines (Postfix's bounce_print_wrap).
WIDTH = 79
INDENT = 4

#: C's isspace(): what is stripped from the end of a line and skipped at a line start.
_SPACE = " \t\n\v\f\r"


def wrap(text: str, width: int = WIDTH, indent: int = INDENT) -> list[str]:
    """*text* as lines of at most *width* columns where its words allow it."""
    lines: list[str] = []
    start = 0  # where the current output line begins in *text*
    word = 0  # where the current word begins
    margin = 0  # the indentation of the current line
    while True:
        end = _word_end(text, word)
        if word > start and end - start > width - margin:
            lines.append(" " * margin + text[start:word].rstrip(_SPACE))
            next_start = word
            while next_start < len(text) and text[next_start] in _SPACE:
                next_start += 1
            if len(lines) == 1:  # the first break: every later line is indented
                margin = min(margin + indent, width // 2)
            start = next_start
        if end >= len(text):
            break
        word = end + 1
    lines.append(" " * margin + text[start:].rstrip(_SPACE))
    return lines


def _word_end(text: str, i: int) -> int:
    """The index of the first space or tab at or after *i* (or the end of *text*)."""
    while i < len(text) and text[i] not in " \t":
        i += 1
    return i
