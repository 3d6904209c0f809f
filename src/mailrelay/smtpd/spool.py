"""One mail transaction's way into the queue: from the first accepted RCPT to ``queued as``.

SECURITY: writes the queue (through QueueStore only).

The queue file is created at the first accepted recipient, as Postfix's smtpd does (its queue
ID appears in the log from then on).  Content arrives as MessageData chunks; at the end of DATA
cleanup() adds Received: and the missing headers and qualifies the envelope, and the worker's
Committer writes, fsyncs and renames the file and fsyncs incoming/, batched with the other
sessions' messages, in its own thread so that the event loop keeps serving the other sessions
meanwhile.  Only then does the caller say 250.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mailrelay.cleanup.address_map import CleanupDefer
from mailrelay.cleanup.content_checks import ContentRejected, Outcome
from mailrelay.cleanup.headers import Arrival, received_header
from mailrelay.cleanup.message import Cleaned, cleanup, filter_attributes
from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.mail.esmtp import MailParams, Notify, RcptParams
from mailrelay.maps.base import MapLookupError
from mailrelay.queue import record, trigger
from mailrelay.queue.queuefile import Draft
from mailrelay.queue.store import QueueStore
from mailrelay.smtpd.committer import Committer

_NOTIFY_BITS = {
    Notify.SUCCESS: record.Notify.SUCCESS,
    Notify.DELAY: record.Notify.DELAY,
    Notify.FAILURE: record.Notify.FAILURE,
}


@dataclass(frozen=True, slots=True)
class ClientFacts:
    name: str
    address: str
    port: str
    #: The address as Received: and the logs show it (``IPv6:::1`` for IPv6).
    rfc_address: str
    #: Client in local_header_rewrite_clients: missing headers are added, as for local mail
    #: (used when the Spool has no local_rewrite of its own to decide per message).
    local_context: bool
    #: The session's SASL login and verified client certificate, for local_rewrite's
    #: permit_sasl_authenticated and permit_tls_*clientcerts ("": none).
    sasl_username: str = ""
    ccert_fingerprint: str = ""
    ccert_verified: bool = False


@dataclass(slots=True)
class Transaction:
    """What the session has accepted so far in the current MAIL transaction."""

    sender: str = ""
    sender_raw: str = ""
    params: MailParams = field(default_factory=MailParams)
    recipients: list[tuple[str, RcptParams]] = field(default_factory=list)
    draft: Draft | None = None
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0

    @property
    def queue_id(self) -> str | None:
        return self.draft.queue_id if self.draft is not None else None


def _recipients(txn: Transaction, cleaned: Cleaned,
                outcome: Outcome | None) -> list[record.Recipient]:
    """The queue's recipients: as cleanup rewrote and expanded them (virtual aliases; the
    original kept), REDIRECT's address instead of each, BCC's added."""
    redirect = outcome.redirect if outcome is not None else None
    # A recipient given twice with the same original address, NOTIFY and ORCPT is queued
    # once, as cleanup's duplicate filter (been_here) does.
    unique: dict[record.Recipient, None] = {}
    aliases = cleaned.aliases or tuple((a,) for a in cleaned.recipients)
    for (raw, params), expanded in zip(txn.recipients, aliases, strict=True):
        r = _recipient(raw, params)
        for address in (redirect,) if redirect else expanded:
            unique[r if address == raw else
                   record.Recipient(address, r.orcpt, r.notify, original=raw)] = None
    for bcc in outcome.bcc if outcome is not None else ():
        unique[record.Recipient(bcc, f"rfc822;{bcc}")] = None
    return list(unique)


def _recipient(address: str, params: RcptParams) -> record.Recipient:
    notify = record.Notify.NONE
    if params.notify is not None and not params.notify:
        notify = record.Notify.NEVER  # NOTIFY=NEVER parses to the empty set
    for n in params.notify or ():
        notify |= _NOTIFY_BITS[n]
    orcpt = f"{params.orcpt.type};{params.orcpt.address}" if params.orcpt else f"rfc822;{address}"
    return record.Recipient(address=address, orcpt=orcpt, notify=notify)


class Spool:
    """Writes accepted messages into the queue for one smtpd service."""

    def __init__(self, store: QueueStore, settings: CleanupSettings,
                 committer: Committer | None = None,
                 log: Callable[[str], None] | None = None,
                 local_rewrite: Callable[[ClientFacts], bool] | None = None) -> None:
        self.store = store
        self.settings = settings
        #: local_header_rewrite_clients, asked per message (may raise MapLookupError).
        self.local_rewrite = local_rewrite
        #: cleanup's log (header/body checks actions, canonical warnings).
        self.log = log or (lambda _line: None)
        self.committer = committer or Committer(store)
        #: qmgr's wake-up: it takes the message at once, without scanning incoming/.
        self.qmgr = trigger.Sender(store.directory, trigger.QMGR)

    async def open(self, txn: Transaction) -> str:
        """Create the queue file (first accepted RCPT); returns its queue ID.

        Usually a spare the committer made ready (see committer.py)."""
        if txn.draft is None:
            txn.draft = self.committer.draft()
        return txn.draft.queue_id

    def abort(self, txn: Transaction) -> None:
        if txn.draft is not None:
            txn.draft.abort()
            txn.draft = None
        txn.chunks.clear()
        txn.size = 0

    async def commit(self, txn: Transaction, client: ClientFacts, helo: str | None,
                     protocol: str, tls_comment: tuple[str, ...] = ()) -> Cleaned:
        """cleanup, write, fsync, rename: durable when this returns."""
        draft = txn.draft
        assert draft is not None, "commit without an accepted recipient"
        now = time.time()
        raw_rcpts = tuple(r for r, _ in txn.recipients)
        arrival = Arrival(draft.queue_id, now, helo, client.name, client.rfc_address, protocol,
                          raw_rcpts, tls_comment)
        try:
            local = self._local_context(client)
            cleaned = cleanup(b"".join(txn.chunks), txn.sender, raw_rcpts, arrival,
                              received_header(arrival, self.settings), self.settings,
                              local_context=local)
        except CleanupDefer as error:  # a table cannot answer: not accepted, never unfiltered
            self.log(f"warning: {draft.queue_id}: {error}")
            self.abort(txn)
            raise
        outcome = self._outcome(txn, cleaned)
        if outcome is not None and outcome.discard:
            return cleaned  # the client is told "queued", as Postfix's DISCARD does
        recipients = _recipients(txn, cleaned, outcome)
        envelope = record.Envelope(
            sender=cleaned.sender,
            recipients=tuple(recipients),
            arrival_time=now,
            client=record.Client(name=client.name, address=client.address, port=client.port,
                                 helo=helo or "", protocol=protocol),
            dsn_ret=txn.params.ret.value if txn.params.ret else "",
            dsn_envid=txn.params.envid or "",
            body_type=txn.params.body.value if txn.params.body else "",
            smtputf8=txn.params.smtputf8,
            attributes=filter_attributes(self.settings, outcome),
        )
        hold = outcome is not None and outcome.hold is not None
        try:
            # HOLD: straight into hold/, where qmgr never looks.
            await self.committer.commit(draft, cleaned.content, envelope, hold=hold)
        finally:
            txn.draft = None
            txn.chunks.clear()
        if not hold:
            self.qmgr.send(trigger.INCOMING + draft.queue_id.encode())
        return cleaned

    def _local_context(self, client: ClientFacts) -> bool:
        if self.local_rewrite is None:
            return client.local_context
        try:
            return self.local_rewrite(client)
        except MapLookupError as error:  # Postfix: 451 4.3.0 at MAIL FROM; here, at DATA
            raise CleanupDefer(f"local_header_rewrite_clients lookup error for "
                               f"\"{client.address}\": {error}") from None

    def _outcome(self, txn: Transaction, cleaned: Cleaned) -> Outcome | None:
        """Log what cleanup decided (``message-id=`` among the checks' lines, where
        Postfix's cleanup logs it); a REJECT aborts the transaction (ContentRejected), a
        DISCARD too (quietly)."""
        for warning in cleaned.warnings:
            self.log(f"warning: {warning}")
        assert txn.draft is not None
        for line in cleaned.log_lines(txn.draft.queue_id):
            self.log(line)
        outcome = cleaned.checks
        if outcome is None:
            return None
        if outcome.reject is not None:
            self.abort(txn)
            raise ContentRejected(outcome.reject)
        if outcome.discard:
            self.abort(txn)
        return outcome
