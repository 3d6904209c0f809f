"""The SMTP client as a state machine without I/O: reply bytes in, command bytes out.

Theory of operation
-------------------
A :class:`ClientConnection` is one SMTP session with one server, as Postfix's smtp(8) holds
it.  The shell (``delivery/smtp_session.py``) owns the socket, the clock and every decision
that needs policy (TLS level, SASL credentials, connection reuse); this machine owns the
protocol.  The shell loop is::

    conn = ClientConnection(settings, peer="host[addr]")
    while True:
        event = conn.next_event()
        write(conn.data_to_send())          # before any read or handshake
        match event:
            case NeedData(stage):        conn.receive_data(await read(timeout(stage)))
                                         # b"" at EOF; conn.connection_failed(TIMEOUT) on time-out
            case Ready(features):        conn.start_tls() | conn.authenticate(...) |
                                         conn.begin(envelope, keep=...) | conn.quit()
            case StartTls():             await handshake(); conn.tls_started()
            case StartTlsRefused(reply): defer when TLS is required, else go on in clear
            case AuthChallenge(text):    conn.respond(answer(text))
            case SendContent():          write(content); conn.content_sent()
            case TransactionDone(...) | ProbeDone(ok) | Failed(outcome) | Closed(): ...

Invariants:

1. **One reply per command, in order.**  Replies are parsed only when the machine asks for one
   (:class:`NeedData`), so that pipelined replies wait in the buffer until the protocol
   reaches them, exactly as Postfix's read buffer holds them.
2. **Failures are outcomes.**  A refused greeting, EHLO or HELO, a failed AUTH, a lost
   connection or a time-out before the transaction ends the session with one
   :class:`Failed` event carrying Postfix's reason; inside a transaction every recipient gets
   exactly one :class:`Outcome` (see ``client_transaction.py``).
3. **Nothing survives STARTTLS.**  After ``tls_started()`` the reply buffer is emptied and the
   session starts over with EHLO; the features of the clear-text EHLO are forgotten.
4. **A session is reused only when clean**: the transaction ended with a kept connection, no
   protocol error (garbled reply, 5.5.x-style codes) was seen, and a later RSET probe passes.
"""

from __future__ import annotations

from dataclasses import replace

from mailrelay.smtp.client_commands import MailEnvelope, mail_command, rcpt_command
from mailrelay.smtp.client_ehlo import Features, helo_features, parse_ehlo
from mailrelay.smtp.client_events import (
    AuthChallenge,
    Closed,
    Event,
    Failed,
    NeedData,
    Phase,
    ProbeDone,
    Ready,
    SendContent,
    SessionOptions,
    StartTls,
    StartTlsRefused,
    TransactionDone,
    UsageError,
)
from mailrelay.smtp.client_outcome import (
    IoError,
    Outcome,
    Stage,
    io_failure,
    local,
    refused_to_talk,
    server_reply,
)
from mailrelay.smtp.client_reply import ReplyReader, ServerReply
from mailrelay.smtp.client_settings import ClientSettings
from mailrelay.smtp.client_transaction import Next, Transaction, too_large

__all__ = [
    "AuthChallenge", "ClientConnection", "Closed", "Event", "Failed", "NeedData", "Phase",
    "ProbeDone", "Ready", "SendContent", "SessionOptions", "StartTls", "StartTlsRefused",
    "TransactionDone", "UsageError",
]

#: Postfix gives up on a SASL exchange after this many challenges.
MAX_AUTH_STEPS = 100


class ClientConnection:
    """One SMTP client session; see the module documentation."""

    def __init__(self, settings: ClientSettings, peer: str,
                 options: SessionOptions | None = None) -> None:
        self.settings = settings
        #: Postfix's "host[address]" of the server, as the reasons name it.
        self.peer = peer
        self.options = options or SessionOptions()
        self.features = Features()
        self.tls_active = self.options.tls_active
        self.authenticated = False
        #: Transactions completed on this connection (Postfix's conn_use counts from 1).
        self.transactions = 0
        #: Lines the shell should log (warnings, notes), oldest first.
        self.notes: list[str] = []
        self._reader = ReplyReader(settings.reply_line_limit)
        self._out = bytearray()
        self._phase = Phase.GREETING
        self._transaction: Transaction | None = None
        self._auth_steps = 0
        self._awaiting_answer = False
        self._pending_initial = ""
        self._mechanism = ""
        #: What next_event() says once the session is over.
        self._final: Event = Closed()
        #: QUIT may still be sent (the server refused us, but the connection is sound).
        self._quit_allowed = True

    # -- the shell's side ------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def stage(self) -> Stage:
        """What the machine waits for, for time limits and reasons."""
        if self._phase is Phase.TRANSACTION and self._transaction is not None:
            return self._transaction.stage
        return _PHASE_STAGE.get(self._phase, Stage.QUIT)

    def garbage(self) -> list[str]:
        """Garbage reply lines seen since the last call (Postfix warns about them when
        pipelining, as they may shift replies against commands)."""
        lines, self._reader.garbage = self._reader.garbage, []
        return lines

    @property
    def outcomes(self) -> dict[int, Outcome]:
        """The outcomes decided so far in the transaction in progress."""
        return self._transaction.outcomes if self._transaction is not None else {}

    def data_to_send(self) -> bytes:
        if self._transaction is not None:
            self._out += self._transaction.data_to_send()
        data = bytes(self._out)
        self._out.clear()
        return data

    def receive_data(self, data: bytes) -> None:
        """Bytes from the server; ``b""`` means the server closed the connection."""
        if not data:
            self.connection_failed(IoError.LOST)
        else:
            self._reader.feed(data)

    def connection_failed(self, error: IoError) -> None:
        """A read timed out or the connection broke (reading or writing)."""
        phase = self._phase
        if phase is Phase.TRANSACTION and self._transaction is not None:
            self._transaction.connection_failed(error)
            return
        self._phase, self._quit_allowed = Phase.CLOSED, False
        if phase in _HANDSHAKE_PHASES:
            self._final = Failed(io_failure(self.peer, error, _PHASE_STAGE[phase]), False)
        elif phase is Phase.RSET:
            self._final = ProbeDone(False)
        else:
            self._final = Closed()

    def next_event(self) -> Event:
        if self._phase is Phase.CLOSED:
            event, self._final = self._final, Closed()
            return event
        if self._phase is Phase.READY:
            return Ready(self.features)
        if self._phase is Phase.TLS:
            return StartTls()
        if self._phase is Phase.TRANSACTION:
            return self._transaction_event()
        if self._phase is Phase.AUTH and self._awaiting_answer:
            raise UsageError("answer the AUTH challenge with respond()")
        reply = self._reader.next_reply()
        if reply is None:
            return NeedData(self.stage)
        return _HANDLERS[self._phase](self, reply)

    # -- decisions in the READY phase ------------------------------------------------------

    def start_tls(self) -> None:
        self._expect(Phase.READY)
        self._send(b"STARTTLS\r\n", Phase.STARTTLS)

    def tls_started(self) -> None:
        """The handshake succeeded: start over with EHLO (nothing read before survives)."""
        self._expect(Phase.TLS)
        self.tls_active = True
        self._reader = ReplyReader(self.settings.reply_line_limit)
        self.features = Features()
        self._send(f"EHLO {self.settings.helo_name}\r\n".encode(), Phase.EHLO)

    def authenticate(self, mechanism: str, initial: str | None) -> None:
        """``AUTH mechanism [initial-response]`` (the response is already base64)."""
        self._expect(Phase.READY)
        self._auth_steps = 0
        self._pending_initial = ""
        self._mechanism = mechanism
        line = f"AUTH {mechanism}"
        if initial:
            # RFC 4954: a command line of more than 512 octets sends the response later.
            if len(mechanism) + len(initial) + 8 <= 512:
                line += " " + initial
            else:
                self._pending_initial = initial
        self._send(f"{line}\r\n".encode(), Phase.AUTH)

    def respond(self, response: str) -> None:
        """The answer to an :class:`AuthChallenge`, base64 (``*`` cancels)."""
        if self._phase is not Phase.AUTH or not self._awaiting_answer:
            raise UsageError("no AUTH challenge to answer")
        self._awaiting_answer = False
        self._out += f"{response}\r\n".encode()

    def begin(self, envelope: MailEnvelope, *, keep: bool, downgrade: bool) -> None:
        """Start a mail transaction; *keep*: the connection is to be reused afterwards."""
        self._expect(Phase.READY)
        features = self.features
        quote = self.settings.quote_rfc821_envelope
        mail = mail_command(envelope, features, downgrade=downgrade, quote=quote,
                            dummy_auth=self.settings.sasl_enabled
                            and self.settings.send_dummy_mail_auth)
        rcpts = [rcpt_command(r, features, smtputf8=envelope.smtputf8, quote=quote)
                 for r in envelope.recipients]
        self._transaction = Transaction(
            mail=mail, rcpts=rcpts, features=features, peer=self.peer, keep=keep,
            read_quit_reply=not self.settings.skip_quit_response)
        self._phase = Phase.TRANSACTION
        if features.size_limit and features.size_limit < envelope.size:
            self._transaction.refuse(too_large(envelope.size, features.size_limit, self.peer))

    def content_sent(self) -> None:
        self._current_transaction().content_sent()

    def fail_content(self, outcome: Outcome) -> None:
        self._current_transaction().fail_content(outcome)

    def probe(self) -> None:
        """The RSET probe before a cached connection is used again."""
        self._expect(Phase.READY)
        self._send(b"RSET\r\n", Phase.RSET)

    def quit(self) -> None:
        """Send QUIT (nothing when the connection is broken or QUIT went out already)."""
        if not self._quit_allowed:
            return
        self._quit_allowed = False
        self._out += b"QUIT\r\n"
        if self.settings.skip_quit_response or self._phase is Phase.CLOSED:
            self._phase, self._final = Phase.CLOSED, Closed()
        else:
            self._phase = Phase.QUIT

    # -- reply handlers --------------------------------------------------------------------

    def _on_greeting(self, reply: ServerReply) -> Event:
        if not reply.positive:
            return self._fail(refused_to_talk(self.peer, reply,
                                              skip_5xx=self.settings.skip_5xx_greeting))
        words = reply.text.replace("\n", " ").split()[1:]
        if self.options.loop_detect and words and words[0].lower() == self._me:
            self.notes.append(f"warning: host {self.peer} greeted me with my own hostname "
                              f"{self.settings.myhostname}")
        esmtp = any(w.upper() == "ESMTP" for w in words) or self.settings.always_send_ehlo
        if esmtp and not self.settings.never_send_ehlo:
            self._send(f"EHLO {self.settings.helo_name}\r\n".encode(), Phase.EHLO)
        else:
            self._send(f"HELO {self.settings.helo_name}\r\n".encode(), Phase.HELO)
        return self.next_event()

    def _on_ehlo(self, reply: ServerReply) -> Event:
        if not reply.positive:
            if reply.code == 421:
                return self._fail(refused_to_talk(self.peer, reply))
            self._send(f"HELO {self.settings.helo_name}\r\n".encode(), Phase.HELO)
            return self.next_event()
        self.features = parse_ehlo(reply, self.settings.discard_ehlo_keywords, peer=self.peer)
        self.notes.extend(self.features.notes)
        if self.options.loop_detect and self.features.server_name.lower() == self._me:
            self.notes.append(f"warning: host {self.peer} replied to HELO/EHLO with my own "
                              f"hostname {self.settings.myhostname}")
            dsn = "5.4.6" if self.options.best_mx else "4.4.6"
            return self._fail(local(dsn, f"mail for {self.options.nexthop} loops back to myself"))
        self._phase = Phase.READY
        return Ready(self.features)

    def _on_helo(self, reply: ServerReply) -> Event:
        if not reply.positive:
            return self._fail(refused_to_talk(self.peer, reply))
        self.features = helo_features(reply)
        self._phase = Phase.READY
        return Ready(self.features)

    def _on_starttls(self, reply: ServerReply) -> Event:
        if reply.positive:
            self._phase = Phase.TLS
            return StartTls()
        self.features = _without_starttls(self.features)
        self._phase = Phase.READY
        return StartTlsRefused(reply)

    def _on_auth(self, reply: ServerReply) -> Event:
        if reply.intermediate:
            self._auth_steps += 1
            if self._auth_steps > MAX_AUTH_STEPS:
                return self._fail(local("4.3.0", "SASL authentication failed; authentication "
                                        f"protocol loop with server {self.peer}"))
            challenge = reply.text.split("\n")[0][4:].strip()
            if self._pending_initial:
                # The initial response goes separately, on the (empty) first challenge.
                if challenge:
                    # Postfix quotes its own (base64) response here; credentials stay out.
                    return self._fail(local(
                        "4.7.0", f"SASL authentication failed; non-empty initial "
                        f"{self._mechanism} challenge from server {self.peer}: {challenge}"))
                self._out += f"{self._pending_initial}\r\n".encode()
                self._pending_initial = ""
                return self.next_event()
            self._awaiting_answer = True
            return AuthChallenge(challenge)
        if reply.positive:
            self.authenticated = True
            self._phase = Phase.READY
            return Ready(self.features)
        outcome = server_reply(
            reply, f"SASL authentication failed; server {self.peer} said: {reply.flat}")
        if self.settings.sasl_auth_soft_bounce and outcome.dsn.startswith("5"):
            outcome = Outcome("4" + outcome.dsn[1:], outcome.reason, reply)
        return self._fail(outcome)

    def _on_rset(self, reply: ServerReply) -> Event:
        if reply.positive and not reply.malformed:
            self._phase = Phase.READY
            return ProbeDone(True)
        # A cached connection that fails its probe is dropped without QUIT, as Postfix does.
        self._phase, self._quit_allowed = Phase.CLOSED, False
        return ProbeDone(False)

    def _on_quit(self, reply: ServerReply) -> Event:
        self._phase = Phase.CLOSED
        return Closed()

    # -- helpers ---------------------------------------------------------------------------

    def _transaction_event(self) -> Event:
        transaction = self._current_transaction()
        step = transaction.next()
        while step is Next.READ:
            reply = self._reader.next_reply()
            if reply is None:
                return NeedData(transaction.stage)
            step = transaction.next(reply)
        if step is Next.SEND_CONTENT:
            return SendContent()
        self.transactions += 1
        self._transaction = None
        self._out += transaction.data_to_send()
        reusable = transaction.reusable and not self._reader.protocol_error
        self._phase = Phase.READY if reusable else Phase.CLOSED
        # QUIT, when due, went out with the transaction; a kept session is quit later.
        self._quit_allowed = reusable
        return TransactionDone(transaction.outcomes, reusable)

    def _current_transaction(self) -> Transaction:
        if self._transaction is None:
            raise UsageError("no transaction in progress")
        return self._transaction

    @property
    def _me(self) -> str:
        return self.settings.myhostname.lower()

    def _expect(self, phase: Phase) -> None:
        if self._phase is not phase:
            raise UsageError(f"not allowed in the {self._phase.value} phase")

    def _send(self, line: bytes, phase: Phase) -> None:
        self._out += line
        self._phase = phase

    def _fail(self, outcome: Outcome) -> Event:
        """The server refused us: the session is over, but it may still be quit politely."""
        self._phase = Phase.CLOSED
        return Failed(outcome)


def _without_starttls(features: Features) -> Features:
    return replace(features, starttls=False)


_PHASE_STAGE = {
    Phase.GREETING: Stage.GREETING, Phase.EHLO: Stage.EHLO, Phase.HELO: Stage.HELO,
    Phase.STARTTLS: Stage.STARTTLS, Phase.TLS: Stage.TLS, Phase.AUTH: Stage.AUTH,
    Phase.RSET: Stage.RSET, Phase.QUIT: Stage.QUIT,
}
_HANDSHAKE_PHASES = frozenset({Phase.GREETING, Phase.EHLO, Phase.HELO, Phase.STARTTLS,
                               Phase.AUTH})
_HANDLERS = {
    Phase.GREETING: ClientConnection._on_greeting,
    Phase.EHLO: ClientConnection._on_ehlo,
    Phase.HELO: ClientConnection._on_helo,
    Phase.STARTTLS: ClientConnection._on_starttls,
    Phase.AUTH: ClientConnection._on_auth,
    Phase.RSET: ClientConnection._on_rset,
    Phase.QUIT: ClientConnection._on_quit,
}
