"""What the SMTP server state machine tells its shell.

Three kinds of event:

* **Questions** (:data:`Decision`): the machine has checked everything the protocol alone
  decides and now needs the outside world (restrictions, DNS, the queue).  It waits until the
  shell calls ``accept()`` or ``reject(reply)``; only then does it send a reply and go on.
* **Actions** the shell must perform: :class:`NeedData` (read more bytes), :class:`Pause`
  (sleep before the next reply), :class:`StartTls` (do the handshake, then ``tls_started()``),
  :class:`ConnectionClosed` (flush ``data_to_send()`` and close).
* **Facts** for the queue and the log: :class:`MessageData`, :class:`MessageAborted`,
  :class:`TransactionReset`, :class:`Notice`.

All are frozen, slotted values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailrelay.mail.address import Address
from mailrelay.mail.esmtp import MailParams, RcptParams

# --- questions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """A new session.  accept(): the ``220`` banner; reject(reply): that reply instead, and
    every later command but QUIT gets ``503 5.7.0 Error: access denied`` (a 421 or 521 reply
    closes the connection), as Postfix with ``smtpd_delay_reject = no``."""


@dataclass(frozen=True, slots=True)
class Helo:
    """HELO or EHLO with its argument (several words are joined by one space)."""

    name: str
    esmtp: bool


@dataclass(frozen=True, slots=True)
class MailFrom:
    address: Address
    params: MailParams


@dataclass(frozen=True, slots=True)
class RcptTo:
    address: Address
    params: RcptParams


@dataclass(frozen=True, slots=True)
class DataCommand:
    """DATA, or the first BDAT of a message (``smtpd_data_restrictions``)."""

    bdat: bool


@dataclass(frozen=True, slots=True)
class MessageComplete:
    """The content is complete; accept(queue_id=...) once it is safely queued."""

    #: Postfix's count of the content: the sum of line lengths plus 2 per line.
    size: int
    bdat: bool


@dataclass(frozen=True, slots=True)
class Vrfy:
    """VRFY with ``disable_vrfy_command = no``; accept() gives ``252 2.0.0 <argument>``."""

    address: Address


Decision = Connected | Helo | MailFrom | RcptTo | DataCommand | MessageComplete | Vrfy

# --- actions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NeedData:
    """Write ``data_to_send()``, then read and call ``receive_data()``."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Write ``data_to_send()``, then sleep (``smtpd_error_sleep_time``) before going on."""

    seconds: float


@dataclass(frozen=True, slots=True)
class StartTls:
    """Write ``data_to_send()`` (the 220), do the TLS handshake, then call ``tls_started()``.
    Whatever the client sent after STARTTLS in clear text has already been discarded."""


class CloseReason(enum.Enum):
    QUIT = "quit"
    CLIENT_EOF = "lost connection"
    TIMEOUT = "timeout"
    TOO_MANY_ERRORS = "too many errors"
    PROTOCOL = "protocol error"  # synchronization, BDAT syntax, bare LF in a command
    FORBIDDEN_COMMAND = "non-SMTP command"
    REJECTED = "rejected"  # a 421 or 521 reply from the shell
    TLS_FAILED = "TLS handshake failed"


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """Write ``data_to_send()`` and close.  Any message in progress is abandoned."""

    reason: CloseReason


# --- facts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageData:
    """The next part of the message content: lines ending in CRLF, dots unstuffed."""

    data: bytes


@dataclass(frozen=True, slots=True)
class MessageAborted:
    """The content sent so far will not be completed: discard it."""


@dataclass(frozen=True, slots=True)
class TransactionReset:
    """The sender and recipients accepted so far are forgotten (RSET, HELO, end of message)."""


class NoticeKind(enum.Enum):
    #: ``improper command pipelining after CMD from CLIENT: NEXT INPUT``.
    IMPROPER_PIPELINING = "improper command pipelining"
    #: ``bare <LF> received``.
    BARE_LF = "bare <LF> received"
    #: ``non-SMTP command from CLIENT: LINE``.
    NON_SMTP_COMMAND = "non-SMTP command"
    #: ``discarding EHLO keywords: KEYWORDS``.
    DISCARDED_EHLO_KEYWORDS = "discarding EHLO keywords"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something Postfix logs; ``detail`` is the variable part (command, line, keywords)."""

    kind: NoticeKind
    detail: str
    #: For IMPROPER_PIPELINING: the input waiting behind the command, C-escaped (100 bytes).
    data: str = ""


Event = (
    Decision
    | NeedData
    | Pause
    | StartTls
    | ConnectionClosed
    | MessageData
    | MessageAborted
    | TransactionReset
    | Notice
)
