"""Status logs: why the recipients of a queued message are not delivered yet.

Postfix keeps, beside each queue file, a ``defer/ID`` log (the reason each recipient was
deferred, which mailq shows in parentheses and a delay warning or a final DSN quotes) and a
``bounce/ID`` log (recipients that failed, until their DSN is sent).  So does mailrelay, so
that the queue file itself is written once and only ever gets its one-byte done marks.

A status log is small and is only ever replaced whole (write, fsync, rename: the store uses
util.durable), never edited in place, so it needs no in-place tricks.  It uses the framing of
`record` under its own magic::

    preamble   "MRQL"  version:u16  reserved:u16 (zero)
    record W   a delay warning was sent for this message, optional, empty
    record d*  recipient index:u32, then fields: address, DSN status, DSN action, reason,
               DSN diagnostic code, remote MTA
    record E   end of file (empty)

The recipient's address is repeated so that a reader can tell a log that belongs to another
message (a short queue ID is reused once its message is gone; the store removes logs before
their message, and `recover` removes orphans, but readers check anyway).  Pure.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mailrelay.queue.record import (
    PREAMBLE_SIZE,
    CorruptQueueFile,
    Envelope,
    TruncatedQueueFile,
    check_preamble,
    frame,
    pack_fields,
    preamble,
    split_records,
    to_bytes,
    to_str,
    unpack_fields,
)

LOG_MAGIC = b"MRQL"
_INDEX = struct.Struct(">I")
_PHASES = {b"W": 0, b"d": 1, b"E": 2}
_ONCE = frozenset({b"W"})


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    recipient: int  # index into Envelope.recipients
    address: str
    status: str  # enhanced status code, e.g. "4.4.1"
    action: str  # DSN action: "delayed", "failed", ...
    reason: str  # what mailq shows in parentheses
    diagnostic: str = ""  # DSN Diagnostic-Code ("smtp; 451 4.3.0 ..."), for the notices
    remote_mta: str = ""  # DSN Remote-MTA ("dns; mx.example.com")


@dataclass(frozen=True, slots=True)
class StatusLog:
    entries: tuple[RecipientStatus, ...]
    warning_sent: bool = False


def encode_status_log(log: StatusLog) -> bytes:
    parts = [preamble(LOG_MAGIC)]
    if log.warning_sent:
        parts.append(frame(b"W", b""))
    for e in log.entries:
        if not 0 <= e.recipient < 2**32:
            raise ValueError(f"bad recipient index {e.recipient}")
        texts = (e.address, e.status, e.action, e.reason, e.diagnostic, e.remote_mta)
        parts.append(frame(b"d", _INDEX.pack(e.recipient) + pack_fields(*map(to_bytes, texts))))
    parts.append(frame(b"E", b""))
    return b"".join(parts)


def decode_status_log(data: bytes) -> StatusLog:
    """Raises the same `QueueFileError`s as a queue file would."""
    if len(data) < PREAMBLE_SIZE:
        raise TruncatedQueueFile("file ends inside the preamble", len(data))
    check_preamble(data, LOG_MAGIC)
    warning_sent, entries = False, []
    for rtype, payload, at in split_records(data, PREAMBLE_SIZE, 0, _PHASES, _ONCE):
        if rtype == b"W":
            if payload:
                raise CorruptQueueFile("W record with a payload", at)
            warning_sent = True
            continue
        if len(payload) < _INDEX.size:
            raise CorruptQueueFile("status entry too short", at)
        (index,) = _INDEX.unpack_from(payload, 0)
        address, status, action, reason, diagnostic, remote_mta = map(
            to_str, unpack_fields(payload[4:], 6, at))
        entries.append(RecipientStatus(index, address, status, action, reason, diagnostic,
                                       remote_mta))
    return StatusLog(tuple(entries), warning_sent)


def delay_reasons(envelope: Envelope, log: StatusLog | None) -> tuple[str, ...]:
    """The reason to show beside each recipient (mailq, postqueue -j), "" where there is none.

    An entry counts only if its index and address both match the recipient: a log left by an
    earlier message under a reused short ID then shows nothing rather than wrong reasons.
    """
    reasons = [""] * len(envelope.recipients)
    for entry in log.entries if log else ():
        index = entry.recipient
        if index < len(reasons) and envelope.recipients[index].address == entry.address:
            reasons[index] = entry.reason
    return tuple(reasons)
