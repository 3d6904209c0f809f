"""What one delivery request went through: recipients still to do, results, timings.

Postfix's smtp(8) tries the servers of a request in order (smtp_connect.c) and decides for
each failure whether the recipients it hits are *kept* for the next server or *finished*
(smtp_trouble.c):

* a soft failure (4xx, a lost connection, a time-out) -- or a 5xx under ``soft_bounce`` --
  on a server that is not the last one to try keeps the recipients, and only logs
  ``QUEUEID: reason``;
* on the last server a soft failure defers, and a hard failure (5xx) always bounces, on
  any server;
* a delivered recipient is done, of course.

Recipients that are left when every server was tried get the last failure seen (with
``relay=none``: no session any more), or "server unavailable or unable to receive mail" when
there was none; a hard failure there (a relayhost or fallback relay that does not resolve)
is softened to ``4.3.5``, as Postfix calls it a configuration problem, not the mail's.

Timings follow Postfix's ``delays=a/b/c/d``: ``c`` runs from the start of the request to the
moment the last session was ready to send MAIL (or to the failure, when it never was), ``d``
from there to the moment the recipient's fate was known.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mailrelay.qmgr.request import DeliveryRecipient, DeliveryRequest, RecipientResult, Status
from mailrelay.smtp.client_outcome import Outcome, local

UNAVAILABLE = local("4.3.0", "server unavailable or unable to receive mail")


@dataclass(frozen=True, slots=True)
class Failure:
    """The last failure seen, for the recipients that are left at the end."""

    outcome: Outcome
    #: The server that gave the reply, if any (the DSN's Remote-MTA).
    hostname: str = ""
    #: A hard failure of a destination that is configuration, not mail (relayhost and
    #: fallback relays: Postfix's "configuration problem").
    configuration: str = ""


class Attempt:
    def __init__(self, request: DeliveryRequest, log: Callable[[str], None], *,
                 soft_bounce: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.request = request
        self._log = log
        self._soft_bounce = soft_bounce
        self._clock = clock
        self.start = clock()
        #: The recipients not yet sent, deferred or bounced, in request order.
        self.pending: list[DeliveryRecipient] = list(request.recipients)
        self.results: dict[int, RecipientResult] = {}
        self.last: Failure | None = None
        self._setup_done: float | None = None
        #: The server of the current session announced DSN: it reports success itself.
        self.server_dsn = False
        #: Transactions the current connection has carried, this one included.
        self.conn_use = 0

    # -- sessions ----------------------------------------------------------------------

    def setup_done(self) -> None:
        """The session is about to send MAIL: connection set-up is over."""
        self._setup_done = self._clock()

    def session_over(self) -> None:
        """Postfix resets the set-up time when a session ends; the next one starts over."""
        self._setup_done = None
        self.conn_use = 0

    # -- outcomes ----------------------------------------------------------------------

    def record(self, outcome: Outcome, *, final: bool, relay: str, hostname: str,
               configuration: str = "") -> None:
        """*outcome* for every pending recipient (a session-wide success or failure)."""
        self._apply(list(self.pending), outcome, final=final, relay=relay, hostname=hostname,
                    configuration=configuration)

    def record_each(self, outcomes: dict[int, Outcome], recipients: list[DeliveryRecipient],
                    *, final: bool, relay: str, hostname: str,
                    decided: dict[int, float] | None = None) -> None:
        """Outcomes of a transaction: recipient position in *recipients* -> outcome;
        *decided*: when each was known (the clock's time), for the ``d`` delay."""
        logged: set[str] = set()
        for position, outcome in sorted(outcomes.items()):
            when = (decided or {}).get(position)
            self._apply([recipients[position]], outcome, final=final, relay=relay,
                        hostname=hostname, logged=logged, when=when)

    def note(self, outcome: Outcome, *, configuration: str = "") -> None:
        """A failure that hit no session (a destination without addresses): it only
        matters if nothing better happens later."""
        self.last = Failure(outcome, "", configuration)

    def finish(self) -> None:
        """Every server was tried: the recipients left get the last failure."""
        if not self.pending:
            return
        failure = self.last or Failure(UNAVAILABLE)
        outcome = failure.outcome
        if not self._soft(outcome) and failure.configuration:
            self._log(f"warning: {failure.configuration} configuration problem")
            outcome = Outcome("4.3.5", outcome.reason, outcome.reply)
        self._apply(list(self.pending), outcome, final=True, relay="none",
                    hostname=failure.hostname)

    def result_list(self) -> list[RecipientResult]:
        return [self.results[r.index] for r in self.request.recipients if r.index in self.results]

    # -- internals ---------------------------------------------------------------------

    def _soft(self, outcome: Outcome) -> bool:
        return outcome.dsn.startswith("4") or (self._soft_bounce and outcome.permanent)

    def _apply(self, recipients: list[DeliveryRecipient], outcome: Outcome, *, final: bool,
               relay: str, hostname: str, configuration: str = "",
               logged: set[str] | None = None, when: float | None = None) -> None:
        if not outcome.delivered:
            self.last = Failure(outcome, hostname, configuration)
            if self._soft(outcome) and not final:
                if logged is None or outcome.reason not in logged:
                    self._log(f"{self.request.queue_id}: {outcome.reason}")
                    if logged is not None:
                        logged.add(outcome.reason)
                return  # kept for the next server
        now = self._clock() if when is None else when
        setup_done = self._setup_done if self._setup_done is not None else now
        for recipient in recipients:
            self.results[recipient.index] = self._result(
                recipient, outcome, relay, hostname, setup_done - self.start,
                max(0.0, now - setup_done))
            if recipient in self.pending:
                self.pending.remove(recipient)

    def _result(self, recipient: DeliveryRecipient, outcome: Outcome, relay: str,
                hostname: str, setup: float, transmit: float) -> RecipientResult:
        soft = False
        dsn = outcome.dsn
        if outcome.delivered:
            status = Status.SENT
        elif dsn.startswith("4"):
            status = Status.DEFERRED
        elif self._soft_bounce:
            # soft_bounce: Postfix defers with the status made 4.x.x (it logs SOFTBOUNCE).
            status, dsn, soft = Status.DEFERRED, "4" + dsn[1:], True
        else:
            status = Status.BOUNCED
        reply = outcome.reply
        return RecipientResult(
            index=recipient.index, status=status, dsn=dsn, reason=outcome.reason,
            relay=relay,
            diagnostic=f"smtp; {reply.flat}" if reply is not None else "",
            remote_mta=f"dns; {hostname}" if reply is not None and hostname else "",
            setup_time=setup, transmit_time=transmit,
            action="relayed" if status is Status.SENT and not self.server_dsn else "",
            conn_use=self.conn_use if reply is not None else 0, soft_bounced=soft)
