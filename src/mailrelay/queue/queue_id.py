"""Postfix-style queue IDs: how they are made from a time and an inode, and which are valid.

A queue ID names a file in every queue directory, so it must be unique among the files that
exist at one time.  Postfix gets that without a counter or a lock: the ID is made from the time
and the inode number of the file being created.  Two files that exist at the same time cannot
share an inode, and a queue file keeps its inode for its whole life (it is only ever renamed
between queue directories, never copied), so two live messages never get the same ID.

Two forms, as Postfix writes them (``enable_long_queue_ids``):

* **short** (the default): the microseconds of the time, exactly five upper-case hex digits,
  then the inode number in upper-case hex, e.g. ``3F2A1C0DE5``.  The microseconds repeat every
  second, so a short ID may be reused once its message has left the queue.
* **long**: the seconds (base 52, at least six characters), the microseconds (base 52, exactly
  four), the letter ``z``, then the inode (base 51, which never produces a ``z``), in an
  alphabet of digits and consonants: e.g. ``4Mxq0s5FzSz9vQd``.  These do not repeat, sort by
  time and survive an inode reuse in log searches.

A queue ID ends up in a path, so anything that is not exactly one of these forms is refused
(`is_valid`): ``../x``, ``a/b``, an empty string, lower-case hex, NUL bytes.  Both forms are
always accepted, whatever the setting, because a queue may hold files written before
``enable_long_queue_ids`` was changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Postfix's "safe" alphabet: digits and consonants, so that an ID never spells a word.
ALPHABET = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
_SEC_BASE, _SEC_PAD = 52, 6
_USEC_BASE, _USEC_PAD = 52, 4
_INODE_BASE = 51  # no 'z', so the last 'z' in an ID is always the separator
_SEPARATOR = "z"
_SHORT_USEC_DIGITS = 5

_SHORT = re.compile(r"[0-9A-F]{6,21}")
# The time part may itself contain 'z' (a base-52 digit); the inode part cannot, so the regex
# splits at the last 'z' as Postfix's strrchr() does.  2**64 needs 12 digits in either base.
_LONG = re.compile(
    rf"(?P<time>[{ALPHABET}]{{{_SEC_PAD + _USEC_PAD},16}})"
    rf"z(?P<inode>[{ALPHABET[:_INODE_BASE]}]{{1,12}})"
)
_MAX_INODE = 2**64 - 1
_MAX_SECONDS = 2**64 - 1


@dataclass(frozen=True, slots=True)
class QueueIdParts:
    """What an ID says about its file; ``seconds`` is None for a short ID (it has none)."""

    long: bool
    seconds: int | None
    microseconds: int
    inode: int


def make_queue_id(seconds: int, microseconds: int, inode: int, *, long: bool) -> str:
    """The ID of a file created at ``seconds.microseconds`` whose inode number is *inode*."""
    if not 0 <= microseconds < 1_000_000:
        raise ValueError(f"microseconds out of range: {microseconds}")
    if not 0 <= inode <= _MAX_INODE:
        raise ValueError(f"inode number out of range: {inode}")
    if not long:
        return f"{microseconds:05X}{inode:X}"
    if not 0 <= seconds <= _MAX_SECONDS:
        raise ValueError(f"seconds out of range: {seconds}")
    return (
        _encode(seconds, _SEC_BASE, _SEC_PAD)
        + _encode(microseconds, _USEC_BASE, _USEC_PAD)
        + _SEPARATOR
        + _encode(inode, _INODE_BASE, 1)
    )


def is_valid(text: str) -> bool:
    """True when *text* is a short or long queue ID, and therefore safe as a file name."""
    return parse_queue_id(text) is not None


def parse_queue_id(text: str) -> QueueIdParts | None:
    """Split an ID into the time and inode it was made from; None if it is not an ID."""
    if _SHORT.fullmatch(text):
        usec = int(text[:_SHORT_USEC_DIGITS], 16)
        if usec >= 1_000_000:
            return None
        return QueueIdParts(False, None, usec, int(text[_SHORT_USEC_DIGITS:], 16))
    match = _LONG.fullmatch(text)
    if match is None:
        return None
    time_part = match["time"]
    seconds = _decode(time_part[:-_USEC_PAD], _SEC_BASE)
    usec = _decode(time_part[-_USEC_PAD:], _USEC_BASE)
    inode = _decode(match["inode"], _INODE_BASE)
    if usec >= 1_000_000 or seconds > _MAX_SECONDS or inode > _MAX_INODE:
        return None
    return QueueIdParts(True, seconds, usec, inode)


def _encode(value: int, base: int, width: int) -> str:
    digits = []
    while value:
        value, digit = divmod(value, base)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def _decode(text: str, base: int) -> int:
    value = 0
    for ch in text:
        value = value * base + _INDEX[ch]
    return value
