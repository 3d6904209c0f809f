"""The header fields of a message: each logical field as one piece, folded lines included.

Content is in SMTP form (CRLF line ends).  The header section ends at the first line that is
neither a field (``name:``) nor a continuation (starting with a space or a tab); that line,
blank or not, starts the rest.  Joining the fields and the rest gives the content back.
"""

from __future__ import annotations

from mailrelay.cleanup.headers import HEADER_LINE
from mailrelay.cleanup.mime import Kind, MimeLimits, Part, walk

CRLF = b"\r\n"


def split_fields(content: bytes) -> tuple[list[bytes], bytes]:
    """(the fields, each with its CRLF, the rest)."""
    fields: list[bytes] = []
    pos = 0
    while pos < len(content):
        end = content.find(CRLF, pos)
        stop = len(content) if end < 0 else end + 2
        line = content[pos:stop]
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        elif HEADER_LINE.match(line):
            fields.append(line)
        else:
            break
        pos = stop
    return fields, content[pos:]


def logical(field: bytes) -> str:
    """A field as Postfix's header checks see it: without its last CRLF, folded lines
    joined with a bare newline (the continuation's leading white space kept)."""
    text = field.decode("utf-8", "surrogateescape")
    return text.removesuffix("\r\n").replace("\r\n", "\n")


def cut_long_fields(content: bytes, limit: int) -> bytes:
    """header_size_limit: each field longer than *limit* is cut there, as Postfix stores it
    (the logical field -- folded lines joined by one newline -- cut at *limit* bytes; the
    continuation lines past it are gone).  Header checks saw the whole field before."""
    if limit <= 0 or len(content) <= limit:
        return content
    fields, rest = split_fields(content)
    if all(len(f) <= limit for f in fields):
        return content
    return b"".join(_cut(f, limit) for f in fields) + rest


def cut_part_fields(content: bytes, limit: int, limits: MimeLimits | None = None) -> bytes:
    """header_size_limit in the headers of MIME parts and attached messages too, as
    Postfix's mime_state cuts them (captured: tests/golden/mime_checks).  Only a message
    whose primary header names a multipart or message/* type is walked."""
    limits = limits or MimeLimits()
    if limit <= 0 or limits.disabled or not _may_have_parts(content):
        return content
    pieces = list(walk(content, limits, body_lines=False))
    inner = [p.kind is Kind.HEADER and p.part is not Part.PRIMARY for p in pieces]
    if not any(i and len(p.data) > limit for i, p in zip(inner, pieces, strict=True)):
        return content
    return b"".join(_cut(p.data, limit) if i else p.data
                    for i, p in zip(inner, pieces, strict=True))


def _may_have_parts(content: bytes) -> bool:
    end = content.find(b"\r\n\r\n")
    head = (content if end < 0 else content[:end]).lower()
    return b"content-type:" in head and (b"multipart/" in head or b"message/" in head)


def _cut(field: bytes, limit: int) -> bytes:
    value = field.removesuffix(CRLF).replace(CRLF, b"\n")
    if len(value) <= limit:
        return field
    return value[:limit].rstrip(b"\n").replace(b"\n", CRLF) + CRLF
