"""header_checks and body_checks in cleanup: what each action does to the message.

Theory of operation.  cleanup looks up every primary header (its own Received: included;
MIME-Version and the MIME Content-* fields in mime_header_checks), then each body line up to
body_checks_size_limit bytes, and acts (captured in tests/golden/rewriting/actions):

* IGNORE drops the field or line; REPLACE puts the action's text in its place; PREPEND puts
  the text before it; WARN and INFO only log; DUNNO and OK do nothing.
* REJECT stops the inspection; the client is answered ``550 5.7.1 <text>`` (a text that
  starts with a 4.x.x or 5.x.x code keeps it), nothing is queued.
* DISCARD stops the inspection and drops the message after the client was told it was
  accepted.  HOLD puts the message on hold and goes on; REDIRECT replaces every recipient
  and stops the inspection (Postfix 3.7 inspects nothing after it); BCC adds a recipient;
  FILTER stores a content filter (the last one wins).
* An unknown action is logged as ``warning: unknown command in header_checks map: X`` and
  the line is kept.

Every action but IGNORE, DUNNO and OK writes ``QUEUEID: <action>: header <field> from
host[addr]; from=<sender> to=<first recipient> proto=ESMTP helo=<helo>: <text>`` (folded
lines shown with ``?`` for each control character, as Postfix's printable()).  A header is
inspected whole, even when longer than header_size_limit (cleanup cuts it afterwards).
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
    is_mime,
    log_line,
)
from mailrelay.config.model import Config
from mailrelay.maps.lookup import Maps

if TYPE_CHECKING:  # the registry imports lmdb: sendmail imports cleanup without it
    from mailrelay.maps.registry import MapCache


#: The queue file attribute that keeps a FILTER action's ``transport:destination``.
FILTER_ATTRIBUTE = "content_filter"

#: Actions after which Postfix inspects nothing more.
_FINAL = frozenset({Action.REJECT, Action.DISCARD, Action.REDIRECT})
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

    @classmethod
    def from_config(cls, config: Config, cache: MapCache) -> InputChecks | None:
        found = cls(_checks(config, "header_checks", cache),
                    _checks(config, "mime_header_checks", cache),
                    _checks(config, "body_checks", cache),
                    config.get_int("header_size_limit"),
                    config.get_int("body_checks_size_limit"))
        if found.header is None and found.mime_header is None and found.body is None:
            return None
        return found

    def run(self, queue_id: str, content: bytes, context: str) -> tuple[bytes, Outcome]:
        """*content* (SMTP form, Received: first) after the checks, and their outcome."""
        outcome = Outcome()
        fields, rest = split_fields(content)
        run = _Run(self, queue_id, context, outcome)
        headers = [run.header(f) for f in fields]
        if self.body is not None and not outcome.stopped:
            rest = run.body(rest)
        return b"".join(headers) + rest, outcome


class _Run:
    """One message's inspection."""

    def __init__(self, checks: InputChecks, queue_id: str, context: str,
                 outcome: Outcome) -> None:
        self.checks = checks
        self.queue_id = queue_id
        self.context = context
        self.outcome = outcome
        self._open: dict[str, Maps] = {}

    def _tables(self, checks: ContentChecks) -> Maps:
        if checks.title not in self._open:
            self._open[checks.title] = checks.tables()
        return self._open[checks.title]

    def header(self, raw: bytes) -> bytes:
        mime = is_mime(raw)
        checks = self.checks.mime_header if mime else self.checks.header
        if checks is None or self.outcome.stopped:
            return raw
        # Primary-section MIME fields are logged as "header" too (captured).
        return self._inspect(checks, Where.HEADER, raw, logical(raw))

    def body(self, rest: bytes) -> bytes:
        assert self.checks.body is not None
        out: list[bytes] = []
        pos, seen = 0, 0
        if rest.startswith(CRLF):
            out.append(CRLF)
            pos = 2
        while pos < len(rest):
            end = rest.find(CRLF, pos)
            stop = len(rest) if end < 0 else end + 2
            line = rest[pos:stop]
            pos = stop
            if self.outcome.stopped or seen >= self.checks.body_size_limit:
                out.append(line)
                continue
            seen += len(line)
            text = line.removesuffix(CRLF).decode("utf-8", "surrogateescape")
            out.append(self._inspect(self.checks.body, Where.BODY, line, text))
        return b"".join(out)

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
        if action not in _SILENT:
            outcome.log.append(log_line(self.queue_id, verdict, where, text, self.context))
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
}
