"""The SMTP client's stages and what it says about each recipient, in Postfix's words.

Every text here was checked against Postfix 3.7's smtp(8) (``tests/golden/smtp_client/``):
the stage names after "while" and "in reply to", the reply quoted on one line, the enhanced
status code taken from the reply or derived from it.  A reply that is neither 4xx nor 5xx
where a failure is reported (a 250 to DATA) is a protocol error: ``5.5.0``, and the text
starts with ``Protocol error:``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailrelay.smtp.client_reply import ServerReply


class Stage(enum.Enum):
    """Where the client is: what it waits for, and how Postfix names it in a reason."""

    CONNECT = "connect"
    GREETING = "greeting"
    EHLO = "EHLO"
    HELO = "HELO"
    STARTTLS = "STARTTLS"
    TLS = "TLS handshake"
    AUTH = "AUTH"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    CONTENT = "content"
    DOT = "end of data"
    ABORT = "RSET"
    RSET = "RSET probe"
    QUIT = "QUIT"

    @property
    def during(self) -> str:
        """After "timed out while" / "lost connection with h[a] while"."""
        return _DURING[self]

    @property
    def request(self) -> str:
        """After "(in reply to"."""
        return _REQUEST.get(self, "")

    @property
    def sends_mail(self) -> bool:
        """A failure here decides the fate of the recipients (not so for RSET and QUIT)."""
        return self in _MAIL_STAGES


_DURING = {
    Stage.CONNECT: "connecting",
    Stage.GREETING: "receiving the initial server greeting",
    Stage.EHLO: "performing the EHLO handshake",
    Stage.HELO: "performing the HELO handshake",
    Stage.STARTTLS: "receiving the STARTTLS response",
    Stage.TLS: "performing the TLS handshake",
    # AUTH runs inside the EHLO step in Postfix: a timeout there is "while performing the
    # EHLO handshake".
    Stage.AUTH: "performing the EHLO handshake",
    Stage.MAIL: "sending MAIL FROM",
    Stage.RCPT: "sending RCPT TO",
    Stage.DATA: "sending DATA command",
    Stage.CONTENT: "sending message body",
    Stage.DOT: "sending end of data -- message may be sent more than once",
    Stage.ABORT: "sending final RSET",
    Stage.RSET: "sending RSET probe",
    Stage.QUIT: "sending QUIT",
}
_REQUEST = {
    Stage.MAIL: "MAIL FROM command",
    Stage.RCPT: "RCPT TO command",
    Stage.DATA: "DATA command",
    Stage.DOT: "end of DATA command",
    Stage.ABORT: "final RSET command",
    Stage.RSET: "RSET probe",
    Stage.QUIT: "QUIT command",
}
_MAIL_STAGES = frozenset({
    Stage.CONNECT, Stage.GREETING, Stage.EHLO, Stage.HELO, Stage.STARTTLS, Stage.TLS,
    Stage.AUTH, Stage.MAIL, Stage.RCPT, Stage.DATA, Stage.CONTENT, Stage.DOT,
})


class IoError(enum.Enum):
    """How a read or write on the connection failed."""

    LOST = "lost connection"
    TIMEOUT = "timed out"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one recipient, or to all of them (then ``index`` is None).

    ``dsn`` starting with 2 means delivered.  ``reply`` is the server reply the outcome is
    based on (it becomes the DSN's Diagnostic-Code and names the Remote-MTA), or None for the
    client's own findings (timeouts, lost connections, size, TLS...).
    """

    dsn: str
    reason: str
    reply: ServerReply | None = None
    index: int | None = None

    @property
    def delivered(self) -> bool:
        return self.dsn.startswith("2")

    @property
    def permanent(self) -> bool:
        return self.dsn.startswith("5")

    def for_recipient(self, index: int) -> Outcome:
        return Outcome(self.dsn, self.reason, self.reply, index)


def server_said(peer: str, reply: ServerReply, stage: Stage) -> Outcome:
    """``host h[a] said: 550 5.1.1 ... (in reply to RCPT TO command)``."""
    return _from_server(reply, f"host {peer} said: {reply.flat} (in reply to {stage.request})")


def refused_to_talk(peer: str, reply: ServerReply, *, skip_5xx: bool = False) -> Outcome:
    """The greeting, EHLO (421) or HELO refused; with smtp_skip_5xx_greeting a 5xx greeting
    only defers (``5.7.1`` becomes ``4.7.1``), so that the next server is tried."""
    outcome = _from_server(reply, f"host {peer} refused to talk to me: {reply.flat}")
    if skip_5xx and reply.code // 100 == 5:
        return Outcome("4" + outcome.dsn[1:], outcome.reason, reply)
    return outcome


def server_reply(reply: ServerReply, text: str) -> Outcome:
    """Any other failure that quotes the server (STARTTLS refused, AUTH failed)."""
    return _from_server(reply, text)


def delivered(reply: ServerReply) -> Outcome:
    return Outcome(reply.dsn, reply.flat, reply)


def io_failure(peer: str, error: IoError, stage: Stage) -> Outcome:
    if error is IoError.TIMEOUT:
        return Outcome("4.4.2", f"conversation with {peer} timed out while {stage.during}")
    return Outcome("4.4.2", f"lost connection with {peer} while {stage.during}")


def local(dsn: str, reason: str) -> Outcome:
    """A finding of the client itself (no server reply to quote)."""
    return Outcome(dsn, reason)


def _from_server(reply: ServerReply, text: str) -> Outcome:
    if reply.dsn[:1] not in ("4", "5"):
        return Outcome("5.5.0", f"Protocol error: {text}", reply)
    return Outcome(reply.dsn, text, reply)
