"""8BITMIME to 7-bit conversion for a server that does not announce 8BITMIME (pure).

Theory of operation
-------------------
Postfix's smtp(8) sends 8-bit mail to such a server through its one-pass MIME processor with
the "downgrade" option (unless ``disable_mime_output_conversion = yes``).  The processor reads
the message line by line and keeps, for the entity it is in, the content type and the
encoding *domain* named by ``Content-Transfer-Encoding`` (``7bit`` -- also for base64 and
quoted-printable, which are 7-bit encodings --, ``8bit`` or ``binary``).  It never looks at
the bytes themselves: an entity that does not declare 8bit or binary is sent unchanged even
if it holds 8-bit data, and an entity that declares 8bit is encoded even if it is pure ASCII.

For every header block (the message's, a multipart body part's, an attached message's):

* a ``Content-Transfer-Encoding`` header with an 8bit or binary domain is dropped, and at the
  end of the block a new one is written: ``7bit`` for multipart/* and message/* (but
  message/global), ``quoted-printable`` for anything else;
* folded headers are unfolded into one logical header (``Name :`` becomes ``Name:``) and
  written out again line by line, unchanged otherwise (8-bit header text is left alone);
* a line that is neither a header nor the empty line ends the block; in the message's own
  headers an empty line is then inserted before it.

Body lines of an 8bit/binary leaf entity are quoted-printable encoded: bytes below 32 (but
TAB), ``=`` and bytes above 126 become ``=XX``; a soft line break ``=`` is inserted before a
character when the output line already holds more than 72 characters; a space or TAB at the
end of a line becomes ``=20``/``=09``.  Multipart preambles and epilogues are never encoded.
Boundaries (``--`` + boundary, with ``--`` after it for the last one) switch entities; a
boundary of an outer multipart also closes the inner ones.  The multipart nesting is limited
(``mime_nesting_limit``): deeper nesting is the one error this conversion reports
(:class:`MimeNestingError`), and Postfix then bounces the message (5.6.0).

Verified byte for byte against Postfix 3.7 relaying to a server without 8BITMIME
(``tests/golden/smtp_client/mime8bit-*``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

#: Postfix's RFC 2045 tspecials, the separators of Content-Type tokens.
_TSPECIALS = frozenset('()<>@,;:\\"/[]?=')
_HEX = b"0123456789ABCDEF"
#: A header name: printable ASCII but ':' and space, then optional blanks, then ':'.
_HEADER = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")


class MimeNestingError(ValueError):
    """The multipart nesting exceeds ``mime_nesting_limit``."""

    dsn = "5.6.0"
    text = "MIME nesting exceeds safety limit"


class _Type(enum.Enum):
    TEXT = "text"
    MESSAGE = "message"
    MULTIPART = "multipart"
    OTHER = "other"


class _State(enum.Enum):
    PRIMARY = "primary headers"
    MULTIPART = "body part headers"
    NESTED = "attached message headers"
    BODY = "body"


@dataclass(frozen=True, slots=True)
class MimeLimits:
    #: header_size_limit: longer (unfolded) headers are cut.
    header_size_limit: int = 102400
    #: mime_boundary_length_limit: boundaries are compared on this many characters.
    boundary_length_limit: int = 2048
    #: mime_nesting_limit
    nesting_limit: int = 100


DEFAULT_LIMITS = MimeLimits()


@dataclass(slots=True)
class _Boundary:
    text: bytes
    #: The default type of the parts it opens (message/rfc822 in a multipart/digest).
    default: tuple[_Type, str]


@dataclass(slots=True)
class _Entity:
    """What the header block read so far says about the current entity."""

    ctype: _Type = _Type.TEXT
    subtype: str = "plain"
    #: The encoding domain: "7bit", "8bit" or "binary".
    domain: str = "7bit"


def header_name_length(line: bytes) -> int:
    """Length of the header name when *line* starts a header, else 0 (is_header())."""
    match = _HEADER.match(line)
    return len(match.group(1)) if match else 0


def _tokens(value: str) -> list[list[str]]:
    """A structured header value as sections (split at ';') of tokens; specials stand alone,
    quoted strings lose their quotes, comments are skipped (header_token())."""
    sections: list[list[str]] = [[]]
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c.isspace():
            i += 1
        elif c == "(":
            depth = 0
            while i < n:
                depth += {"(": 1, ")": -1}.get(value[i], 0)
                i += 2 if value[i] == "\\" else 1
                if depth == 0:
                    break
        elif c == '"':
            out, i = [], i + 1
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                out.append(value[i])
                i += 1
            sections[-1].append("".join(out))
            i += 1
        elif c == ";":
            sections.append([])
            i += 1
        elif c in _TSPECIALS:
            sections[-1].append(c)
            i += 1
        else:
            start = i
            while i < n and not value[i].isspace() and value[i] not in _TSPECIALS:
                i += 1
            sections[-1].append(value[start:i])
    return sections


@dataclass(slots=True)
class _Downgrader:
    limits: MimeLimits
    state: _State = _State.PRIMARY
    entity: _Entity = field(default_factory=_Entity)
    stack: list[_Boundary] = field(default_factory=list)
    #: The header being collected (unfolded, lines joined by \n), or empty.
    header: bytearray = field(default_factory=bytearray)

    # -- headers -----------------------------------------------------------------------

    def line(self, line: bytes) -> Iterator[bytes]:
        if self.state is not _State.BODY:
            if self.header and line[:1] in (b" ", b"\t"):
                if len(self.header) < self.limits.header_size_limit:
                    self.header += b"\n" + line
                return
            yield from self._flush_header()
            length = header_name_length(line)
            if length:
                self.header = bytearray(line[:length] + line[length:].lstrip(b" \t"))
                return
            yield from self._end_of_headers(line)
        yield from self._body(line)

    def _flush_header(self) -> Iterator[bytes]:
        if not self.header:
            return
        text = bytes(self.header)
        self.header = bytearray()
        name = text[: header_name_length(text)].lower()
        value = text[len(name) + 1:].decode("latin-1")
        if name == b"content-type":
            self._content_type(value)
        elif name == b"content-transfer-encoding":
            self._content_encoding(value)
            if self.entity.domain != "7bit":
                return  # replaced at the end of the block
        yield from text.split(b"\n")

    def _content_type(self, value: str) -> None:
        sections = _tokens(value)
        words = [w.lower() for w in sections[0][:3]]
        if not words:
            return
        subtype = words[2] if len(words) == 3 and words[1] == "/" else ""
        kind = {"text": _Type.TEXT, "message": _Type.MESSAGE,
                "multipart": _Type.MULTIPART}.get(words[0], _Type.OTHER)
        self.entity.ctype, self.entity.subtype = kind, subtype
        if kind is not _Type.MULTIPART:
            return
        default = (_Type.MESSAGE, "rfc822") if subtype == "digest" else (_Type.TEXT, "plain")
        for section in sections[1:]:
            if len(section) >= 3 and section[0].lower() == "boundary" and section[1] == "=":
                if len(self.stack) - 1 > self.limits.nesting_limit:
                    raise MimeNestingError(MimeNestingError.text)
                bound = section[2].encode("latin-1")[: self.limits.boundary_length_limit]
                self.stack.append(_Boundary(bound, default))

    def _content_encoding(self, value: str) -> None:
        words = _tokens(value)[0]
        if not words:
            return
        word = words[0].lower()
        if word in ("7bit", "8bit", "binary"):
            self.entity.domain = word
        elif word in ("base64", "quoted-printable"):
            self.entity.domain = "7bit"

    def _end_of_headers(self, line: bytes) -> Iterator[bytes]:
        entity = self.entity
        if entity.domain != "7bit":
            composite = entity.ctype is _Type.MULTIPART or (
                entity.ctype is _Type.MESSAGE and entity.subtype != "global")
            encoding = b"7bit" if composite else b"quoted-printable"
            yield b"Content-Transfer-Encoding: " + encoding
        if line:
            # Not a header, not the end of the headers: the body starts here.
            if self.state is _State.PRIMARY:
                yield b""
            self.state = _State.BODY
        elif entity.ctype is _Type.MESSAGE and (
                entity.subtype == "rfc822"
                or (entity.subtype == "global" and entity.domain == "7bit")):
            self.state, self.entity = _State.NESTED, _Entity()
        elif entity.ctype is _Type.MULTIPART:
            self.state, self.entity = _State.BODY, _Entity(_Type.OTHER, "")
        else:
            self.state = _State.BODY

    # -- bodies ------------------------------------------------------------------------

    def _body(self, line: bytes) -> Iterator[bytes]:
        if self.stack and line.startswith(b"--") and len(line) > 2:
            self._boundary(line)
        if self.entity.domain != "7bit":
            yield from quoted_printable(line)
        else:
            yield line

    def _boundary(self, line: bytes) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):
            bound = self.stack[depth]
            if line[2:].startswith(bound.text):
                del self.stack[depth + 1:]
                if line[2 + len(bound.text):].startswith(b"--"):
                    self.stack.pop()
                    self.state, self.entity = _State.BODY, _Entity(_Type.OTHER, "")
                else:
                    kind, subtype = bound.default
                    self.state, self.entity = _State.MULTIPART, _Entity(kind, subtype)
                return

    def end(self) -> Iterator[bytes]:
        """The end of the content: a header block in progress is closed."""
        if self.state is not _State.BODY:
            yield from self._flush_header()
            if self.entity.domain != "7bit":
                yield from self._end_of_headers(b"")


def quoted_printable(line: bytes) -> Iterator[bytes]:
    """One line of 8-bit text as lines of quoted-printable (soft breaks after 73+ chars)."""
    out = bytearray()
    for byte in line:
        if len(out) > 72:
            yield bytes(out + b"=")
            out.clear()
        if (byte < 32 and byte != 9) or byte == 61 or byte > 126:
            out += bytes((61, _HEX[byte >> 4], _HEX[byte & 15]))
        else:
            out.append(byte)
    if out and out[-1] in (32, 9):
        last = out.pop()
        out += b"=20" if last == 32 else b"=09"
    yield bytes(out)


def downgrade_lines(lines: Iterable[bytes], limits: MimeLimits = DEFAULT_LIMITS) -> Iterator[bytes]:
    """The message given as lines (without line ends), converted; MimeNestingError."""
    machine = _Downgrader(limits)
    for line in lines:
        yield from machine.line(line)
    yield from machine.end()


def split_lines(content: bytes) -> list[bytes]:
    """Lines without their CRLF (or LF); a last line without a line end still counts."""
    lines = content.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def downgrade(content: bytes, limits: MimeLimits = DEFAULT_LIMITS) -> bytes:
    """*content* (CRLF line ends) converted to 7 bit, with CRLF line ends."""
    return b"".join(line + b"\r\n" for line in downgrade_lines(split_lines(content), limits))
