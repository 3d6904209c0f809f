"""The smtp client's output rewriting: smtp_generic_maps, smtp_header_checks, smtp_body_checks.

Theory of operation.  These apply on the way out only: the queue keeps the message as
cleanup wrote it, and each delivery rewrites what it sends.  smtp_generic_maps maps the
envelope sender and each recipient (MAIL FROM, RCPT TO; the log keeps the queued address)
and the addresses of the primary header fields (one lookup each, generic(5)).  For each
primary header, smtp_header_checks comes first, on the field as queued: IGNORE drops it,
REPLACE puts its text in its place, PREPEND puts its text before it, WARN and INFO log; then
the (possibly replaced) field's addresses are mapped.  MIME-Version and the MIME Content-*
fields are looked up in smtp_mime_header_checks instead (Postfix's HDR_OPT_MIME).
smtp_body_checks sees each body line (IGNORE, REPLACE, PREPEND, WARN, INFO).  Actions that
would change the delivery (REJECT, HOLD, REDIRECT...) are not available here: they are
logged as unsupported and the line is kept.  A table that cannot answer raises
CleanupDefer: the delivery is deferred, never made unfiltered.

SECURITY: reads the lookup tables named by the configuration; no network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailrelay.cleanup.address_map import AddressMap
from mailrelay.cleanup.fields import CRLF, logical, split_fields
from mailrelay.cleanup.header_checks import (
    OUTPUT_ACTIONS,
    Action,
    ContentChecks,
    Verdict,
    Where,
    is_mime,
    log_line,
)
from mailrelay.cleanup.header_rewrite import RECIPIENT_FIELDS, SENDER_FIELDS, field_name
from mailrelay.cleanup.header_rewrite import rewrite_field as map_field
from mailrelay.config.model import Config
from mailrelay.maps.lookup import Maps
from mailrelay.maps.registry import MapCache

Log = Callable[[str], None]


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
    #: For MIME-Version and Content-* of the primary header section.
    mime_header_checks: ContentChecks | None = None

    @classmethod
    def from_config(cls, config: Config, cache: MapCache | None = None) -> OutputRewrite:
        cache = cache or MapCache()
        return cls(AddressMap.from_config(config, "smtp_generic_maps", cache, "generic"),
                   _checks(config, "smtp_header_checks", cache),
                   _checks(config, "smtp_body_checks", cache),
                   _checks(config, "smtp_mime_header_checks", cache))

    @property
    def active(self) -> bool:
        return any((self.generic, self.header_checks, self.body_checks,
                    self.mime_header_checks))

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
        fields, rest = split_fields(content)
        plain = _Opened.of(self.header_checks)
        mime = _Opened.of(self.mime_header_checks)
        headers = b"".join(self._header(queue_id, f, mime if is_mime(f) else plain, generic, log)
                           for f in fields)
        if self.body_checks is not None:
            rest = self._body(queue_id, rest, log)
        return Outgoing(headers + rest, sender, mapped)

    def _map(self, maps: Maps, address: str) -> str:
        assert self.generic is not None
        found = self.generic.lookup(maps, address)
        return address if found is None else found.address

    def _header(self, queue_id: str, field: bytes, checks: _Opened | None,
                generic: Maps | None, log: Log) -> bytes:
        before = b""
        if checks is not None:
            verdict = checks.checks.check(checks.maps, logical(field))
            if verdict is not None:
                edited = _apply(queue_id, checks.checks.title, verdict, Where.HEADER, field,
                                log)
                if edited is None:
                    return b""
                before, field = edited
        name = field_name(field)
        if generic is not None and (name in SENDER_FIELDS or name in RECIPIENT_FIELDS):
            field = map_field(field, lambda a: self._map(generic, a) if a else a) or field
        return before + field

    def _body(self, queue_id: str, rest: bytes, log: Log) -> bytes:
        assert self.body_checks is not None
        maps = self.body_checks.tables()
        out: list[bytes] = []
        if rest.startswith(CRLF):  # the blank line after the headers is not body
            out.append(CRLF)
            rest = rest[2:]
        for line in _lines(rest):
            text = line.removesuffix(CRLF).decode("utf-8", "surrogateescape")
            verdict = self.body_checks.check(maps, text)
            if verdict is None:
                out.append(line)
                continue
            edited = _apply(queue_id, self.body_checks.title, verdict, Where.BODY, line, log)
            if edited is not None:
                out += edited
        return b"".join(out)


def _lines(data: bytes) -> list[bytes]:
    """*data* cut after each CRLF (a bare CR or LF does not end a line)."""
    pieces = data.split(CRLF)
    lines = [p + CRLF for p in pieces[:-1]]
    return [*lines, pieces[-1]] if pieces[-1] else lines


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
    log(log_line(queue_id, verdict, where, shown))
    if action is Action.STRIP:
        return None
    text = (verdict.text.encode("utf-8", "surrogateescape") + CRLF)
    if action is Action.REPLACE:
        return b"", text
    if action is Action.PREPEND:
        return text, line
    return b"", line  # WARN, INFO
