"""What qmgr hands a delivery agent, and what the agent hands back: pure values.

This is the contract between the queue manager and every delivery agent (smtp, local,
error, discard), as Postfix's deliver_request and its per-recipient status are.  qmgr groups
the pending recipients of one message by (transport, nexthop), at most the transport's
recipient limit per request, and gives the agent the request and the message content.  The
agent answers with one `RecipientResult` per recipient it was given, in any order; qmgr
marks the sent and bounced ones done, defers the rest, logs Postfix's ``to=<...>`` lines and
queues the notifications.  An agent never touches the queue.

Timings follow Postfix's ``delays=a/b/c/d``: qmgr knows a (arrival to active) and b (active
to the agent); the agent reports c (connection set-up: DNS, connect, greeting, EHLO, TLS,
AUTH) and d (message transmission) per recipient.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailrelay.queue.record import Envelope, Notify


class Status(enum.Enum):
    SENT = "sent"
    DEFERRED = "deferred"
    BOUNCED = "bounced"


@dataclass(frozen=True, slots=True)
class DeliveryRecipient:
    #: Index into ``Envelope.recipients``: what qmgr marks done.
    index: int
    #: The address to deliver to, after routing (trivial-rewrite's final recipient).
    address: str
    #: DSN ORCPT as received (``rfc822;user@example.com``), or "".
    orcpt: str = ""
    notify: Notify = Notify.NONE
    #: The address before rewriting, for ``orig_to=`` in the logs, or "".
    original: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryRequest:
    queue_id: str
    #: The master.cf service name (``smtp``, ``relay``, ``local``, ``error``, ``discard``...).
    transport: str
    #: As routing gave it: ``[host]:port``, ``domain``, ``[a]:587, [b]:587``, or for
    #: error/retry the reason text.
    nexthop: str
    sender: str
    recipients: tuple[DeliveryRecipient, ...]
    #: The whole envelope: DSN RET/ENVID, BODY, SMTPUTF8, arrival time, client.
    envelope: Envelope
    #: Content size in bytes, as stored (CRLF line ends, not dot-stuffed): SIZE= on MAIL.
    size: int
    #: smtp_fallback_relay, tried after the nexthop's own hosts (smtp transports only).
    fallback_relay: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RecipientResult:
    #: The DeliveryRecipient.index this result is for.
    index: int
    status: Status
    #: Enhanced status code: ``2.0.0``, ``4.4.1``, ``5.1.1``.
    dsn: str
    #: The text Postfix logs in parentheses after ``status=``, e.g. ``250 2.0.0 Ok: queued
    #: as 4Xyz``, ``host mx.example.com[192.0.2.1] said: 550 5.1.1 <u@example.com>: User
    #: unknown (in reply to RCPT TO command)``, ``connect to 127.0.0.1[127.0.0.1]:9:
    #: Connection refused``.
    reason: str
    #: ``relay=`` in the log: ``host[address]:port``, ``local``, ``none``.
    relay: str = "none"
    #: DSN Diagnostic-Code (``smtp; 550 5.1.1 ...``) and Remote-MTA (``dns; host``), or "".
    diagnostic: str = ""
    remote_mta: str = ""
    #: delays= c and d, in seconds.
    setup_time: float = 0.0
    transmit_time: float = 0.0
    #: For a sent recipient, the DSN action the relay itself reports to a sender who asked
    #: NOTIFY=SUCCESS: ``relayed`` (to a server without DSN), ``delivered`` (a mailbox),
    #: ``expanded`` (an alias); "" when the next hop takes that duty over (it has DSN).
    action: str = ""
    #: How many transactions the connection has carried, this one included (Postfix logs
    #: ``conn_use=N`` after ``relay=`` when it is more than 1).
    conn_use: int = 0
    #: A permanent failure deferred because of ``soft_bounce`` (logged ``status=SOFTBOUNCE``).
    soft_bounced: bool = False
