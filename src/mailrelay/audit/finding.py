"""A finding of ``check``: an error (exit non-zero) or a warning, with its provenance."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailrelay.util.diagnostic import Origin


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    text: str
    origin: Origin | None = None
    parameter: str | None = None

    def render(self, program: str) -> str:
        where = f"{self.origin}: " if self.origin and self.origin.file != "(default)" else ""
        return f"{program}: {self.severity.value}: {where}{self.text}"


def warning(text: str, origin: Origin | None = None, parameter: str | None = None) -> Finding:
    return Finding(Severity.WARNING, text, origin, parameter)


def error(text: str, origin: Origin | None = None, parameter: str | None = None) -> Finding:
    return Finding(Severity.ERROR, text, origin, parameter)


def note(text: str, origin: Origin | None = None, parameter: str | None = None) -> Finding:
    return Finding(Severity.NOTE, text, origin, parameter)
