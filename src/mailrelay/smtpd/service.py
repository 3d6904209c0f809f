"""One SMTP session: bytes between the socket and the state machine; decisions from the policy.

SECURITY: talks to untrusted SMTP clients; writes the queue through the spool.

Theory of operation: the loop asks the state machine (mailrelay.smtp) for its next event,
writes what it has to send before anything that may wait, and acts: reads, sleeps, starts
TLS, or answers a question with a policy verdict (mailrelay.policy through Gate) or, at the
end of a message, with the queue ID once the spool made the file durable.  The machine decides
every protocol matter; this loop never writes a reply of its own, except the 421 that tells an
idle client the server is stopping.  Any exception from one session ends that session only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace

from mailrelay.anvil.client import AnvilClient
from mailrelay.cleanup.content_checks import ContentRejected
from mailrelay.mail.esmtp import RcptParams
from mailrelay.mail.reply import Reply
from mailrelay.maillog.debug_peer import Dialogue, dialogue_for
from mailrelay.maillog.smtpd_chat import ChattyConnection
from mailrelay.maillog.writer import Logger
from mailrelay.policy import stages
from mailrelay.policy.anvil import Limits, Refusal, check_connect, check_mail, check_rcpt
from mailrelay.policy.peer import ClientNames
from mailrelay.policy.request import Request
from mailrelay.policy.verdict import Verdict
from mailrelay.smtp import events as ev
from mailrelay.smtp.counts import CountingConnection
from mailrelay.smtp.framing import BareNewline
from mailrelay.smtp.session import State
from mailrelay.smtp.settings import ServerSettings
from mailrelay.smtpd.gate import Gate
from mailrelay.smtpd.peer import rfc_address
from mailrelay.smtpd.spool import ClientFacts, Spool, Transaction
from mailrelay.smtpd.tls import handshake_details, received_comment

RateCheck = Callable[[Limits, int, str, str, str], "Refusal | None"]

READ_SIZE = 65536
SHUTDOWN = b"421 4.3.2 Service shutting down\r\n"
#: How long to look for a client that talks before the banner (seconds).
PREGREET = 0.002


class Stopping(asyncio.Event):
    """The worker's stop flag; setting it also cancels the reads of idle sessions (each
    idle session registers its task while it waits for a command)."""

    def __init__(self) -> None:
        super().__init__()
        self.idle: dict[asyncio.Task[object], Session] = {}

    def set(self) -> None:
        super().set()
        idle, self.idle = self.idle, {}
        for task, session in idle.items():
            if not session.expired:  # its read is being cancelled already: it times out
                session.stopped = True
                task.cancel()


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """Everything a session of one smtpd service needs, built once per (re)load."""

    name: str
    protocol: ServerSettings
    spool: Spool
    #: The STARTTLS context (None: no certificate, STARTTLS is not offered).
    tls: ssl.SSLContext | None
    #: smtpd_timeout, seconds.
    timeout: float
    smtpd_log: Logger
    cleanup_log: Logger
    #: smtpd_forbid_bare_newline_exclusions: (client name, address) -> exempt.
    bare_newline_exempt: Callable[[str, str], bool]
    #: Set when the server stops: idle sessions are told so and closed.
    stopping: Stopping
    #: smtpd_tls_received_header: the protocol and cipher go into Received:.
    tls_received_header: bool = False
    #: smtpd_tls_loglevel: 1 and up log the handshake's summary.
    tls_loglevel: int = 0
    #: The shared counters (None: no smtpd_client_*_limit is set).
    anvil: AnvilClient | None = None
    limits: Limits | None = None
    #: smtpd_client_event_limit_exceptions: (client name, address) -> not counted.
    limits_exempt: Callable[[str, str], bool] = lambda name, address: True


#: The ends of a session that smtpd logs as ``REASON after WHERE from CLIENT``.
_LOGGED_CLOSES = {ev.CloseReason.CLIENT_EOF: "lost connection",
                  ev.CloseReason.TLS_FAILED: "lost connection",
                  ev.CloseReason.TIMEOUT: "timeout",
                  ev.CloseReason.TOO_MANY_ERRORS: "too many errors"}


class Session:
    def __init__(self, ctx: ServiceContext, gate: Gate, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, peer: ClientNames, address: str, port: str,
                 *, local_context: bool) -> None:
        self.ctx = ctx
        self.gate = gate
        self.reader = reader
        self.writer = writer
        self.namaddr = f"{peer.name}[{address}]"
        self.request = Request(
            client_address=address, client_name=peer.name, reverse_client_name=peer.reverse_name,
            name_status=peer.name_status, reverse_name_status=peer.reverse_name_status,
            client_port=port, tls=ctx.protocol.tls_wrapper,
        )
        self.client = ClientFacts(peer.name, address, port, rfc_address(address), local_context)
        settings = ctx.protocol
        if settings.bare_newline is not BareNewline.NO and ctx.bare_newline_exempt(
                peer.name, address):
            settings = dataclasses.replace(settings, bare_newline=BareNewline.NO)
        # debug_peer_list, decided once here: other sessions get the plain machine.
        self.dialogue: Dialogue | None = dialogue_for(ctx.smtpd_log, peer.name, address,
                                                      self.namaddr, we_are_client=False)
        self.conn = (CountingConnection(settings, client=self.namaddr) if self.dialogue is None
                     else ChattyConnection(settings, self.namaddr, self.dialogue))
        self.txn: Transaction | None = None
        self.helo: str | None = None
        self.content_bytes = 0  # of the message being received, for "after DATA (N bytes)"
        self.counted = False  # anvil counts this connection
        self.stopped = False  # Stopping cancelled this session's idle read
        self.expired = False  # the read timer cancelled this session's read
        self._task: asyncio.Task[object] | None = None
        #: smtpd_timeout: the current read's deadline (loop time), and one timer per session
        #: that follows it lazily (see _expire).
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._reading = False
        self.limited = (ctx.anvil is not None and ctx.limits is not None
                        and not ctx.limits_exempt(peer.name, address))

    async def run(self, warnings: tuple[str, ...] = ()) -> None:
        log = self.ctx.smtpd_log
        for text in warnings:
            log(f"warning: {text}")
        log(f"connect from {self.namaddr}")
        self._task = asyncio.current_task()
        try:
            await self._loop()
        except (ConnectionError, ssl.SSLError):
            log(f"lost connection after {self._where()} from {self.namaddr}")
        finally:
            if self._timer is not None:
                self._timer.cancel()
            if self.txn is not None:
                self.ctx.spool.abort(self.txn)
            if self.counted and self.ctx.anvil is not None:
                await self.ctx.anvil.disconnect(self.ctx.name, self.client.address)
            with contextlib.suppress(Exception):
                self.writer.close()
            log(f"disconnect from {self.namaddr} {self.conn.counts.summary()}")

    async def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def _loop(self) -> None:
        conn = self.conn
        while True:
            event = conn.next_event()
            await self._flush()
            match event:
                case ev.NeedData():
                    if not await self._read():
                        return
                case ev.ConnectionClosed(reason=reason):
                    if reason in _LOGGED_CLOSES:
                        self.ctx.smtpd_log(f"{_LOGGED_CLOSES[reason]} after {self._where()} "
                                           f"from {self.namaddr}")
                    return
                case ev.Pause(seconds=seconds):
                    await asyncio.sleep(seconds)
                case ev.StartTls():
                    await self._start_tls()
                case ev.MessageData(data=data):
                    self.content_bytes += len(data)
                    if self.txn is not None:
                        self.txn.chunks.append(data)
                case ev.MessageAborted():
                    if self.txn is not None:
                        self.txn.chunks.clear()
                case ev.TransactionReset():
                    self._reset()
                case ev.Notice():
                    self._notice(event)
                case _:
                    await self._decide(event)

    async def _read(self) -> bool:
        """Feed the machine the next bytes (or EOF, or its timeout); False: end the session.

        A client idle between transactions when the server stops is told 421 and closed;
        one inside a transaction may finish it (``mailrelay stop`` drains).

        The read is awaited directly (no task per read).  smtpd_timeout moves the session's
        deadline; the session's one timer (_expire) cancels the read once it is past.  An idle
        session registers with ctx.stopping, which cancels its read on stop.
        """
        stopping = self.ctx.stopping
        task = self._task
        idle = self.txn is None and self.conn.state is State.COMMAND
        if idle and stopping.is_set():
            return await self._shutdown()
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self.ctx.timeout
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._expire)
        if idle and task is not None:
            stopping.idle[task] = self
        self._reading = True
        try:
            data = await self.reader.read(READ_SIZE)
        except asyncio.CancelledError:
            if task is None or not (self.expired or (idle and self.stopped)):
                raise
            task.uncancel()
            if self.expired:
                self.conn.timeout()  # the machine answers 421 and closes
                return True
            return await self._shutdown()
        finally:
            self._reading = False
            if idle and task is not None:
                stopping.idle.pop(task, None)
        self.conn.receive_data(data)
        return True

    def _expire(self) -> None:
        """The read timer, armed once and moved on lazily: an asyncio.timeout per read made
        and cancelled a timer for every command (7 per message), 4-5 % of a busy worker."""
        self._timer = None
        if not self._reading or self._task is None:
            return  # the next read arms it again
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            self._timer = loop.call_at(self._deadline, self._expire)
        elif not self.stopped:
            self.expired = True
            self._task.cancel()

    async def _shutdown(self) -> bool:
        if self.dialogue is not None:
            self.dialogue.server_lines(SHUTDOWN)
        self.writer.write(SHUTDOWN)
        await self.writer.drain()
        return False

    async def _pregreet(self) -> None:
        """Give the machine whatever the client sent before the banner, so that
        smtpd_forbid_unauth_pipelining sees a client that talks first.  Postfix sees it
        because its DNS lookups come first; ours may be cached, so allow a moment (PREGREET)."""
        try:
            async with asyncio.timeout(PREGREET):
                data = await self.reader.read(READ_SIZE)
        except TimeoutError:
            return
        self.conn.receive_data(data)

    async def _start_tls(self) -> None:
        if self.ctx.tls is None:
            self.conn.tls_failed()
            return
        try:
            await self.writer.start_tls(self.ctx.tls)
        except (ssl.SSLError, ConnectionError, OSError) as e:
            self.ctx.smtpd_log(f"SSL_accept error from {self.namaddr}: {e}")
            self.conn.tls_failed()
            return
        self.request = replace(self.request, tls=True)
        self.conn.counts.succeeded("STARTTLS")
        self._log_tls()
        self.conn.tls_started()

    def _log_tls(self) -> None:
        """Postfix's summary of the handshake (smtpd_tls_loglevel >= 1).  Anonymous: smtpd
        asks for no client certificate."""
        ssl_object = self._ssl_object()
        described = ssl_object.cipher() if ssl_object is not None else None
        if self.ctx.tls_loglevel < 1 or ssl_object is None or described is None:
            return
        name, version, bits = described
        self.ctx.smtpd_log(f"Anonymous TLS connection established from {self.namaddr}: "
                           f"{version} with cipher {name} ({bits}/{bits} bits)"
                           f"{handshake_details(ssl_object)}")

    def _notice(self, notice: ev.Notice) -> None:
        if notice.kind is ev.NoticeKind.IMPROPER_PIPELINING:
            self.request = replace(self.request, improper_pipelining=True)
            self.ctx.smtpd_log(f"improper command pipelining after {notice.detail} from "
                               f"{self.namaddr}: {notice.data}")
        elif notice.kind is ev.NoticeKind.DISCARDED_EHLO_KEYWORDS:
            self.ctx.smtpd_log(f"discarding EHLO keywords: {notice.detail}")
        else:
            self.ctx.smtpd_log(f"warning: {notice.kind.value} from {self.namaddr}: "
                               f"{notice.detail}")

    def _reset(self) -> None:
        if self.txn is not None:
            self.ctx.spool.abort(self.txn)
        self.txn = None
        self.request = replace(self.request, sender=None, recipient=None, rcpt_count=0,
                               queue_id=None, hold=False, discard=False, command=None)

    def _protocol(self) -> str:
        base = self.request.protocol
        if base == "ESMTP" and self.request.tls:
            return "ESMTPS"
        return base

    async def _decide(self, event: ev.Decision) -> None:
        reply: Reply | None = None
        queue_id: str | None = None
        match event:
            case ev.Connected():
                reply = await self._connect_limits()
                if reply is None:
                    reply = self._reply(await self.gate.ask(stages.client_stage, self.request))
                await self._pregreet()
            case ev.Helo(name=name, esmtp=esmtp):
                self.helo = name
                self.request = replace(self.request, helo=name,
                                       protocol="ESMTP" if esmtp else "SMTP", command=None)
                reply = self._reply(await self.gate.ask(stages.helo_stage, self.request))
            case ev.MailFrom(address=address, params=params):
                self.request = replace(self.request, sender=address.address,
                                       smtputf8=params.smtputf8)
                reply = await self._rate("mail", check_mail)
                if reply is None:
                    reply = self._reply(await self.gate.ask(stages.sender_stage, self.request))
                if reply is None:
                    self.txn = Transaction(sender=address.address, sender_raw=address.raw,
                                           params=params)
            case ev.RcptTo(address=address, params=params):
                reply = await self._recipient(address.address, params)
            case ev.DataCommand():
                self.content_bytes = 0
                reply = self._reply(await self.gate.ask(stages.data_stage, self.request))
            case ev.MessageComplete():
                reply, queue_id = await self._end_of_data()
            case ev.Vrfy():
                reply = None
        if reply is None:
            self.conn.accept(queue_id=queue_id)
        else:
            self.conn.reject(reply)

    async def _connect_limits(self) -> Reply | None:
        """smtpd_client_connection_count_limit and _rate_limit, counted by anvil."""
        limits, anvil = self.ctx.limits, self.ctx.anvil
        if not self.limited or limits is None or anvil is None:
            return None
        counts = await anvil.connect(self.ctx.name, self.client.address)
        if counts is None:
            return None
        self.counted = True
        refusal = check_connect(limits, counts, self.namaddr, self.client.address, self.ctx.name)
        if refusal is None:
            return None
        self.ctx.smtpd_log(f"warning: {refusal.warning}")
        return refusal.reply

    async def _rate(self, event: str, check: RateCheck) -> Reply | None:
        """smtpd_client_message_rate_limit (MAIL) and _recipient_rate_limit (RCPT)."""
        limits, anvil = self.ctx.limits, self.ctx.anvil
        if not self.limited or limits is None or anvil is None:
            return None
        if (limits.message_rate if event == "mail" else limits.recipient_rate) <= 0:
            return None
        rate = await anvil.count(event, self.ctx.name, self.client.address)
        if rate is None:
            return None
        refusal = check(limits, rate, self.namaddr, self.client.address, self.ctx.name)
        if refusal is None:
            return None
        self.ctx.smtpd_log(f"warning: {refusal.warning}")
        return refusal.reply

    def _reply(self, verdict: Verdict) -> Reply | None:
        if verdict.actions:
            self.request = replace(self.request, hold=self.request.hold or any(
                a.kind.value == "HOLD" for a in verdict.actions),
                discard=self.request.discard or verdict.discard)
        return None if verdict.accepted else verdict.reply

    async def _recipient(self, address: str, params: RcptParams) -> Reply | None:
        txn = self.txn
        self.request = replace(self.request, recipient=address)
        reply = await self._rate("rcpt", check_rcpt)
        if reply is None:
            reply = self._reply(await self.gate.ask(stages.recipient_stage, self.request))
        if reply is not None or txn is None:
            return reply
        queue_id = self.request.queue_id
        if txn.draft is None:
            queue_id = await self.ctx.spool.open(txn)
            self.ctx.smtpd_log(f"{queue_id}: client={self.namaddr}")
        txn.recipients.append((address, params))
        self.request = replace(self.request, queue_id=queue_id,
                               rcpt_count=self.request.rcpt_count + 1)
        return None

    async def _end_of_data(self) -> tuple[Reply | None, str | None]:
        txn = self.txn
        if txn is None or txn.draft is None:
            return Reply(451, "4.3.0", "Error: queue file write error"), None
        reply = self._reply(await self.gate.ask(stages.end_of_data_stage, self.request))
        if reply is not None:
            return reply, None
        queue_id = txn.draft.queue_id
        tls = received_comment(self._ssl_object()) if self.ctx.tls_received_header else ()
        try:
            await self.ctx.spool.commit(txn, self.client, self.helo, self._protocol(), tls)
        except ContentRejected as e:  # header_checks / body_checks REJECT: the table's text
            return Reply(550, e.dsn, e.text), None
        except OSError as e:
            self.ctx.smtpd_log(f"warning: {queue_id}: queue file write error: {e}")
            return Reply(451, "4.3.0", "Error: queue file write error"), None
        # (cleanup's message-id= line is the spool's: among the checks' lines, as Postfix)
        return None, queue_id

    def _where(self) -> str:
        """Postfix's state for "lost connection after ...": inside DATA's content, with the
        bytes received so far."""
        where = self.conn.session.where
        if where == "DATA" and self.conn.counts.open == "DATA":
            return f"DATA ({self.content_bytes} bytes)"
        return where

    def _ssl_object(self) -> ssl.SSLObject | None:
        obj = self.writer.get_extra_info("ssl_object")
        return obj if isinstance(obj, ssl.SSLObject) else None
