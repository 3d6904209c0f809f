"""What the SMTP client state machine tells its shell (``smtp/client.py``).

Three kinds of event: **decisions** the shell must take (:class:`Ready`: STARTTLS, AUTH, a
transaction or QUIT; :class:`StartTls`, :class:`StartTlsRefused`, :class:`AuthChallenge`),
**actions** (:class:`NeedData`: read, within the stage's time limit; :class:`SendContent`:
write the message), and **results** (:class:`TransactionDone`, :class:`ProbeDone`,
:class:`Failed`, :class:`Closed`).  All are frozen, slotted values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailrelay.smtp.client_ehlo import Features
from mailrelay.smtp.client_outcome import Outcome, Stage
from mailrelay.smtp.client_reply import ServerReply


class UsageError(RuntimeError):
    """The shell called a method that does not fit the machine's state (a bug)."""


class Phase(enum.Enum):
    GREETING = "greeting"
    EHLO = "EHLO"
    HELO = "HELO"
    READY = "ready"
    STARTTLS = "STARTTLS"
    TLS = "TLS handshake"
    AUTH = "AUTH"
    TRANSACTION = "transaction"
    RSET = "RSET probe"
    QUIT = "QUIT"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class NeedData:
    """Read more bytes, within the time limit of *stage*."""

    stage: Stage


@dataclass(frozen=True, slots=True)
class Ready:
    """The session can take STARTTLS, AUTH, a transaction or QUIT."""

    features: Features


@dataclass(frozen=True, slots=True)
class StartTls:
    """The server answered 220 to STARTTLS: do the handshake, then ``tls_started()``."""


@dataclass(frozen=True, slots=True)
class StartTlsRefused:
    reply: ServerReply


@dataclass(frozen=True, slots=True)
class AuthChallenge:
    #: The base64 text of the server's 334 reply (may be empty).
    challenge: str


@dataclass(frozen=True, slots=True)
class SendContent:
    """Write the message content (``smtp_data_xfer_timeout``), then ``content_sent()``."""


@dataclass(frozen=True, slots=True)
class TransactionDone:
    #: Recipient index (in the envelope) -> outcome.
    outcomes: dict[int, Outcome]
    #: The connection is clean and open for another transaction.
    reusable: bool


@dataclass(frozen=True, slots=True)
class ProbeDone:
    ok: bool


@dataclass(frozen=True, slots=True)
class Failed:
    """The session failed before or outside a transaction; close it (QUIT is allowed when
    ``quit_ok``, as Postfix sends QUIT to a server that refused to talk)."""

    outcome: Outcome
    quit_ok: bool = True


@dataclass(frozen=True, slots=True)
class Closed:
    pass


Event = (NeedData | Ready | StartTls | StartTlsRefused | AuthChallenge | SendContent
         | TransactionDone | ProbeDone | Failed | Closed)


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Per-connection facts the machine needs from the shell."""

    #: The request's nexthop, for "mail for X loops back to myself".
    nexthop: str = ""
    #: Port 25: a server that calls itself by our name is a mail loop.
    loop_detect: bool = False
    #: The server is among the best MX hosts (a loop is then permanent).
    best_mx: bool = True
    #: TLS was started before the greeting (smtp_tls_wrappermode).
    tls_active: bool = False
