"""The MIME structure of a message, as Postfix's mime_state sees it: which line is what.

Theory of operation.  Postfix's header and body checks do not see a message as one header
and one body: cleanup (and the smtp client, for its ``smtp_*_checks``) follow the MIME
structure and hand each piece to a different table (captured: tests/golden/mime_checks)::

    primary header       MIME-Version, Content-*   -> mime_header_checks
                         any other field           -> header_checks
    multipart part       every field               -> mime_header_checks
    message/* attachment MIME-Version, Content-*   -> mime_header_checks
                         any other field           -> nested_header_checks
    everything else      each non-empty line       -> body_checks (boundaries included)

The empty line that ends a header is a body line too (no table sees empty lines).

:func:`walk` cuts content (SMTP form, CRLF line ends) into :class:`Piece` values, in order,
with no gap: joining their ``data`` gives the content back.  It is one loop over the lines
with an explicit stack of open multipart boundaries, never a recursion over the input, so a
message nested a thousand levels deep costs a list, not the interpreter's stack.

A ``Content-Type: multipart/*`` with a boundary, at the end of the header that holds it,
opens a boundary; a body line ``--boundary`` (only the first mime_boundary_length_limit
characters of the boundary are compared) starts a part header at that level and closes every
deeper one, ``--boundary--`` closes it and goes back to the enclosing body.  A
``Content-Type: message/*`` (but message/partial and message/external-body) makes the next
lines a nested header.  A multipart past mime_nesting_limit levels gives a
:class:`Kind.ERROR` piece (empty data) and is followed all the same.  With
disable_mime_input_processing everything after the primary header is body.

The walker only classifies: it never edits, decodes or rejects; 8-bit bytes and NULs are
data like any other.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from mailrelay.cleanup.headers import HEADER_LINE
from mailrelay.config.model import Config

CRLF = b"\r\n"

#: Fields with Postfix's HDR_OPT_MIME: MIME fields wherever they occur.
MIME_FIELDS = frozenset({b"content-description", b"content-disposition", b"content-id",
                         b"content-transfer-encoding", b"content-type", b"mime-version"})

NESTING_ERROR = "MIME nesting exceeds safety limit"

_BOUNDARY = re.compile(rb'(?:^|;)\s*boundary\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))',
                       re.IGNORECASE)
_TYPE = re.compile(rb"\s*([^\s/;()]+)\s*/\s*([^\s;()]+)")


class Kind(enum.Enum):
    HEADER = "header"
    BODY = "body"
    #: The nesting limit was reached here (no data).
    ERROR = "error"


class Part(enum.Enum):
    """Which header a header field is in."""

    PRIMARY = "primary"
    MULTIPART = "multipart"
    NESTED = "nested"


@dataclass(frozen=True, slots=True)
class Piece:
    kind: Kind
    #: The raw bytes: a whole (possibly folded) field with its CRLF, or one line.
    data: bytes
    #: For HEADER: the header it belongs to.
    part: Part = Part.PRIMARY
    #: For BODY: the bytes before this line in its body section, which starts with the
    #: empty line that ends a header, each line end counted as one byte
    #: (body_checks_size_limit compares this; captured).
    offset: int = 0

    @property
    def mime_field(self) -> bool:
        """A MIME-Version or Content-* field (for HEADER pieces)."""
        return is_mime(self.data)


def is_mime(field: bytes) -> bool:
    return field[: field.find(b":")].strip().lower() in MIME_FIELDS


@dataclass(frozen=True, slots=True)
class MimeLimits:
    """The parameters of the walk."""

    disabled: bool = False
    nesting_limit: int = 100
    boundary_limit: int = 2048

    @classmethod
    def from_config(cls, config: Config) -> MimeLimits:
        return cls(config.get_bool("disable_mime_input_processing"),
                   config.get_int("mime_nesting_limit"),
                   config.get_int("mime_boundary_length_limit"))


class _State(enum.Enum):
    HEADER = "header"
    BODY = "body"


@dataclass(slots=True)
class _Walk:
    """The walk's mutable state: where we are, the open boundaries."""

    limits: MimeLimits
    state: _State = _State.HEADER
    part: Part = Part.PRIMARY
    #: Open multipart boundaries, outermost first.
    boundaries: list[bytes] = field(default_factory=list)
    #: From the current header's Content-Type: (type, subtype, boundary).
    ctype: tuple[bytes, bytes, bytes | None] | None = None
    offset: int = 0
    #: The header field being gathered (a field is given out once it is complete).
    field: bytes = b""

    def open(self) -> bool:
        """After a header: what its Content-Type opens; False when a multipart goes past
        mime_nesting_limit (it is opened all the same: Postfix 3.7's cleanup goes on and
        logs nothing, captured)."""
        ctype, self.ctype = self.ctype, None
        self.state = _State.BODY
        if ctype is None or self.limits.disabled:
            return True
        kind, subtype, boundary = ctype
        if kind == b"message" and subtype not in (b"partial", b"external-body"):
            self.state, self.part = _State.HEADER, Part.NESTED
            return True
        if kind != b"multipart" or not boundary:
            return True
        self.boundaries.append(boundary[: self.limits.boundary_limit])
        return len(self.boundaries) <= self.limits.nesting_limit

    def boundary(self, line: bytes) -> bool:
        """Whether a body line is a boundary of an open multipart (and act on it)."""
        if not line.startswith(b"--") or not self.boundaries:
            return False
        for level in range(len(self.boundaries) - 1, -1, -1):
            bound = self.boundaries[level]
            if line.startswith(bound, 2):
                closing = line.startswith(b"--", 2 + len(bound))
                del self.boundaries[level + (0 if closing else 1):]
                if not closing:
                    self.state, self.part = _State.HEADER, Part.MULTIPART
                return True
        return False


def content_type(field: bytes) -> tuple[bytes, bytes, bytes | None] | None:
    """(type, subtype, boundary) of a Content-Type field, lower case but the boundary."""
    value = field[field.find(b":") + 1:].replace(CRLF, b"")
    value = re.sub(rb"\([^()]*\)", b"", value)  # comments, one level
    found = _TYPE.match(value)
    if found is None:
        return None
    boundary = _BOUNDARY.search(value, found.end())
    bound = None
    if boundary is not None:
        bound = boundary.group(1) if boundary.group(1) is not None else boundary.group(2)
    return found.group(1).lower(), found.group(2).lower(), bound


def _skip(run: _Walk, content: bytes, pos: int) -> int:
    """Where the body lines starting at *pos* may next change the walk's state: at the
    next line that starts with ``--`` while a multipart is open; nowhere (the end) when
    none is, since only a boundary line ends a body section."""
    if not run.boundaries or run.limits.disabled:
        return len(content)
    if content.startswith(b"--", pos):
        return pos
    found = content.find(b"\r\n--", pos)
    return len(content) if found < 0 else found + 2


def walk(content: bytes, limits: MimeLimits | None = None, *,
         body_lines: bool = True) -> Iterator[Piece]:
    """The pieces of *content*, in order (joined, they are *content*).

    *body_lines* False: no caller looks at body lines one by one (no body_checks), so the
    stretches of body between boundary candidates come as one BODY piece each -- a plain
    100 KB message is then a few header pieces and one body piece, not 2,500 lines."""
    run = _Walk(limits or MimeLimits())
    pos, size = 0, len(content)
    while pos < size:
        if not body_lines and run.state is _State.BODY:
            skip = _skip(run, content, pos)
            if skip > pos:
                yield Piece(Kind.BODY, content[pos:skip])
                pos = skip
                continue
        end = content.find(CRLF, pos)
        stop = size if end < 0 else end + 2
        line, pos = content[pos:stop], stop
        if run.state is _State.HEADER:
            if line[:1] in (b" ", b"\t") and run.field:
                run.field += line
                continue
            if run.field:
                yield _field(run)
            if HEADER_LINE.match(line):
                run.field = line
                continue
            # The header ends; a body section starts, with this line.
            run.offset = 0
            if not run.open():
                yield Piece(Kind.ERROR, b"")
        yield _body(run, line)
    if run.field:
        yield _field(run)


def _field(run: _Walk) -> Piece:
    field, run.field = run.field, b""
    if is_mime(field) and field[:13].lower() == b"content-type:":
        run.ctype = content_type(field)
    return Piece(Kind.HEADER, field, run.part)


def _body(run: _Walk, line: bytes) -> Piece:
    """A body line (the empty line that ends a header too: Postfix counts it as body,
    and no check sees an empty line)."""
    offset = run.offset
    text = line.removesuffix(CRLF)
    run.offset += len(text) + 1
    if not run.limits.disabled:
        run.boundary(text)
    return Piece(Kind.BODY, line, offset=offset)
