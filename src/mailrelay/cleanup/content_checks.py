"""header_checks, mime_header_checks, nested_header_checks and body_checks in cleanup.

Theory of operation.  cleanup follows the message's MIME structure (:mod:`mime`, as Postfix's
mime_state; captured in tests/golden/mime_checks) and looks up each piece in its table:
the primary header's fields (its own Received: included) in header_checks, but MIME-Version
and the Content-* fields in mime_header_checks; every field of a multipart part header in
mime_header_checks; the fields of an attached message/* in nested_header_checks (its MIME
fields in mime_header_checks); each non-empty body line -- preambles, boundary lines and
epilogues included -- in body_checks, while its offset in its body section is under
body_checks_size_limit.  mime_header_checks and nested_header_checks are $header_checks
unless set.  With disable_mime_input_processing everything after the primary header is
body.  The actions (captured in tests/golden/rewriting/actions):

* IGNORE drops the field or line; REPLACE puts the action's text in its place; PREPEND puts
  the text before it; WARN and INFO only log; DUNNO and OK do nothing.
* REJECT stops the inspection; the client is answered ``550 5.7.1 <text>`` (a text that
  starts with a 4.x.x or 5.x.x code keeps it), nothing is queued.
* DISCARD stops the inspection and drops the message after the client was told it was
  accepted.  HOLD puts the message on hold and goes on; REDIRECT replaces every recipient
  and stops the inspection (Postfix 3.7 inspects nothing after it); BCC adds a recipient;
  FILTER stores a content filter (the last one wins).  PASS logs and stops every inspection
  of the message; the message goes on unchanged.
* An unknown action is logged as ``warning: unknown command in header_checks map: X`` and
  the line is kept.

Every action but IGNORE, DUNNO and OK writes ``QUEUEID: <action>: header <field> from
host[addr]; from=<sender> to=<first recipient> proto=ESMTP helo=<helo>: <text>`` ("header"
for a field of any header, "body" for a body line; folded lines shown with ``?`` for each
control character, as Postfix's printable()).  A header is inspected whole, even when longer
than header_size_limit (cleanup cuts it afterwards).  Without mime_header_checks,
nested_header_checks and body_checks only the primary header is looked at; the walk over
the body happens only when some table can see it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailrelay.cleanup.fields import CRLF, logical, split_fields
from mailrelay.cleanup.header_checks import (
    Action,
    ContentChecks,
    Verdict,
    Where,
    log_line,
)
from mailrelay.cleanup.mime import Kind, MimeLimits, Part, Piece, is_mime, walk
from mailrelay.config.model import Config
from mailrelay.maps.lookup import Maps

if TYPE_CHECKING:  # the registry imports lmdb: sendmail imports cleanup without it
    from mailrelay.maps.registry import MapCache


#: The queue file attribute that keeps a FILTER action's ``transport:destination``.
FILTER_ATTRIBUTE = "content_filter"

#: Actions after which Postfix inspects nothing more.
_FINAL = frozenset({Action.REJECT, Action.DISCARD, Action.REDIRECT, Action.PASS})
_SILENT = frozenset({Action.IGNORE, Action.DUNNO, Action.OK, Action.UNKNOWN})


class ContentRejected(OSError):
    """A REJECT action: the client is to be answered ``550 <dsn> <text>``.

    An OSError so that a caller that knows only "the message could not be queued" answers
    451 and never accepts the message; smtpd answers 550 with :attr:`dsn` and :attr:`text`.
    """

    def __init__(self, reject: str) -> None:
        self.dsn, _, self.text = reject.partition(" ")
        super().__init__(reject)


@dataclass(slots=True)
class Outcome:
    """What the checks decided about the message (beyond its edited content)."""

    #: ``5.7.1 text``: the message is refused at end of DATA.
    reject: str | None = None
    #: The HOLD text ("" when none was given); None: not held.
    hold: str | None = None
    discard: bool = False
    #: REDIRECT: this address replaces every recipient.
    redirect: str | None = None
    bcc: list[str] = field(default_factory=list)
    #: FILTER's ``transport:destination``.
    filter: str | None = None
    #: Log lines, in order (``QUEUEID: ...``; unqueued warnings start with "warning: ").
    log: list[str] = field(default_factory=list)
    #: A PASS action: nothing more of the message was inspected.
    passed: bool = False
    #: How many log lines come before cleanup's ``message-id=``: those of the primary
    #: header fields before Message-Id (or of the whole primary header when it has none);
    #: None when a DISCARD or REJECT among those fields means Postfix never logs it
    #: (captured: tests/golden/content_filter).
    #: (Where a line goes, not what was decided: left out of comparisons.)
    message_id_at: int | None = field(default=0, compare=False)

    @property
    def stopped(self) -> bool:
        return self.reject is not None or self.discard or self.redirect is not None


def reject_text(text: str) -> str:
    """A REJECT text with its enhanced status code: ``5.7.1`` unless it brings one."""
    code, _, rest = text.partition(" ")
    parts = code.split(".")
    if len(parts) == 3 and parts[0] in ("4", "5") and all(p.isdigit() for p in parts):
        return text if rest else code
    return f"5.7.1 {text}" if text else "5.7.1 Message content rejected"


def _checks(config: Config, name: str, cache: MapCache) -> ContentChecks | None:
    spec = config.get_str(name).strip()
    return ContentChecks(name, spec, cache) if spec else None


@dataclass(frozen=True, slots=True)
class InputChecks:
    """The checks cleanup applies, read once; :meth:`run` per message."""

    header: ContentChecks | None
    mime_header: ContentChecks | None
    body: ContentChecks | None
    header_size_limit: int = 102400
    body_size_limit: int = 51200
    nested_header: ContentChecks | None = None
    mime: MimeLimits = field(default_factory=MimeLimits)

    @classmethod
    def from_config(cls, config: Config, cache: MapCache) -> InputChecks | None:
        found = cls(_checks(config, "header_checks", cache),
                    _checks(config, "mime_header_checks", cache),
                    _checks(config, "body_checks", cache),
                    config.get_int("header_size_limit"),
                    config.get_int("body_checks_size_limit"),
                    _checks(config, "nested_header_checks", cache),
                    MimeLimits.from_config(config))
        if not any((found.header, found.mime_header, found.nested_header, found.body)):
            return None
        return found

    @property
    def walks(self) -> bool:
        """Whether any table sees what follows the primary header."""
        return any((self.mime_header, self.nested_header, self.body)) and not (
            self.mime.disabled and self.body is None)

    def run(self, queue_id: str, content: bytes, context: str) -> tuple[bytes, Outcome]:
        """*content* (SMTP form, Received: first) after the checks, and their outcome."""
        outcome = Outcome()
        run = _Run(self, queue_id, context, outcome)
        if not self.walks:
            fields, rest = split_fields(content)
            edited = b"".join(run.header(Piece(Kind.HEADER, f)) for f in fields) + rest
        else:
            pieces = walk(content, self.mime, body_lines=self.body is not None)
            edited = b"".join(run.piece(p) for p in pieces)
        run.mark_message_id()  # a header section with no end: its end is the content's
        return edited, outcome

    def table(self, piece: Piece) -> ContentChecks | None:
        """The table that sees a header field (Postfix's choice, captured)."""
        if piece.part is Part.MULTIPART or is_mime(piece.data):
            return self.mime_header
        return self.header if piece.part is Part.PRIMARY else self.nested_header


class _Run:
    """One message's inspection."""

    def __init__(self, checks: InputChecks, queue_id: str, context: str,
                 outcome: Outcome) -> None:
        self.checks = checks
        self.queue_id = queue_id
        self.context = context
        self.outcome = outcome
        self.done = False
        self._open: dict[str, Maps] = {}
        self._marked = False

    def _tables(self, checks: ContentChecks) -> Maps:
        if checks.spec not in self._open:
            self._open[checks.spec] = checks.tables()
        return self._open[checks.spec]

    def mark_message_id(self) -> None:
        """Where ``message-id=`` goes among the log lines (once, at the primary Message-Id
        field or at the end of the primary header)."""
        if not self._marked:
            self._marked = True
            stopped = self.outcome.discard or self.outcome.reject is not None
            self.outcome.message_id_at = None if stopped else len(self.outcome.log)

    def piece(self, piece: Piece) -> bytes:
        if piece.kind is not Kind.HEADER or piece.part is not Part.PRIMARY:
            self.mark_message_id()
        if piece.kind is Kind.HEADER:
            return self.header(piece)
        if piece.kind is Kind.BODY:
            return self.body(piece)
        return piece.data

    def header(self, piece: Piece) -> bytes:
        if piece.part is Part.PRIMARY and \
                piece.data[:piece.data.find(b":")].strip().lower() == b"message-id":
            self.mark_message_id()
        checks = self.checks.table(piece)
        if checks is None or self.done:
            return piece.data
        return self._inspect(checks, Where.HEADER, piece.data, logical(piece.data))

    def body(self, piece: Piece) -> bytes:
        checks, line = self.checks.body, piece.data
        if (checks is None or self.done or piece.offset >= self.checks.body_size_limit
                or line in (CRLF, b"")):  # no table sees an empty line (captured)
            return line
        text = line.removesuffix(CRLF).decode("utf-8", "surrogateescape")
        return self._inspect(checks, Where.BODY, line, text)

    def _inspect(self, checks: ContentChecks, where: Where, raw: bytes, text: str) -> bytes:
        verdict = checks.check(self._tables(checks), text)
        if verdict is None:
            return raw
        return self._act(checks.title, verdict, where, raw, text)

    def _act(self, title: str, verdict: Verdict, where: Where, raw: bytes, text: str) -> bytes:
        action, outcome = verdict.action, self.outcome
        if action is Action.UNKNOWN:
            outcome.log.append(f"warning: unknown command in {title} map: "
                               f"{verdict.word} {verdict.text}".rstrip())
            return raw
        if action is Action.REJECT:
            verdict = Verdict(action, reject_text(verdict.text), verdict.word)
            outcome.reject = verdict.text
        if action is Action.FILTER and ":" not in verdict.text:
            # Postfix ignores such a FILTER, with these warnings only (captured).
            outcome.log.append(
                f"warning: bad FILTER command {verdict.text} in {title} -- need "
                "transport:destination" if verdict.text else
                f"warning: missing FILTER command argument in {title} map")
            return raw
        if action not in _SILENT:
            outcome.log.append(log_line(self.queue_id, verdict, where, text, self.context))
        if action in _FINAL:
            self.done = True
        return _EFFECTS.get(action, _keep)(outcome, verdict, raw)


def _keep(_outcome: Outcome, _verdict: Verdict, raw: bytes) -> bytes:
    return raw


def _text(verdict: Verdict) -> bytes:
    return verdict.text.encode("utf-8", "surrogateescape") + CRLF


def _hold(outcome: Outcome, verdict: Verdict, raw: bytes) -> bytes:
    outcome.hold = verdict.text
    return raw


def _discard(outcome: Outcome, _verdict: Verdict, raw: bytes) -> bytes:
    outcome.discard = True
    return raw


def _redirect(outcome: Outcome, verdict: Verdict, raw: bytes) -> bytes:
    outcome.redirect = verdict.text
    return raw


def _bcc(outcome: Outcome, verdict: Verdict, raw: bytes) -> bytes:
    outcome.bcc.append(verdict.text)
    return raw


def _filter(outcome: Outcome, verdict: Verdict, raw: bytes) -> bytes:
    outcome.filter = verdict.text
    return raw


def _pass(outcome: Outcome, _verdict: Verdict, raw: bytes) -> bytes:
    outcome.passed = True
    return raw


_EFFECTS: dict[Action, Callable[[Outcome, Verdict, bytes], bytes]] = {
    Action.IGNORE: lambda _o, _v, _raw: b"",
    Action.STRIP: lambda _o, _v, _raw: b"",
    Action.REPLACE: lambda _o, v, _raw: _text(v),
    Action.PREPEND: lambda _o, v, raw: _text(v) + raw,
    Action.HOLD: _hold,
    Action.DISCARD: _discard,
    Action.REDIRECT: _redirect,
    Action.BCC: _bcc,
    Action.FILTER: _filter,
    Action.PASS: _pass,
}
