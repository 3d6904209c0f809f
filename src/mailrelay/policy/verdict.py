"""What a restriction stage decides: a :class:`Verdict` (decision, reply, log lines, actions).

A stage either has no objection (``PERMIT`` after an explicit ``permit``/``OK``, ``DUNNO``
when nothing decided) or refuses the command with a reply: ``REJECT`` for 5xx, ``DEFER`` for
4xx.  Besides the reply, a stage reports what Postfix's smtpd would have logged (the
``NOQUEUE: reject: RCPT from host[addr]: ...; from=<...> to=<...> proto=ESMTP helo=<...>``
lines, ``reject_warning``, ``hold``, ``warn``..., and configuration warnings) and the access
table actions that the rest of the transaction must honour (HOLD, DISCARD, FILTER, REDIRECT,
BCC, PREPEND).  The shell writes the log lines and keeps the actions with the transaction.

The log line format is Postfix's log_whatsup(): ``QUEUEID: WHAT: WHERE from NAMEADDR: TEXT;``
followed by `` from=<sender>`` (when a MAIL FROM was given), `` to=<recipient>``,
`` proto=SMTP|ESMTP`` and `` helo=<name>`` (when known).  Addresses are logged in external
(quoted) form; replies carry the internal form, as Postfix's do.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailrelay.mail.reply import Reply
from mailrelay.maps.lookup import quote_localpart

__all__ = [
    "Action",
    "ActionKind",
    "Decision",
    "LogLine",
    "Reply",
    "Severity",
    "Verdict",
    "access_denied_reply",
    "whatsup_line",
]


class Decision(enum.Enum):
    PERMIT = "permit"
    DUNNO = "dunno"
    REJECT = "reject"
    DEFER = "defer"


class Severity(enum.Enum):
    INFO = "info"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class LogLine:
    severity: Severity
    text: str

    def __str__(self) -> str:
        # Postfix prefixes warnings, and only warnings, in the log line itself.
        return f"warning: {self.text}" if self.severity is Severity.WARNING else self.text


class ActionKind(enum.Enum):
    """Access table actions that act on the whole message (access(5) "OTHER ACTIONS")."""

    HOLD = "HOLD"
    DISCARD = "DISCARD"
    FILTER = "FILTER"
    REDIRECT = "REDIRECT"
    BCC = "BCC"
    PREPEND = "PREPEND"


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    #: FILTER's transport:destination, REDIRECT/BCC's address, PREPEND's header, HOLD and
    #: DISCARD's optional text.
    value: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    #: The reply to send instead of the command's own success reply; None when accepted.
    reply: Reply | None = None
    log: tuple[LogLine, ...] = ()
    actions: tuple[Action, ...] = ()
    #: A defer_if_permit still pending when the stage ended without rejecting: Postfix keeps
    #: it for the next stage of the session (``Request.deferrals``).  Without
    #: smtpd_delay_reject the shell must pass it on; with it, stages are re-run at RCPT anyway.
    deferred: Reply | None = None

    @property
    def accepted(self) -> bool:
        return self.decision in (Decision.PERMIT, Decision.DUNNO)

    @property
    def discard(self) -> bool:
        return any(a.kind is ActionKind.DISCARD for a in self.actions)

    @staticmethod
    def from_reply(reply: Reply | None, log: tuple[LogLine, ...] = (),
                   actions: tuple[Action, ...] = (), permit: bool = False,
                   deferred: Reply | None = None) -> Verdict:
        if reply is None:
            decision = Decision.PERMIT if permit else Decision.DUNNO
        else:
            decision = Decision.DEFER if reply.code < 500 else Decision.REJECT
        return Verdict(decision, reply, log, actions, deferred)


def external(address: str) -> str:
    """An address in the form Postfix logs it (info_log_address_format = external)."""
    return quote_localpart(address) if address else address


def whatsup_line(*, queue_id: str | None, whatsup: str, where: str, namaddr: str, text: str,
                 sender: str | None, recipient: str | None, protocol: str | None,
                 helo: str | None) -> str:
    """Postfix's log_whatsup(): one ``NOQUEUE: reject: RCPT from ...`` line."""
    parts = [f"{queue_id or 'NOQUEUE'}: {whatsup}: {where} from {namaddr}: {text};"]
    if sender is not None:
        parts.append(f" from=<{external(sender)}>")
    if recipient is not None:
        parts.append(f" to=<{external(recipient)}>")
    if protocol:
        parts.append(f" proto={protocol}")
    if helo is not None:
        parts.append(f" helo=<{helo}>")
    return "".join(parts)


def access_denied_reply(namaddr: str) -> Reply:
    """What smtpd answers to every command but QUIT after smtpd_client_restrictions rejected
    the client at connect time (smtpd_delay_reject = no).  The rejection itself is sent
    instead of the greeting banner.  Both captured from Postfix 3.7."""
    return Reply(503, "5.7.0", f"Error: access denied for {namaddr}")
