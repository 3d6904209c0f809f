"""The SMTP server as a state machine without I/O: bytes in, events and reply bytes out.

Theory of operation
-------------------
A :class:`ServerConnection` is one SMTP session.  The shell (``smtpd/service.py``) owns the
socket, the clock and every decision that needs the outside world; this machine owns the
protocol and decides everything Postfix's smtpd decides from the protocol alone.  The shell
loop is::

    conn = ServerConnection(settings, client="name[addr]")
    while True:
        event = conn.next_event()
        write(conn.data_to_send())          # before any read, sleep, handshake or close
        match event:
            case NeedData():            conn.receive_data(await read())   # b"" at EOF
            case Pause(seconds):        await sleep(seconds)
            case StartTls():            await handshake(); conn.tls_started()
            case ConnectionClosed():    close(); break
            case MessageData(data):     spool(data)
            case MessageAborted():      unspool()
            case MessageComplete():     conn.accept(queue_id=commit())  # or conn.reject(reply)
            case Connected() | Helo() | MailFrom() | RcptTo() | DataCommand() | Vrfy():
                conn.accept()           # or conn.reject(reply) from the restrictions
            case _:                     log(event)  # Notice, TransactionReset

A read that waits longer than ``smtpd_timeout`` ends with ``conn.timeout()`` instead of
``receive_data()``; a failed handshake with ``conn.tls_failed()``.

Invariants:

1. **Replies are in command order.**  Output and events go through one queue; the bytes of a
   reply reach ``data_to_send()`` only after every event queued before it was handed out.  A
   :class:`Pause` (``smtpd_error_sleep_time``) therefore always precedes the reply it delays.
2. **One question at a time.**  A :data:`Decision` is answered once ``next_event()`` has
   returned it (``conn.pending``); until then the machine does nothing: no input is parsed, no
   reply is produced, and ``next_event()`` refuses to run.  ``receive_data()`` may still be
   called: input is buffered, which is how pipelined commands wait for their turn.
3. **Pipelining is judged by the input buffer.**  A command is improperly pipelined when bytes
   already wait behind it and either the session is not ESMTP or the command must end a group
   (the ``LAST`` flag).  Input given to ``receive_data()`` before the banner was sent counts as
   talking before the greeting.  The shell must feed bytes as they arrive and drain events
   before reading again, so that "waiting behind" means what it means for Postfix's read
   buffer.
4. **Nothing survives STARTTLS.**  Input buffered behind STARTTLS is dropped when the 220 is
   queued, and input until ``tls_started()`` is dropped too; the session starts over (no HELO,
   no transaction) once TLS is up.  Only the fact that the client spoke EHLO survives, as in
   Postfix, so that it may pipeline right after the handshake.
5. **Message content is streamed, never trusted early.**  :class:`MessageData` events carry the
   content as it is decoded; it is a message only once :class:`MessageComplete` is accepted.
   :class:`MessageAborted` or :class:`ConnectionClosed` before that means: discard it.  Only
   ``<CR><LF>.<CR><LF>`` ends DATA (see framing.py), whatever ``smtpd_forbid_bare_newline`` says.
6. **Errors are counted as Postfix counts them**: every refused command and every rejection
   from the shell adds one; a queued message resets the count.  At ``smtpd_hard_error_limit``
   the next thing sent is ``421 4.7.0 host Error: too many errors`` and the session ends.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from mailrelay.mail.reply import Reply
from mailrelay.smtp import content, decisions
from mailrelay.smtp import replies as R
from mailrelay.smtp.commands import Flag, Token, Verb, looks_like_header, lookup, tokenize
from mailrelay.smtp.events import (
    CloseReason,
    Connected,
    ConnectionClosed,
    Decision,
    Event,
    MessageAborted,
    MessageComplete,
    NeedData,
    Notice,
    NoticeKind,
    Pause,
    TransactionReset,
)
from mailrelay.smtp.framing import BareNewline, CommandLine, CommandReader
from mailrelay.smtp.handlers import HANDLERS
from mailrelay.smtp.session import Session, State, UsageError
from mailrelay.smtp.settings import ServerSettings, TlsLevel

__all__ = ["ServerConnection", "State", "UsageError"]


@dataclass(frozen=True, slots=True)
class _Output:
    data: bytes


class ServerConnection:
    """One SMTP server session; see the module documentation."""

    def __init__(self, settings: ServerSettings, client: str = "unknown[unknown]"):
        self.settings = settings
        #: Postfix's "name[address]" of the client, for the access-denied reply.
        self.client = client
        self.session = Session(tls_active=settings.tls_wrapper)
        self._state = State.GREETING
        self._inbuf = bytearray()
        self._eof = False
        self._queue: deque[Event | _Output] = deque()
        self._out = bytearray()
        self._pending: Decision | None = Connected()
        #: The pending question has been handed out by next_event() (only then can it be
        #: answered: events queued before it come first).
        self._asked = False
        self._closed: ConnectionClosed | None = None
        self._reader = CommandReader(settings.line_length_limit, settings.bare_newline)
        self._queue.append(self._pending)

    # -- the shell's side -------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def pending(self) -> Decision | None:
        """The question handed out by next_event() and not answered yet, if any."""
        return self._pending if self._asked else None

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client; ``b""`` means the client closed its side."""
        if self._state is State.CLOSED:
            return
        if not data:
            self._eof = True
        elif self._state is not State.TLS_HANDSHAKE:
            self._inbuf += data

    def data_to_send(self) -> bytes:
        """The reply bytes produced so far (write them before reading, sleeping or closing)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event:
        while True:
            item = self._next_queued()
            if item is not None:
                return item
            if self._closed is not None:
                return self._closed
            if self._pending is not None or self._state is State.TLS_HANDSHAKE:
                raise UsageError(f"answer {self._pending or 'StartTls'} first")
            if not self._step():
                if self._eof:
                    self.abort_content()
                    self._close(CloseReason.CLIENT_EOF)
                    continue
                return NeedData()

    def accept(self, *, queue_id: str | None = None) -> None:
        """Answer the pending question with yes: the machine sends Postfix's reply for it."""
        if isinstance(self.pending, MessageComplete) and not queue_id:
            raise UsageError("accepting a message needs its queue_id")
        decisions.accept(self, self._take_pending(), queue_id or "")

    def reject(self, reply: Reply) -> None:
        """Answer the pending question with this 4xx/5xx reply (421 and 521 also hang up)."""
        if reply.code < 400:
            raise UsageError(f"a rejection needs a 4xx or 5xx reply, not {reply.code}")
        decisions.reject(self, self._take_pending(), reply)

    def tls_started(self) -> None:
        """The TLS handshake after StartTls succeeded: the session starts over."""
        if self._state is not State.TLS_HANDSHAKE:
            raise UsageError("tls_started() without StartTls")
        self._inbuf.clear()
        self.session.tls_active = True
        self.session.helo_name = None
        self._state = State.COMMAND

    def tls_failed(self) -> None:
        """The TLS handshake failed: nothing more can be said in clear text."""
        self._close(CloseReason.TLS_FAILED)

    def timeout(self) -> None:
        """``smtpd_timeout`` expired while waiting for the client."""
        if self._state is State.CLOSED:
            return
        self._pending = None
        self.abort_content()
        self.reply(R.TIMEOUT.format(myhostname=self.settings.myhostname), CloseReason.TIMEOUT)

    # -- for the command and decision modules -----------------------------------------------

    def ask(self, decision: Decision) -> None:
        self._pending = decision
        self._asked = False
        self._queue.append(decision)

    def emit(self, event: Event) -> None:
        self._queue.append(event)

    def reply(self, reply: Reply, close: CloseReason | None = None) -> None:
        """Queue a reply, after a Pause when the client made too many errors already."""
        s = self.settings
        if self.session.errors >= s.soft_error_limit and s.error_sleep_time > 0:
            self._queue.append(Pause(s.error_sleep_time))
        self._queue.append(_Output(reply.render()))
        if close is None and reply.disconnects:
            close = CloseReason.REJECTED
        if close is not None:
            self._close(close)

    def set_state(self, state: State) -> None:
        self._state = state

    @property
    def input_waiting(self) -> bool:
        return bool(self._inbuf)

    def take_input(self, limit: int | None = None) -> bytes:
        n = len(self._inbuf) if limit is None else min(limit, len(self._inbuf))
        data = bytes(self._inbuf[:n])
        del self._inbuf[:n]
        return data

    def push_back(self, data: bytes) -> None:
        self._inbuf[:0] = data

    def discard_input(self) -> None:
        self._inbuf.clear()

    def mail_reset(self, *, completed: bool = False) -> None:
        """End the transaction: Postfix's mail_reset()."""
        if not completed:
            self.abort_content()
            if self.session.in_transaction:
                self.emit(TransactionReset())
        self.session.reset_transaction()

    # -- internals ------------------------------------------------------------------------

    def _take_pending(self) -> Decision:
        decision = self.pending
        if decision is None:
            raise UsageError("there is no question to answer")
        self._pending = None
        self._asked = False
        return decision

    def _next_queued(self) -> Event | None:
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, _Output):
                self._out += item.data
            else:
                if item is self._pending:
                    self._asked = True
                return item
        return None

    def _close(self, reason: CloseReason) -> None:
        if self._closed is None:
            self._closed = ConnectionClosed(reason)
            self._state = State.CLOSED
            self._pending = None
            self._inbuf.clear()

    def abort_content(self) -> None:
        """The message content handed out so far will never be completed."""
        if self.session.content_started:
            self.session.content_started = False
            self.emit(MessageAborted())
        self.session.decoder = None

    def _step(self) -> bool:
        """Make progress on buffered input; False when more input is needed."""
        if self._state is State.COMMAND:
            return self._step_command()
        if self._state is State.DATA:
            return content.step_data(self)
        if self._state is State.CHUNK:
            return content.step_chunk(self)
        return False

    def _step_command(self) -> bool:
        s = self.settings
        if self.session.errors >= s.hard_error_limit:
            self.reply(
                R.TOO_MANY_ERRORS.format(myhostname=s.myhostname), CloseReason.TOO_MANY_ERRORS
            )
            return True
        line = self._reader.read(self._inbuf)
        if line is None:
            return False
        self._command(line)
        return True

    def _command(self, line: CommandLine) -> None:
        s = self.settings
        session = self.session
        if line.bare_lf and not self._bare_lf_ok(line):
            return
        raw = line.data
        nul = raw.find(b"\0")
        if nul >= 0:
            raw = raw[:nul]  # smtpd parses a C string: a NUL ends the command
        if s.smtputf8_enable and not _valid_utf8(raw):
            self.reply(R.BAD_UTF8)
            session.errors += 1
            return
        text = raw.decode("utf-8", "surrogateescape")
        tokens = tokenize(text)
        if not tokens:
            self.reply(R.BAD_SYNTAX)
            session.errors += 1
            return
        command = lookup(tokens[0].text)
        session.where = command.verb.value if command else "UNKNOWN"
        if command is not None and self._improperly_pipelined(command.verb, command.flags):
            return
        if session.access_denied and (command is None or command.verb is not Verb.QUIT):
            self.reply(R.ACCESS_DENIED.format(client=self.client))
            session.errors += 1
            return
        if command is None:
            self._unknown(tokens[0], text)
            return
        if (
            s.tls_level is TlsLevel.ENCRYPT
            and not session.tls_active
            and Flag.PRE_TLS not in command.flags
        ):
            self.reply(R.TLS_REQUIRED)
            session.errors += 1
            return
        if Flag.LIMIT in command.flags:
            if session.junk_commands > s.junk_command_limit:
                session.errors += 1
            session.junk_commands += 1
        if HANDLERS[command.verb](self, tokens, line) is False:
            session.errors += 1

    def _bare_lf_ok(self, line: CommandLine) -> bool:
        mode = self.settings.bare_newline
        if mode is BareNewline.REJECT:
            reply = R.BARE_LF.format(myhostname=self.settings.myhostname)
            code = self.settings.bare_newline_reject_code
            self.reply(reply.with_code(code), CloseReason.PROTOCOL)
            return False
        if mode is BareNewline.NOTE:
            self.emit(Notice(NoticeKind.BARE_LF, "command"))
        return True

    def _improperly_pipelined(self, verb: Verb, flags: Flag) -> bool:
        session = self.session
        if session.improper_pipelining or not self._inbuf:
            return False
        if session.esmtp and Flag.LAST not in flags:
            return False
        session.improper_pipelining = True
        self.emit(Notice(NoticeKind.IMPROPER_PIPELINING, verb.value, _escape(self._inbuf[:100])))
        if self.settings.forbid_unauth_pipelining:
            self.reply(R.SYNCHRONIZATION, CloseReason.PROTOCOL)
            return True
        return False

    def _unknown(self, word: Token, text: str) -> None:
        if looks_like_header(word.text) or self.settings.forbidden_commands.match(word.text):
            self.emit(Notice(NoticeKind.NON_SMTP_COMMAND, text[:100]))
            self.reply(R.FORBIDDEN_COMMAND, CloseReason.FORBIDDEN_COMMAND)
            return
        self.reply(R.NOT_RECOGNIZED)
        self.session.errors += 1


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 92: "\\\\"}


def _escape(data: bytes | bytearray) -> str:
    """Postfix's escape(): C escapes for what is not printable ASCII."""
    return "".join(_ESCAPES.get(b) or (chr(b) if 32 <= b < 127 else f"\\{b:03o}") for b in data)
