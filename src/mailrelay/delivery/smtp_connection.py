"""One outgoing SMTP connection: a TCP (or TLS) stream driven by the sans-IO client.

SECURITY: opens TCP connections to remote mail servers (optionally from
``smtp_bind_address``) and upgrades them to TLS; reads only what the state machine asks
for, each read and write bounded by the time limit of the protocol stage.

The loop is the one ``smtp/client.py`` documents: ask the machine for its next event, write
what it has to send, read when it needs data, and hand every decision (STARTTLS, AUTH, a
transaction, QUIT) back to the caller as the event that asks for it.  Exceptions of the
stream are turned into :class:`~mailrelay.smtp.client_outcome.IoError` here, once.

debug_peer_list: a server that matches it (by name or address) gets its dialogue logged,
``> host[addr]:port: COMMAND`` and ``< host[addr]:port: REPLY`` as Postfix's smtp_chat logs
them, decided once per connection (:func:`~mailrelay.maillog.debug_peer.dialogue_for`) from
the agent's logger, which carries the list.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from mailrelay.maillog.debug_peer import Dialogue, LineBuffer, dialogue_for
from mailrelay.smtp.client import (
    ClientConnection,
    Event,
    NeedData,
    Phase,
    SessionOptions,
)
from mailrelay.smtp.client_outcome import IoError, Outcome, Stage, local
from mailrelay.smtp.client_settings import ClientSettings

#: How much to read at a time, and to write of the content at a time.
READ_SIZE = 65536
CONTENT_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One server address to connect to."""

    #: The server's name (the MX host, or the nexthop host itself).
    hostname: str
    address: str
    port: int
    #: Among the most preferred MX hosts (a mail loop there is permanent).
    best: bool = True

    @property
    def peer(self) -> str:
        """``host[address]``: how reasons name the server."""
        return f"{self.hostname}[{self.address}]"

    @property
    def relay(self) -> str:
        """``host[address]:port``: the log's ``relay=``."""
        return f"{self.hostname}[{self.address}]:{self.port}"


class ConnectFailed(Exception):
    """No session: *outcome* says why.  *in_session*: the TCP connection was made but the
    TLS handshake of wrapper mode failed (Postfix then counts it as a session failure)."""

    def __init__(self, outcome: Outcome, *, in_session: bool = False) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome
        self.in_session = in_session


def _strerror(error: OSError) -> str:
    # asyncio words its own messages ("Connect call failed (...)"); Postfix prints %m.
    return os.strerror(error.errno) if error.errno else (error.strerror or str(error))


class SmtpConnection:
    """A connected stream plus the client state machine for it."""

    def __init__(self, endpoint: Endpoint, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, client: ClientConnection) -> None:
        self.endpoint = endpoint
        self.client = client
        self._reader = reader
        self._writer = writer
        self.created = time.monotonic()
        #: Times this connection was taken from the cache (Postfix's reuse_count).
        self.reuse_count = 0
        self.ssl_object: ssl.SSLObject | None = None
        #: When each outcome of the transaction in progress was decided (monotonic).
        self.decided: dict[int, float] = {}
        #: debug_peer_list matched this server: its dialogue is logged (else None).
        self.dialogue: Dialogue | None = None
        self._replies = LineBuffer()

    @classmethod
    async def open(cls, endpoint: Endpoint, settings: ClientSettings, *,
                   bind_address: str = "", options: SessionOptions | None = None,
                   wrapper: ssl.SSLContext | None = None, server_hostname: str = "",
                   log: Callable[[str], None] | None = None) -> SmtpConnection:
        """Connect (ConnectFailed with Postfix's reason when that fails)."""
        local_addr = (bind_address, 0) if bind_address else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    endpoint.address, endpoint.port, local_addr=local_addr, ssl=wrapper,
                    server_hostname=(server_hostname or endpoint.hostname) if wrapper else None,
                    ssl_handshake_timeout=settings.timeout(Stage.TLS) if wrapper else None),
                settings.timeout(Stage.CONNECT))
        except TimeoutError:
            reason = "Connection timed out"
            raise ConnectFailed(_connect_failure(endpoint, reason)) from None
        except ssl.SSLError:  # only with a wrapper: the TCP connection was made
            raise ConnectFailed(local("4.7.5", "Cannot start TLS: handshake failure"),
                                in_session=True) from None
        except OSError as error:
            raise ConnectFailed(_connect_failure(endpoint, _strerror(error))) from None
        client = ClientConnection(settings, endpoint.peer, options)
        connection = cls(endpoint, reader, writer, client)
        if log is not None:
            connection.dialogue = dialogue_for(log, endpoint.hostname, endpoint.address,
                                               endpoint.relay, we_are_client=True)
        if wrapper is not None:
            connection.ssl_object = writer.get_extra_info("ssl_object")
        return connection

    # -- driving the machine -----------------------------------------------------------

    async def next_event(self) -> Event:
        """Run the machine until it has something for the caller (never NeedData)."""
        while True:
            event = self.client.next_event()
            self._stamp()
            await self.flush()
            if not isinstance(event, NeedData):
                return event
            await self._read(event.stage)

    def _stamp(self) -> None:
        outcomes = self.client.outcomes
        if len(outcomes) != len(self.decided):
            now = time.monotonic()
            for index in outcomes:
                self.decided.setdefault(index, now)

    async def flush(self) -> None:
        data = self.client.data_to_send()
        if not data or self._writer.is_closing():
            return
        if self.dialogue is not None:
            self.dialogue.client_lines(data)
        try:
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), self.client.settings.timeout(
                self.client.stage))
        except TimeoutError:
            self.client.connection_failed(IoError.TIMEOUT)
        except (OSError, ssl.SSLError):
            self.client.connection_failed(IoError.LOST)

    async def _read(self, stage: Stage) -> None:
        try:
            data = await asyncio.wait_for(self._reader.read(READ_SIZE),
                                          self.client.settings.timeout(stage))
        except TimeoutError:
            self.client.connection_failed(IoError.TIMEOUT)
            return
        except (OSError, ssl.SSLError):
            data = b""
        if self.dialogue is not None:
            for line in self._replies.feed(data):
                self.dialogue.server_line(line)
        self.client.receive_data(data)

    async def send_content(self, data: bytes) -> None:
        """Write the message content after 354; the machine learns how it went.

        ``smtp_data_xfer_timeout`` bounds each write, not the whole message (Postfix's
        per-write time limit): a large message on a slow link is not cut off."""
        limit = self.client.settings.timeout(Stage.CONTENT)
        try:
            view = memoryview(data)  # slices of it are not copies of the message
            for start in range(0, len(data), CONTENT_CHUNK):
                self._writer.write(view[start:start + CONTENT_CHUNK])
                await asyncio.wait_for(self._writer.drain(), limit)
        except TimeoutError:
            self.client.connection_failed(IoError.TIMEOUT)
            return
        except (OSError, ssl.SSLError):
            self.client.connection_failed(IoError.LOST)
            return
        self.client.content_sent()

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str | None) -> str:
        """The TLS handshake after the server's 220 to STARTTLS: "" when it worked, else
        what went wrong as Postfix's TLS library words it (``lost connection``)."""
        try:
            await asyncio.wait_for(
                self._writer.start_tls(context, server_hostname=server_hostname),
                self.client.settings.timeout(Stage.TLS))
        except TimeoutError:
            return "timeout"
        except ssl.SSLError as error:
            return f"-1 ({error.reason or error})"
        except OSError as error:
            return "lost connection" if error.errno in (None, 0, 104, 32) else _strerror(error)
        self.ssl_object = self._writer.get_extra_info("ssl_object")
        self.client.tls_started()
        return ""

    # -- ending ------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        return not self._writer.is_closing() and not self._reader.at_eof()

    async def quit(self) -> None:
        """QUIT (when the machine allows it), then close.  Not after a failed TLS handshake:
        the stream is in an unknown state (Postfix's "forbidden session")."""
        if self.client.phase is Phase.TLS:
            await self.close()
            return
        self.client.quit()
        await self.next_event()
        await self.close()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(TimeoutError, OSError, ssl.SSLError):
            await asyncio.wait_for(self._writer.wait_closed(), 1)


def _connect_failure(endpoint: Endpoint, error: str) -> Outcome:
    return local("4.4.1", f"connect to {endpoint.relay}: {error}")


