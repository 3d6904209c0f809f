"""Errors that carry their provenance, printed the way Postfix prints them.

Postfix reports bad input as ``PROGRAM: fatal: FILE, line N: TEXT`` (or without the line when
there is none).  Every layer raises :class:`Fatal` with the file and line it knows; the command
at the top prints it once with its own program name and exits non-zero.  No traceback ever
reaches a user for bad input.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value came from: a file and a 1-based line, or an embedded default."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}" if self.line else self.file


class Fatal(Exception):
    """Bad input that stops the command: prints as ``prog: fatal: <where>: <text>``."""

    def __init__(self, text: str, origin: Origin | None = None, parameter: str | None = None):
        super().__init__(text)
        self.text = text
        self.origin = origin
        self.parameter = parameter

    def __str__(self) -> str:
        where = f"{self.origin}: " if self.origin else ""
        return f"{where}{self.text}"

    def render(self, program: str) -> str:
        return f"{program}: fatal: {self}"


def warning(program: str, text: str) -> str:
    """The text of a Postfix-style warning line (without newline)."""
    return f"{program}: warning: {text}"
