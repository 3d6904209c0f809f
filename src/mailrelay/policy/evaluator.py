"""The restriction evaluator: Postfix's generic_checks() and smtpd_check_reject().

Theory of operation.  A restriction list is evaluated left to right.  Each restriction
answers OK (permit: stop, the list accepts), REJECT (stop, with a reply) or DUNNO (go on);
a list that runs out answers DUNNO.  Around that simple loop Postfix keeps a little state,
and so does :class:`Run` (one Run per stage evaluation; it never outlives the call):

* ``warn_if_reject`` turns the *next* restriction's reject into a ``reject_warning`` log
  line (a restriction class after it is covered as a whole: the flag remembers the nesting
  level that set it).
* ``defer_if_permit`` / ``defer_if_reject`` remember a 4xx reply: if the stage would end up
  accepting (resp. rejecting with 5xx), that reply is given instead.  The first reason
  recorded wins.  Temporary DNS failures use this so that a later reject is not masked and
  a later permit is not granted.
* A reject reply is checked (code 4xx/5xx, valid RFC 3463 status, else "450 4.7.1 Service
  unavailable" with a warning), truncated to 510 characters, made printable, turned into
  4xx under ``soft_bounce``, and its status' first digit made equal to the code's.  Every
  reject is logged in Postfix's format.
* A table lookup failure ends the evaluation at once with "451 4.3.0 <name>: Temporary
  lookup failure"; a configuration error (unknown restriction, bad argument) with
  "451 4.3.5 Server configuration error" (Postfix's longjmp; here :class:`Abort`).
* A restriction that needs a DNS answer not yet known raises
  :class:`~mailrelay.policy.dns.DnsNeeded`; the stage returns that to the shell (see
  :mod:`mailrelay.policy.dns`).

Restriction names map to handler functions (``restrictions.HANDLERS``); names listed in
``smtpd_restriction_classes`` are evaluated as nested lists.  Names are case-insensitive,
class names are not (as in Postfix).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

from mailrelay.mail.reply import Reply
from mailrelay.maps.base import MapLookupError
from mailrelay.policy.access import dsn_valid
from mailrelay.policy.dns import DnsAnswers, DnsQuery, DnsResult, answer
from mailrelay.policy.request import Request
from mailrelay.policy.resolve import Resolved, resolve
from mailrelay.policy.settings import PolicySettings
from mailrelay.policy.steps import WARN_IF_REJECT, Step
from mailrelay.policy.verdict import Action, LogLine, Severity, whatsup_line

#: Postfix truncates reply text to what fits in one SMTP reply line.
_REPLY_LIMIT = 510


class Status(enum.IntEnum):
    DUNNO = 0
    OK = 1
    REJECT = 2


class ErrorClass(enum.Enum):
    """Postfix's MAIL_ERROR_*: only POLICY and PROTOCOL rejects may become warnings."""

    POLICY = "policy"
    PROTOCOL = "protocol"
    BOUNCE = "bounce"
    SOFTWARE = "software"
    RESOURCE = "resource"
    DATA = "data"


_NOT_WARNABLE = (ErrorClass.SOFTWARE, ErrorClass.RESOURCE, ErrorClass.DATA)


@dataclass(frozen=True, slots=True)
class Pending:
    """A deferral kept for later (defer_if_permit / defer_if_reject)."""

    error_class: ErrorClass
    reply: Reply


@dataclass(frozen=True, slots=True)
class Context:
    """Who is being judged: ``<reply_name>: reply_class rejected``, and the bare-table check."""

    reply_name: str
    reply_class: str
    default_check: str | None


class Abort(Exception):
    """Ends the evaluation; the reply is already in ``Run.reply``."""


Handler = Callable[["Run", Step, Context], Status]


class Run:
    """The state of one stage evaluation (Postfix's SMTPD_STATE check fields)."""

    def __init__(self, settings: PolicySettings, request: Request, answers: DnsAnswers,
                 handlers: Mapping[str, Handler], where: str) -> None:
        self.settings = settings
        self.request = request
        self.answers = answers
        self.handlers = handlers
        self.where = where
        self.helo = request.helo
        self.sender = request.sender
        self.recipient = request.recipient
        self.log: list[LogLine] = []
        self.actions: list[Action] = []
        self.reply: Reply | None = None
        self.warn_if_reject = 0
        self.recursion = 0
        self.defer_if_permit: Pending | None = None
        self.defer_if_reject: Pending | None = None
        # defer_if_permit as it stood after each earlier stage (defer_if_permit_client...).
        self.after_client: Pending | None = None
        self.after_helo: Pending | None = None
        self.after_sender: Pending | None = None
        self.discard = request.discard
        self.recipient_checked = False
        self.sender_checked = False
        self._resolved: dict[str, Resolved] = {}

    # -- facts ---------------------------------------------------------------------------

    @property
    def namaddr(self) -> str:
        return self.request.namaddr(self.settings.flags.port_logging)

    def dns(self, query: DnsQuery) -> DnsResult:
        return answer(self.answers, query)

    def resolve(self, address: str) -> Resolved:
        """smtpd_resolve_addr(), cached per evaluation; a table failure defers."""
        resolved = self._resolved.get(address)
        if resolved is None:
            try:
                resolved = resolve(self.settings.site, address)
            except MapLookupError:
                self.dict_retry(address)
            self._resolved[address] = resolved
        return resolved

    # -- logging -------------------------------------------------------------------------

    def warn(self, text: str) -> None:
        self.log.append(LogLine(Severity.WARNING, text))

    def info(self, text: str) -> None:
        self.log.append(LogLine(Severity.INFO, text))

    def whatsup(self, what: str, text: str) -> None:
        self.info(whatsup_line(
            queue_id=self.request.queue_id, whatsup=what, where=self.where,
            namaddr=self.namaddr, text=text, sender=self.sender, recipient=self.recipient,
            protocol=self.request.protocol, helo=self.helo))

    # -- outcomes ------------------------------------------------------------------------

    def reset(self) -> None:
        """SMTPD_CHECK_RESET: before each top-level list."""
        self.recursion = 0
        self.warn_if_reject = 0
        self.defer_if_reject = None

    def reject(self, error_class: ErrorClass, code: int, dsn: str, text: str) -> Status:
        """smtpd_check_reject(): record and log a reject (or only log it, under warn)."""
        warn = bool(self.warn_if_reject) and error_class not in _NOT_WARNABLE
        line = f"{code} {dsn} {text}"
        if not 400 <= code <= 599:
            self.warn(f"SMTP reply code configuration error: {line}")
            line = "450 4.7.1 Service unavailable"
        elif not dsn_valid(line[4:]):
            self.warn(f"DSN detail code configuration error: {line}")
            line = "450 4.7.1 Service unavailable"
        line = "".join(c if c.isprintable() else " " for c in line[:_REPLY_LIMIT])
        pending = self.defer_if_reject
        if not warn and pending is not None and line[0] == "5":
            self.warn_if_reject = 0
            self.defer_if_reject = None
            r = pending.reply
            return self.reject(pending.error_class, r.code, r.enhanced, r.text)
        if self.settings.flags.soft_bounce and line[0] == "5":
            line = "4" + line[1:]
        line = line[:4] + line[0] + line[5:]
        self.whatsup("reject_warning" if warn else "reject", line)
        if warn:
            return Status.DUNNO
        code_text, dsn_text, rest = line.split(" ", 2)
        self.reply = Reply(int(code_text), dsn_text, rest)
        return Status.REJECT

    def defer_if(self, which: str, error_class: ErrorClass, code: int, dsn: str,
                 text: str) -> Status:
        """Remember a deferral (the first reason of each kind wins)."""
        pending = Pending(error_class, Reply(code, dsn, text))
        if which == "permit" and self.defer_if_permit is None:
            self.defer_if_permit = pending
        elif which == "reject" and self.defer_if_reject is None:
            self.defer_if_reject = pending
        return Status.DUNNO

    def defer_if_permit_or_reject(self, as_defer_if_permit: bool, error_class: ErrorClass,
                                  code: int, dsn: str, text: str) -> Status:
        """DEFER_IF_PERMIT2(): defer later, unless warn_if_reject or the action is "defer"."""
        if not self.warn_if_reject and as_defer_if_permit:
            return self.defer_if("permit", error_class, code, dsn, text)
        return self.reject(error_class, code, dsn, text)

    def permit(self, action: str, reply_class: str, reply_name: str, extra: str = "") -> Status:
        """smtpd_acl_permit(): OK, logged when smtpd_log_access_permit_actions says so."""
        if self.defer_if_permit is None and self.settings.permit_log_actions.match_string(action):
            text = f"action={action} for {reply_class}={reply_name}"
            self.whatsup("permit", f"{text} {extra}" if extra else text)
        return Status.OK

    def dict_retry(self, reply_name: str) -> NoReturn:
        self.reject(ErrorClass.DATA, 451, "4.3.0", f"<{reply_name}>: Temporary lookup failure")
        raise Abort

    def server_error(self) -> NoReturn:
        self.reject(ErrorClass.SOFTWARE, 451, "4.3.5", "Server configuration error")
        raise Abort

    # -- the loop ------------------------------------------------------------------------

    def generic_checks(self, steps: tuple[Step, ...], ctx: Context) -> Status:
        saved = self.recursion
        self.recursion += 1
        status = Status.DUNNO
        for i, step in enumerate(steps):
            if self.discard:
                break
            if step.key == WARN_IF_REJECT:
                if not self.warn_if_reject:
                    self.warn_if_reject = self.recursion
                continue
            status = self._one(step, ctx)
            if status is Status.OK and step.key == "permit" and i + 1 < len(steps):
                self.warn(f"restriction `{steps[i + 1]}' after `{step.name}' is ignored")
            if self.warn_if_reject >= self.recursion:
                self.warn_if_reject = 0
            if status is not Status.DUNNO:
                break
            if self.defer_if_permit is not None and self.defer_if_reject is not None:
                break
        self.recursion = saved
        if self.warn_if_reject >= self.recursion:
            self.warn_if_reject = 0
        return status

    def _one(self, step: Step, ctx: Context) -> Status:
        if not step.name:
            if ctx.default_check is None:
                self.warn(
                    "specify one of (check_client_access, check_reverse_client_hostname_access,"
                    " check_helo_access, check_sender_access, check_recipient_access, "
                    f"check_etrn_access) before {ctx.reply_class} restriction \"{step.arg}\"")
                self.server_error()
            step = Step(ctx.default_check or "", step.arg)
        handler = self.handlers.get(step.key)
        if handler is not None:
            try:
                return handler(self, step, ctx)
            except MapLookupError:
                return self.dict_retry(ctx.reply_name)
        nested = self.settings.classes.get(step.name)
        if nested is not None:
            return self.generic_checks(nested, ctx)
        self.warn(f'unknown smtpd restriction: "{step.name}"')
        return self.server_error()
