"""The facts of an SMTP session that the restrictions look at: a :class:`Request`.

The shell fills a Request from what it knows at each command (client address and names,
HELO name, sender, current recipient...) and hands it to a stage function.  Addresses are in
Postfix's internal form (unquoted, source route removed: ``mail.address.parse_path``); the
null sender is ``""``; ``None`` means "not given yet".

The client names follow Postfix's smtpd_peer: ``client_name`` is the verified name
(``unknown`` unless the PTR name resolves back to the address), ``reverse_client_name`` the
unverified PTR name, each with the status of its lookup (:class:`PeerStatus`).  Use
:func:`mailrelay.policy.peer.client_names` to derive them from DNS answers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mailrelay.mail.reply import Reply

UNKNOWN = "unknown"


class Stage(enum.Enum):
    """Where in the session a check runs; the value is Postfix's name for it in logs."""

    CONNECT = "CONNECT"
    HELO = "HELO"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    END_OF_DATA = "END-OF-MESSAGE"


class PeerStatus(enum.IntEnum):
    """Postfix's SMTPD_PEER_CODE_*: how the client name lookup went."""

    OK = 2
    TEMP = 4
    PERM = 5
    #: The PTR name does not resolve back to the client address.
    FORGED = 6


@dataclass(frozen=True, slots=True)
class Deferrals:
    """defer_if_permit results pending after each stage (Postfix's defer_if_permit_client,
    _helo and _sender): a later stage that would accept defers with this reply instead."""

    client: Reply | None = None
    helo: Reply | None = None
    sender: Reply | None = None


@dataclass(frozen=True, slots=True)
class Request:
    client_address: str
    client_name: str = UNKNOWN
    reverse_client_name: str = UNKNOWN
    name_status: PeerStatus = PeerStatus.PERM
    reverse_name_status: PeerStatus = PeerStatus.PERM
    client_port: str = ""
    #: The HELO/EHLO argument, None before HELO.
    helo: str | None = None
    #: ``SMTP`` until EHLO, then ``ESMTP`` (Postfix logs ``proto=``).
    protocol: str = "SMTP"
    sender: str | None = None
    recipient: str | None = None
    #: Recipients accepted so far in this transaction.
    rcpt_count: int = 0
    sasl_username: str | None = None
    sasl_method: str | None = None
    tls: bool = False
    smtputf8: bool = False
    queue_id: str | None = None
    #: The command verb for the log (``EHLO`` or ``HELO``...); by default the stage's name.
    command: str | None = None
    #: The client pipelined commands without PIPELINING (Postfix's SMTPD_FLAG_ILL_PIPELINING).
    improper_pipelining: bool = False
    #: An access table already put this transaction on HOLD (logged once per transaction).
    hold: bool = False
    #: An access table already DISCARDed this transaction: no more restrictions are
    #: evaluated for it, every further recipient is accepted (Postfix's state->discard).
    discard: bool = False
    deferrals: Deferrals = field(default_factory=Deferrals)

    def namaddr(self, port_logging: bool = False) -> str:
        """``name[address]``, with ``:port`` under smtpd_client_port_logging."""
        port = f":{self.client_port}" if port_logging and self.client_port else ""
        return f"{self.client_name}[{self.client_address}]{port}"
