"""The smtp client's output rewriting: smtp_generic_maps, smtp_header_checks, smtp_body_checks.

Theory of operation.  These apply on the way out only: the queue keeps the message as
cleanup wrote it, and each delivery rewrites what it sends.  smtp_generic_maps maps the
envelope sender and each recipient (MAIL FROM, RCPT TO; the log keeps the queued address)
and the addresses of the primary header fields (one lookup each, generic(5)).  For each
primary header, smtp_header_checks comes first, on the field as queued: IGNORE drops it,
REPLACE puts its text in its place, PREPEND puts its text before it, WARN and INFO log; then
the (possibly replaced) field's addresses are mapped.  The MIME structure is followed as
cleanup follows it (:mod:`mailrelay.cleanup.mime`, captured in tests/golden/mime_checks):
MIME-Version and the Content-* fields, and every field of a multipart part header, are
looked up in smtp_mime_header_checks; the fields of an attached message/* in
smtp_nested_header_checks; each non-empty body line (boundaries included, no size limit) in
smtp_body_checks.  disable_mime_input_processing does not apply here: the smtp client
follows the MIME structure all the same (captured).  Only primary header fields are
generic-mapped.  Actions that would
change the delivery (REJECT, HOLD, REDIRECT, PASS...) are not available here: they are
logged as unsupported and the line is kept.  A table that cannot answer raises
CleanupDefer: the delivery is deferred, never made unfiltered.

SECURITY: reads the lookup tables named by the configuration; no network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mailrelay.cleanup.address_map import AddressMap
from mailrelay.cleanup.fields import CRLF, logical, split_fields
from mailrelay.cleanup.header_checks import (
    OUTPUT_ACTIONS,
    Action,
    ContentChecks,
    Verdict,
    Where,
    log_line,
)
from mailrelay.cleanup.header_rewrite import RECIPIENT_FIELDS, SENDER_FIELDS, field_name
from mailrelay.cleanup.header_rewrite import rewrite_field as map_field
from mailrelay.cleanup.mime import Kind, MimeLimits, Part, Piece, is_mime, walk
from mailrelay.config.model import Config
from mailrelay.maps.lookup import Maps
from mailrelay.maps.registry import MapCache

Log = Callable[[str], None]

#: The smtp client logs the first 60 characters of a line (captured).
SMTP_LOG_WIDTH = 60


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What one delivery sends, after output rewriting."""

    content: bytes
    sender: str
    #: Queued recipient address -> the address sent in RCPT TO.
    recipients: dict[str, str]


def _checks(config: Config, name: str, cache: MapCache) -> ContentChecks | None:
    spec = config.get_str(name).strip()
    return ContentChecks(name, spec, cache) if spec else None


def _output_limits(config: Config) -> MimeLimits:
    """The walk's limits for the smtp client: never disabled (Postfix's smtp follows MIME
    whatever disable_mime_input_processing says; captured in tests/golden/mime_checks)."""
    limits = MimeLimits.from_config(config)
    return MimeLimits(False, limits.nesting_limit, limits.boundary_limit)


@dataclass(frozen=True, slots=True)
class _Opened:
    """A checks parameter and its tables, opened for one delivery."""

    checks: ContentChecks
    maps: Maps

    @classmethod
    def of(cls, checks: ContentChecks | None) -> _Opened | None:
        return None if checks is None else cls(checks, checks.tables())


@dataclass(frozen=True, slots=True)
class OutputRewrite:
    generic: AddressMap | None = None
    header_checks: ContentChecks | None = None
    body_checks: ContentChecks | None = None
    #: For MIME-Version and Content-* fields, and every field of a multipart part.
    mime_header_checks: ContentChecks | None = None
    #: For the other fields of an attached message/*.
    nested_header_checks: ContentChecks | None = None
    mime: MimeLimits = field(default_factory=MimeLimits)

    @classmethod
    def from_config(cls, config: Config, cache: MapCache | None = None) -> OutputRewrite:
        cache = cache or MapCache()
        return cls(AddressMap.from_config(config, "smtp_generic_maps", cache, "generic"),
                   _checks(config, "smtp_header_checks", cache),
                   _checks(config, "smtp_body_checks", cache),
                   _checks(config, "smtp_mime_header_checks", cache),
                   _checks(config, "smtp_nested_header_checks", cache),
                   _output_limits(config))

    @property
    def active(self) -> bool:
        return any((self.generic, self.header_checks, self.body_checks,
                    self.mime_header_checks, self.nested_header_checks))

    @property
    def walks(self) -> bool:
        """Whether any table sees what follows the primary header."""
        return any((self.mime_header_checks, self.nested_header_checks, self.body_checks))

    def apply(self, queue_id: str, sender: str, recipients: list[str], content: bytes,
              log: Log) -> Outgoing:
        """The envelope and content to send for one delivery (raises CleanupDefer)."""
        mapped = {r: r for r in recipients}
        if not self.active:
            return Outgoing(content, sender, mapped)
        generic = self.generic.tables() if self.generic is not None else None
        if generic is not None:
            sender = self._map(generic, sender)
            mapped = {r: self._map(generic, r) for r in recipients}
        tables = _Tables(_Opened.of(self.header_checks), _Opened.of(self.mime_header_checks),
                         _Opened.of(self.nested_header_checks), _Opened.of(self.body_checks))
        if not self.walks:
            fields, rest = split_fields(content)
            pieces: Iterable[Piece] = [*(Piece(Kind.HEADER, f) for f in fields),
                                       Piece(Kind.BODY, rest)]
        else:
            pieces = walk(content, self.mime, body_lines=self.body_checks is not None)
        out: list[bytes] = []
        for piece in pieces:
            if piece.kind is Kind.HEADER:
                out.append(self._header(queue_id, piece, tables.of(piece), generic, log))
            elif piece.kind is Kind.BODY and tables.body is not None and self.walks:
                out += self._body(queue_id, tables.body, piece.data, log)
            else:
                out.append(piece.data)
        return Outgoing(b"".join(out), sender, mapped)

    def _map(self, maps: Maps, address: str) -> str:
        assert self.generic is not None
        found = self.generic.lookup(maps, address)
        return address if found is None else found.address

    def _header(self, queue_id: str, piece: Piece, checks: _Opened | None,
                generic: Maps | None, log: Log) -> bytes:
        before, field = b"", piece.data
        if checks is not None:
            verdict = checks.checks.check(checks.maps, logical(field))
            if verdict is not None:
                edited = _apply(queue_id, checks.checks.title, verdict, Where.HEADER, field,
                                log)
                if edited is None:
                    return b""
                before, field = edited
        name = field_name(field)
        if generic is None or piece.part is not Part.PRIMARY:
            return before + field
        if name in SENDER_FIELDS or name in RECIPIENT_FIELDS:
            field = map_field(field, lambda a: self._map(generic, a) if a else a) or field
        return before + field

    def _body(self, queue_id: str, body: _Opened, line: bytes, log: Log) -> list[bytes]:
        if line in (CRLF, b""):  # no table sees an empty line (captured)
            return [line]
        text = line.removesuffix(CRLF).decode("utf-8", "surrogateescape")
        verdict = body.checks.check(body.maps, text)
        if verdict is None:
            return [line]
        edited = _apply(queue_id, body.checks.title, verdict, Where.BODY, line, log)
        return [] if edited is None else list(edited)


@dataclass(frozen=True, slots=True)
class _Tables:
    """The smtp_*_checks tables of one delivery."""

    header: _Opened | None
    mime_header: _Opened | None
    nested_header: _Opened | None
    body: _Opened | None

    def of(self, piece: Piece) -> _Opened | None:
        """The table that sees a header field (as cleanup chooses, captured)."""
        if piece.part is Part.MULTIPART or is_mime(piece.data):
            return self.mime_header
        return self.header if piece.part is Part.PRIMARY else self.nested_header


def _apply(queue_id: str, title: str, verdict: Verdict, where: Where, line: bytes,
           log: Log) -> tuple[bytes, bytes] | None:
    """(text to put before, the line) after an output action; None: the line goes."""
    shown = logical(line)
    action = verdict.action
    if action not in OUTPUT_ACTIONS:
        what = "unknown" if action is Action.UNKNOWN else "unsupported"
        log(f"warning: {what} command in {title} map: {verdict.word} {verdict.text}".rstrip())
        return b"", line
    if action is Action.IGNORE:
        return None
    if action in (Action.DUNNO, Action.OK):
        return b"", line
    log(log_line(queue_id, verdict, where, shown, width=SMTP_LOG_WIDTH))
    if action is Action.STRIP:
        return None
    text = (verdict.text.encode("utf-8", "surrogateescape") + CRLF)
    if action is Action.REPLACE:
        return b"", text
    if action is Action.PREPEND:
        return text, line
    return b"", line  # WARN, INFO
