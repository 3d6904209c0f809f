"""One mail transaction of the SMTP client, pipelined as Postfix's smtp(8) pipelines it.

Theory of operation
-------------------
The transaction is a queue of commands -- ``MAIL``, one ``RCPT`` per recipient, ``DATA``,
then the content and ``.`` -- and the replies come back in the order the commands went out.
The sender runs ahead of the receiver and only two things make it wait for the replies to
everything sent so far (*synchronize*):

1. the server does not offer PIPELINING (then every command waits for its reply), or the
   next command would make the unacknowledged commands exceed 4096 bytes (Postfix's
   pipelining buffer: it never fills the server's input faster than that);
2. after DATA, the content may only follow a 354 (DATA is a synchronization point), and at
   the end of the transaction all outstanding replies are read.

Whenever sender and receiver are synchronized, a *course correction* may apply, as in
Postfix: the sender wants RCPT but MAIL was rejected, or wants DATA but every recipient was
rejected, or wants to send the content but DATA was rejected: then the transaction ends with
``RSET``.  When DATA was pipelined and the server nevertheless answered 354 although no
recipient was accepted, only ``.`` is sent.  ``QUIT`` is pipelined right after ``.`` (and
after the final ``RSET``) when the server offers PIPELINING, and its reply is not awaited
(``smtp_skip_quit_response``); a connection kept for reuse gets neither.

Each recipient gets exactly one :class:`Outcome`, the first that applies: a rejected MAIL
gives every recipient that reply, a rejected RCPT that recipient its reply, a rejected DATA
or end of data (or a lost connection, or a timeout, while the message was being sent) every
recipient still without an outcome.  The reply to the final ``.`` delivers the accepted ones.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from mailrelay.smtp.client_ehlo import Features
from mailrelay.smtp.client_outcome import (
    IoError,
    Outcome,
    Stage,
    delivered,
    io_failure,
    local,
    server_said,
)
from mailrelay.smtp.client_reply import ServerReply

#: Postfix's PIPELINING_BUFSIZE: at most this many unacknowledged command bytes.
PIPELINING_BUFFER = 4096


class Next(enum.Enum):
    """What the shell must do now."""

    READ = "read a reply"  # with the time limit of Transaction.stage
    SEND_CONTENT = "write the message content, then call content_sent()"
    DONE = "the transaction is over"


@dataclass(frozen=True, slots=True)
class _Command:
    stage: Stage
    line: bytes
    #: The recipient a RCPT is for.
    rcpt: int = -1


#: Queue markers: the content goes here; everything outstanding is read here.
_CONTENT = _Command(Stage.CONTENT, b"")
_END = _Command(Stage.QUIT, b"")


def _abort(keep: bool) -> list[_Command]:
    """The final ``RSET``, then QUIT unless the session is kept."""
    quit_ = [] if keep else [_Command(Stage.QUIT, b"QUIT\r\n")]
    return [_Command(Stage.ABORT, b"RSET\r\n"), *quit_, _END]


class Transaction:
    """The pipelined MAIL/RCPT/DATA/content/. exchange; see the module documentation."""

    def __init__(self, *, mail: bytes, rcpts: list[bytes], features: Features, peer: str,
                 keep: bool, read_quit_reply: bool = False) -> None:
        self.peer = peer
        self._pipelining = features.pipelining
        self._keep = keep
        self._read_quit = read_quit_reply
        self._queue: deque[_Command] = deque(
            [_Command(Stage.MAIL, mail)]
            + [_Command(Stage.RCPT, line, i) for i, line in enumerate(rcpts)]
            + [_Command(Stage.DATA, b"DATA\r\n"), _CONTENT])
        self._outstanding: deque[_Command] = deque()
        self._pending = 0
        self._out = bytearray()
        self._mail_rejected = False
        #: Recipients accepted; -1 once DATA was refused.
        self._accepted = 0
        self._data_reply: ServerReply | None = None
        self._outcomes: dict[int, Outcome] = {}
        self._count = len(rcpts)
        self._lost_in_data = False
        self._done = False
        #: Waiting for every outstanding reply before the next command (a sync point).
        self._syncing = False
        #: The session may carry another transaction afterwards.
        self.reusable = keep

    # -- the shell's side ------------------------------------------------------------------

    @property
    def stage(self) -> Stage:
        """The stage whose reply is awaited (or CONTENT while the content is written)."""
        if self._outstanding:
            return self._outstanding[0].stage
        return Stage.CONTENT if self._queue and self._queue[0] is _CONTENT else Stage.DOT

    @property
    def outcomes(self) -> dict[int, Outcome]:
        """Recipient index -> outcome, as decided so far."""
        return self._outcomes

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def next(self, reply: ServerReply | None = None) -> Next:
        """Advance; *reply* is the next server reply when the last answer was READ."""
        if reply is not None:
            self._receive(reply)
        while not self._done:
            command = self._queue[0]
            if self._syncing or self._must_sync(command):
                if self._outstanding:
                    # Every reply to what was sent is read before this command goes out.
                    self._syncing = True
                    return Next.READ
                self._syncing = False
                self._pending = 0
                if self._correct(command):
                    continue
                if command is _CONTENT:
                    return Next.SEND_CONTENT
                if command is _END:
                    self._done = True
                    break
            self._queue.popleft()
            self._out += command.line
            self._pending += len(command.line)
            if command.stage is not Stage.QUIT or self._read_quit:
                self._outstanding.append(command)
        return Next.DONE

    def content_sent(self) -> None:
        """The content was written: ``.`` follows (and QUIT unless the session is kept)."""
        self._queue = deque(self._finish())

    def connection_failed(self, error: IoError, stage: Stage | None = None) -> None:
        """A read or write failed (*stage*: where, default the awaited one)."""
        self.reusable = False
        where = stage or self.stage
        if error is IoError.LOST and where is Stage.CONTENT and not self._lost_in_data:
            # Postfix still tries to read an early reply (a 5xx) before giving up.
            self._lost_in_data = True
            self._queue = deque([_END])
            self._outstanding.append(_Command(Stage.DOT, b""))
            return
        if self._lost_in_data:
            where = Stage.CONTENT
        if where.sends_mail:
            self._fail_all(io_failure(self.peer, error, where))
        self._done = True

    def fail_content(self, outcome: Outcome) -> None:
        """The content could not be prepared (MIME nesting): fail, and drop the session."""
        self._fail_all(outcome)
        self.reusable = False
        self._done = True

    def refuse(self, outcome: Outcome) -> None:
        """Fail every recipient before anything is sent (the message is too large)."""
        self._fail_all(outcome)
        self._done = True

    # -- sending ---------------------------------------------------------------------------

    def _must_sync(self, command: _Command) -> bool:
        if command is _CONTENT or command is _END:
            return True
        if not self._outstanding:
            return False
        if not self._pipelining:
            return True
        if command.stage is Stage.QUIT and self._outstanding[-1].stage is Stage.DOT:
            return False  # QUIT always follows "." at once (Postfix's exception)
        return self._pending + len(command.line) > PIPELINING_BUFFER

    def _correct(self, command: _Command) -> bool:
        """Course corrections when synchronized; True when the queue changed."""
        abort = (
            (command.stage is Stage.RCPT and self._mail_rejected)
            or (command.stage is Stage.DATA and self._accepted == 0)
            or (command is _CONTENT and self._accepted < 0)
        )
        if abort:
            self._queue = deque(_abort(self._keep and self.reusable))
            return True
        if command is _CONTENT and self._accepted == 0:
            # DATA was pipelined and got 354 although nobody was accepted: end it empty.
            self._queue = deque(self._finish())
            return True
        return False

    def _finish(self) -> list[_Command]:
        """``.``, then QUIT unless the session is kept for another transaction."""
        quit_ = [] if self._keep and self.reusable else [_Command(Stage.QUIT, b"QUIT\r\n")]
        return [_Command(Stage.DOT, b".\r\n"), *quit_, _END]

    # -- receiving -------------------------------------------------------------------------

    def _receive(self, reply: ServerReply) -> None:
        command = self._outstanding.popleft()
        if reply.malformed:
            self.reusable = False
        if command.stage is Stage.MAIL:
            if not reply.positive:
                self._fail_all(self._said(reply, Stage.MAIL))
                self._mail_rejected = True
        elif command.stage is Stage.RCPT:
            if self._mail_rejected:
                return
            if reply.positive:
                self._accepted += 1
            else:
                self._outcomes.setdefault(command.rcpt, self._said(reply, Stage.RCPT)
                                          .for_recipient(command.rcpt))
        elif command.stage is Stage.DATA:
            self._data_reply = reply
            if not reply.intermediate:
                if self._accepted > 0:
                    self._fail_all(self._said(reply, Stage.DATA))
                self._accepted = -1
        elif command.stage is Stage.DOT:
            if self._accepted > 0:
                result = delivered(reply) if reply.positive else self._said(reply, Stage.DOT)
                self._fail_all(result)
            if self._lost_in_data:
                self._queue = deque([_END])
        # The replies to the final RSET and to QUIT change nothing.

    def _said(self, reply: ServerReply, stage: Stage) -> Outcome:
        code = reply.code
        if code < 400 or code > 599 or code == 555 or 500 <= code < 510:
            # A protocol error (Postfix's smtp_check_code): do not reuse this session.
            self.reusable = False
        return server_said(self.peer, reply, stage)

    def _fail_all(self, outcome: Outcome) -> None:
        for index in range(self._count):
            self._outcomes.setdefault(index, outcome.for_recipient(index))


def too_large(size: int, limit: int, peer: str) -> Outcome:
    return local("5.3.4", f"message size {size} exceeds size limit {limit} of server {peer}")
