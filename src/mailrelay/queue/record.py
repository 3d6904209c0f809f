"""The queue-file format: typed, checksummed records, the content first and an END record last.

Theory of operation
-------------------
A queue file holds one message: its content (headers and body as received, after cleanup)
and its envelope.  It is written once, by the store, and then changed in exactly one way: a
recipient's record type is overwritten in place, from ``R`` (pending) to ``D`` (done), as
Postfix's qmgr does, so that a recipient that was delivered is never delivered again on
purpose.  Everything that changes more (deferral reasons, the delay-warning flag) lives in a
separate *status log* beside the file (``defer/ID``), which is replaced whole (``statuslog``
module; it uses the framing defined here).

Layout, all integers big-endian::

    preamble   "MRQF"  version:u16  reserved:u16 (zero)            8 bytes
    record M   the content, as one record, so the envelope can follow it
    record T   arrival time (IEEE double, seconds since the epoch)
    record S   sender ("" is the null sender)
    record A*  named attributes: client, helo, protocol, SASL, BODY, SMTPUTF8, others
    record <   DSN RET (FULL or HDRS), optional        record i   DSN ENVID, optional
    record R/D one per recipient: NOTIFY, address, ORCPT, original address
    record E   end of file (empty)

    record  =  type:1  length:u32  payload:length  crc:u32

Why this order: the content comes first so that it can be streamed to disk while it arrives
(SMTP DATA) before cleanup has the final envelope; its length is patched into the M record
header before the file is synced.  A reader gets the envelope with one read of the file's
tail, skipping the content by its length, and streams the content only when it needs it.

Invariants a decoder checks, so that a damaged file is refused and never delivered:

* ``crc`` is the CRC-32 of the payload followed by the type and length bytes (payload first,
  so that the writer can checksum the content as it streams, before it knows the length).  CRC-32
  detects every error burst up to 32 bits, so any single damaged byte is caught.  The type
  byte is checksummed as ``R`` for a done recipient, so the in-place mark keeps the CRC valid;
  ``R`` and ``D`` differ in three bits, so no single-bit error turns one into the other.
* The records come in the order above, T and S exactly once, and the file ends exactly
  after the E record.  A file that stops early raises `TruncatedQueueFile` (what a crash of a
  writer would leave, although the store never lets such a file be seen); anything else that
  does not fit raises `CorruptQueueFile`; another format version raises
  `UnsupportedQueueFileVersion`.  All three are `QueueFileError`s and carry the byte offset.

Text is UTF-8, with ``surrogateescape`` so that an address with undecodable bytes survives
the round trip unchanged.  This module is pure: bytes in, values out.
"""

from __future__ import annotations

import enum
import math
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

VERSION = 1
MAGIC = b"MRQF"
_PREAMBLE = struct.Struct(">4sHH")
_LEN = struct.Struct(">I")
_CRC = struct.Struct(">I")
_TIME = struct.Struct(">d")

PREAMBLE_SIZE = _PREAMBLE.size
LENGTH_OFFSET = PREAMBLE_SIZE + 1  # where the content length sits, to be patched
CONTENT_OFFSET = PREAMBLE_SIZE + 5
CRC_SIZE = _CRC.size
MAX_CONTENT = 2**32 - 1

PENDING = b"R"
DONE = b"D"


class QueueFileError(Exception):
    """A queue file (or status log) that cannot be used; ``offset`` is where it went wrong."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.offset = offset


class TruncatedQueueFile(QueueFileError):
    """The file ends before its END record: it was cut short (or a length was damaged)."""


class CorruptQueueFile(QueueFileError):
    """A checksum, record type, record order or field does not fit the format."""


class UnsupportedQueueFileVersion(QueueFileError):
    """A well-formed preamble of a format version this code does not read."""


class Notify(enum.IntFlag):
    """DSN NOTIFY (RFC 3461) with Postfix's bit values."""

    NONE = 0  # NOTIFY was not given: Postfix then behaves as for FAILURE,DELAY
    NEVER = 1
    SUCCESS = 2
    FAILURE = 4
    DELAY = 8


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    orcpt: str = ""  # DSN ORCPT as received, e.g. "rfc822;user@example.com"
    notify: Notify = Notify.NONE
    original: str = ""  # the address before rewriting (Postfix's orig_to), if it differs
    done: bool = False


@dataclass(frozen=True, slots=True)
class Client:
    """Who handed the message in; "" where unknown (a local submission has no address)."""

    name: str = ""
    address: str = ""
    port: str = ""
    helo: str = ""
    protocol: str = ""  # SMTP, ESMTP, ESMTPS, ESMTPSA, ... or "" for sendmail(1)
    sasl_method: str = ""
    sasl_username: str = ""


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str
    recipients: tuple[Recipient, ...]
    arrival_time: float
    client: Client = field(default_factory=Client)
    dsn_ret: str = ""  # "", "FULL" or "HDRS"
    dsn_envid: str = ""
    body_type: str = ""  # "", "7BIT" or "8BITMIME"
    smtputf8: bool = False
    attributes: tuple[tuple[str, str], ...] = ()  # other named attributes, in order


@dataclass(frozen=True, slots=True)
class ContentSpan:
    """Where the content is in a queue file: bytes [offset, offset + length)."""

    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True, slots=True)
class DecodedEnvelope:
    envelope: Envelope
    content_crc: int  # the M record's stored CRC, to check a streamed content against
    recipient_offsets: tuple[int, ...]  # file offset of each recipient's R/D type byte


@dataclass(frozen=True, slots=True)
class QueueFile:
    envelope: Envelope
    content: bytes


# Client fields and envelope flags are stored as named attributes under these names.
_CLIENT_ATTRS = {
    "client_name": "name",
    "client_address": "address",
    "client_port": "port",
    "helo_name": "helo",
    "protocol_name": "protocol",
    "sasl_method": "sasl_method",
    "sasl_username": "sasl_username",
}
_RESERVED_ATTRS = frozenset({*_CLIENT_ATTRS, "body_type", "smtputf8"})

# Record type -> phase: records must come in non-decreasing phase order.
_QUEUE_PHASES = {b"T": 0, b"S": 1, b"A": 2, b"<": 2, b"i": 2, b"R": 3, b"D": 3, b"E": 4}
_QUEUE_ONCE = frozenset({b"T", b"S", b"<", b"i"})


# ---------------------------------------------------------------- encoding


def content_header(length: int) -> bytes:
    """The preamble and the M record header for *length* bytes of content."""
    if not 0 <= length <= MAX_CONTENT:
        raise ValueError(f"content of {length} bytes does not fit a queue file")
    return preamble(MAGIC) + b"M" + _LEN.pack(length)


def content_record_crc(payload_crc: int, length: int) -> int:
    """The M record's CRC, from the CRC-32 of the content as it was streamed."""
    return zlib.crc32(b"M" + _LEN.pack(length), payload_crc)


def trailer(envelope: Envelope, content_length: int, payload_crc: int) -> bytes:
    """Everything after the content: its CRC, the envelope records and the END record."""
    parts = [_CRC.pack(content_record_crc(payload_crc, content_length))]
    parts += _envelope_records(envelope)
    parts.append(frame(b"E", b""))
    return b"".join(parts)


def encode(envelope: Envelope, content: bytes) -> bytes:
    """A whole queue file in one piece (the store's fast path for a message in memory)."""
    return (
        content_header(len(content))
        + content
        + trailer(envelope, len(content), zlib.crc32(content))
    )


def _envelope_records(env: Envelope) -> list[bytes]:
    if not math.isfinite(env.arrival_time):
        raise ValueError("arrival time must be finite")
    if env.dsn_ret not in ("", "FULL", "HDRS"):
        raise ValueError(f"bad DSN RET: {env.dsn_ret!r}")
    out = [frame(b"T", _TIME.pack(env.arrival_time)), frame(b"S", to_bytes(env.sender))]
    named = [(attr, getattr(env.client, name)) for attr, name in _CLIENT_ATTRS.items()]
    named += [("body_type", env.body_type), ("smtputf8", "1" if env.smtputf8 else "")]
    out += [frame(b"A", pack_fields(to_bytes(k), to_bytes(v))) for k, v in named if v]
    for key, value in env.attributes:
        if not key or key in _RESERVED_ATTRS:
            raise ValueError(f"attribute name {key!r} is empty or reserved")
        out.append(frame(b"A", pack_fields(to_bytes(key), to_bytes(value))))
    if env.dsn_ret:
        out.append(frame(b"<", to_bytes(env.dsn_ret)))
    if env.dsn_envid:
        out.append(frame(b"i", to_bytes(env.dsn_envid)))
    for rcpt in env.recipients:
        if not 0 <= rcpt.notify <= 15:
            raise ValueError(f"bad NOTIFY value: {rcpt.notify!r}")
        payload = bytes([int(rcpt.notify)]) + pack_fields(
            to_bytes(rcpt.address), to_bytes(rcpt.orcpt), to_bytes(rcpt.original)
        )
        out.append(frame(DONE if rcpt.done else PENDING, payload))
    return out


# ---------------------------------------------------------------- decoding


def decode_head(head: bytes, file_size: int) -> ContentSpan:
    """Check the preamble and M record header (the first `CONTENT_OFFSET` bytes)."""
    if len(head) < PREAMBLE_SIZE:
        raise TruncatedQueueFile("file ends inside the preamble", len(head))
    check_preamble(head, MAGIC)
    if len(head) < CONTENT_OFFSET:
        raise TruncatedQueueFile("file ends inside the content header", len(head))
    if head[PREAMBLE_SIZE : PREAMBLE_SIZE + 1] != b"M":
        raise CorruptQueueFile("content record expected", PREAMBLE_SIZE)
    (length,) = _LEN.unpack_from(head, LENGTH_OFFSET)
    if CONTENT_OFFSET + length + CRC_SIZE > file_size:
        raise TruncatedQueueFile(f"content of {length} bytes exceeds the file", file_size)
    return ContentSpan(CONTENT_OFFSET, length)


def decode_trailer(tail: bytes, span: ContentSpan) -> DecodedEnvelope:
    """Decode the bytes from the end of the content to the end of the file."""
    if len(tail) < CRC_SIZE:
        raise TruncatedQueueFile("file ends inside the content checksum", span.end + len(tail))
    (content_crc,) = _CRC.unpack_from(tail, 0)
    arrival: float | None = None
    sender: str | None = None
    named: dict[str, str] = {}
    client: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    recipients: list[Recipient] = []
    offsets: list[int] = []
    for rtype, payload, at in split_records(tail, CRC_SIZE, span.end, _QUEUE_PHASES, _QUEUE_ONCE):
        if rtype == b"T":
            if len(payload) != _TIME.size:
                raise CorruptQueueFile("bad arrival time record", at)
            (arrival,) = _TIME.unpack(payload)
        elif rtype == b"S":
            sender = to_str(payload)
        elif rtype == b"A":
            key, value = (to_str(v) for v in unpack_fields(payload, 2, at))
            if key in _CLIENT_ATTRS:
                client[_CLIENT_ATTRS[key]] = value
            elif key in _RESERVED_ATTRS:
                named[key] = value
            else:
                extra.append((key, value))
        elif rtype in (b"<", b"i"):
            named[rtype.decode()] = to_str(payload)
        else:
            recipients.append(_recipient(rtype, payload, at))
            offsets.append(at)
    if arrival is None or sender is None:
        raise CorruptQueueFile("arrival time or sender record missing", span.end)
    envelope = Envelope(
        sender=sender,
        recipients=tuple(recipients),
        arrival_time=arrival,
        client=Client(**client),
        dsn_ret=named.get("<", ""),
        dsn_envid=named.get("i", ""),
        body_type=named.get("body_type", ""),
        smtputf8=named.get("smtputf8") == "1",
        attributes=tuple(extra),
    )
    return DecodedEnvelope(envelope, content_crc, tuple(offsets))


def check_content(payload_crc: int, span: ContentSpan, stored_crc: int) -> None:
    """Raise unless the streamed content's CRC matches the one stored after it."""
    if content_record_crc(payload_crc, span.length) != stored_crc:
        raise CorruptQueueFile("content checksum mismatch", span.offset)


def decode(data: bytes) -> QueueFile:
    """Decode and fully check a whole queue file."""
    span = decode_head(data[:CONTENT_OFFSET], len(data))
    decoded = decode_trailer(data[span.end :], span)
    content = data[span.offset : span.end]
    check_content(zlib.crc32(content), span, decoded.content_crc)
    return QueueFile(decoded.envelope, content)


def _recipient(rtype: bytes, payload: bytes, at: int) -> Recipient:
    if not payload or payload[0] > 15:
        raise CorruptQueueFile("bad NOTIFY value", at)
    address, orcpt, original = (to_str(v) for v in unpack_fields(payload[1:], 3, at))
    return Recipient(address, orcpt, Notify(payload[0]), original, done=rtype == DONE)


# ---------------------------------------------------------------- framing (shared with statuslog)


def preamble(magic: bytes) -> bytes:
    return _PREAMBLE.pack(magic, VERSION, 0)


def frame(rtype: bytes, payload: bytes) -> bytes:
    """One record: type, length, payload, CRC."""
    length = _LEN.pack(len(payload))
    crc = zlib.crc32(_canonical(rtype) + length, zlib.crc32(payload))
    return rtype + length + payload + _CRC.pack(crc)


def check_preamble(head: bytes, magic: bytes) -> None:
    found, version, reserved = _PREAMBLE.unpack_from(head, 0)
    if found != magic:
        raise CorruptQueueFile(f"not a {magic.decode()} file", 0)
    if reserved != 0:
        raise CorruptQueueFile("reserved preamble bytes are not zero", 6)
    if version != VERSION:
        raise UnsupportedQueueFileVersion(f"format version {version}, expected {VERSION}", 4)


def split_records(
    buf: bytes, pos: int, base: int, phases: Mapping[bytes, int], once: frozenset[bytes]
) -> list[tuple[bytes, bytes, int]]:
    """Check and split *buf* from *pos* to its END record, as (type, payload, file offset).

    *buf* starts at file offset *base*.  *phases* gives each allowed record type its place
    in the order (equal phases may mix); a type in *once* may appear at most once.
    """
    out: list[tuple[bytes, bytes, int]] = []
    phase = 0
    seen_once: set[bytes] = set()
    while True:
        at = base + pos
        if pos >= len(buf):
            raise TruncatedQueueFile("file ends before its END record", at)
        rtype = buf[pos : pos + 1]
        if rtype not in phases:
            raise CorruptQueueFile(f"unknown record type {rtype!r}", at)
        if pos + 5 > len(buf):
            raise TruncatedQueueFile("file ends inside a record header", base + len(buf))
        (length,) = _LEN.unpack_from(buf, pos + 1)
        end = pos + 5 + length
        if end + CRC_SIZE > len(buf):
            raise TruncatedQueueFile(f"record of {length} bytes exceeds the file", base + len(buf))
        payload = buf[pos + 5 : end]
        (crc,) = _CRC.unpack_from(buf, end)
        if zlib.crc32(_canonical(rtype) + buf[pos + 1 : pos + 5], zlib.crc32(payload)) != crc:
            raise CorruptQueueFile(f"checksum mismatch in record {rtype!r}", at)
        if phases[rtype] < phase or (phases[rtype] == phase and rtype in seen_once):
            raise CorruptQueueFile(f"record {rtype!r} out of order", at)
        phase = phases[rtype]
        if rtype in once:
            seen_once.add(rtype)
        pos = end + CRC_SIZE
        if rtype == b"E":
            if payload:
                raise CorruptQueueFile("END record with a payload", at)
            if pos != len(buf):
                raise CorruptQueueFile("data after the END record", base + pos)
            return out
        out.append((rtype, payload, at))


def unpack_fields(payload: bytes, count: int, at: int) -> list[bytes]:
    """The inverse of `pack_fields`: exactly *count* fields, nothing left over."""
    values, pos = [], 0
    for _ in range(count):
        if pos + 4 > len(payload):
            raise CorruptQueueFile("record fields are cut short", at)
        (length,) = _LEN.unpack_from(payload, pos)
        pos += 4
        if pos + length > len(payload):
            raise CorruptQueueFile("record field exceeds its record", at)
        values.append(payload[pos : pos + length])
        pos += length
    if pos != len(payload):
        raise CorruptQueueFile("extra bytes in a record", at)
    return values


def pack_fields(*values: bytes) -> bytes:
    """Several byte strings in one payload, each with a u32 length before it."""
    return b"".join(_LEN.pack(len(v)) + v for v in values)


def _canonical(rtype: bytes) -> bytes:
    return PENDING if rtype == DONE else rtype


def to_bytes(value: str) -> bytes:
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise ValueError(f"text cannot be stored: {value!r}") from exc


def to_str(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")
