"""Postfix time and size values.

Postfix time parameters are a number with an optional one-letter unit (``s m h d w``); a bare
number takes the parameter's own default unit (``s`` for most, ``d`` for
``maximal_queue_lifetime``...).  Sizes and counts are plain decimal integers.
"""

from __future__ import annotations

import re

TIME_UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

_TIME = re.compile(r"\A([0-9]+)([smhdw]?)\Z")
_INT = re.compile(r"\A-?[0-9]+\Z")


class UnitError(ValueError):
    """A value that is not a valid time, integer or boolean; its text is Postfix's wording."""


def parse_time(text: str, default_unit: str = "s") -> int:
    """Seconds in a Postfix time value such as ``3d``, ``300s`` or ``60`` (default unit)."""
    m = _TIME.match(text.strip())
    if not m:
        raise UnitError(f'bad time value or unit: "{text}"')
    unit = m.group(2) or default_unit
    return int(m.group(1)) * TIME_UNITS[unit]


def parse_int(text: str) -> int:
    if not _INT.match(text.strip()):
        raise UnitError(f'bad numerical configuration: "{text}"')
    return int(text)


def parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low == "yes":
        return True
    if low == "no":
        return False
    raise UnitError(f'bad boolean configuration: "{text}"')
