"""A scripted SMTP server on loopback, for the smtp delivery agent's tests.

It answers each command with the reply its *script* names, or a sensible default, and
records what the client sent.  The script is the one ``tests/golden/smtp_client/`` used to
show Postfix's smtp(8) the same server (``capture.py`` there runs the same semantics):

``greeting``, ``ehlo``, ``helo``, ``mail``, ``rcpt``, ``rcpt:<address>``, ``data``, ``dot``
(the reply to the end of data), ``rset``, ``quit``: a reply (``"550 5.1.1 no"``, several
lines separated by ``\\n``), or ``DROP`` (close the connection) or ``SILENCE`` (never answer);
``ehlo_keywords``: the EHLO keywords when ``ehlo`` is not given; ``auth_steps``: replies to
AUTH, each 334 followed by one client line; ``drop_in_data``: close while reading the
content; ``tls``: an ``ssl.SSLContext`` to answer STARTTLS with (``starttls`` is then the
reply to STARTTLS); ``after_starttls``: ``DROP`` to close right after the reply to STARTTLS
(a handshake that fails); ``wrapper``: an ``ssl.SSLContext`` to speak TLS from the first
byte.

The server runs in the test's own event loop (no threads), on the first free port of the
range these tests may use.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

#: The loopback ports the smtp agent's tests may listen on.
PORTS = range(3120, 3150)
DEFAULT_KEYWORDS = ["PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN",
                    "SMTPUTF8"]
DEFAULTS = {
    "greeting": "220 scripted.test ESMTP",
    "helo": "250 scripted.test",
    "mail": "250 2.1.0 Ok",
    "rcpt": "250 2.1.5 Ok",
    "data": "354 End data with <CR><LF>.<CR><LF>",
    "dot": "250 2.0.0 Ok: queued as SCRIPTED1",
    "rset": "250 2.0.0 Ok",
    "noop": "250 2.0.0 Ok",
    "quit": "221 2.0.0 Bye",
    "starttls": "220 2.0.0 Ready to start TLS",
}


@dataclass
class Session:
    """One client connection as the server saw it."""

    commands: list[str] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    #: How the session ended: "quit", "eof", "drop", "silence".
    ending: str = ""


class ScriptedServer:
    def __init__(self, script: dict[str, Any] | None = None) -> None:
        self.script: dict[str, Any] = dict(script or {})
        self.sessions: list[Session] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._silent = asyncio.Event()

    @property
    def commands(self) -> list[str]:
        """Every command of every session, in order."""
        return [c for s in self.sessions for c in s.commands]

    async def start(self, port: int | None = None) -> None:
        """Listen on *port*, or on the first free port of :data:`PORTS`."""
        for candidate in [port] if port is not None else PORTS:
            try:
                self._server = await asyncio.start_server(
                    self._handle, "127.0.0.1", candidate, ssl=self.script.get("wrapper"))
            except OSError:
                continue
            self.port = candidate
            return
        raise RuntimeError("no free port for the scripted SMTP server")

    async def stop(self) -> None:
        self._silent.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in list(self._writers):
            writer.close()  # the handlers see the end of their connection and return
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _ehlo(self) -> str:
        if "ehlo" in self.script:
            return str(self.script["ehlo"])
        keywords = self.script.get("ehlo_keywords", DEFAULT_KEYWORDS)
        lines = ["250-scripted.test", *(f"250-{k}" for k in keywords)]
        last = lines.pop()
        return "\n".join([*lines, "250 " + last[4:]])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        session = Session()
        self.sessions.append(session)
        try:
            await self._converse(session, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            session.ending = session.ending or "eof"
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _reply(self, key: str, writer: asyncio.StreamWriter, session: Session,
                     default: str | None = None) -> bool:
        value = self.script.get(key, default if default is not None else DEFAULTS.get(key))
        if value == "DROP":
            session.ending = "drop"
            return False
        if value == "SILENCE":
            session.ending = "silence"
            await self._silent.wait()
            return False
        writer.write(("\r\n".join(str(value).split("\n")) + "\r\n").encode())
        await writer.drain()
        return True

    async def _converse(self, session: Session, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        if not await self._reply("greeting", writer, session):
            return
        while True:
            line = await reader.readline()
            if not line:
                session.ending = "eof"
                return
            command = line.decode("utf-8", "replace").rstrip("\r\n")
            session.commands.append(command)
            verb = command.split(" ", 1)[0].split(":", 1)[0].upper()
            if not await self._command(verb, command, session, reader, writer):
                return

    async def _command(self, verb: str, command: str, session: Session,
                       reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        if verb == "EHLO":
            return await self._reply("ehlo", writer, session, self._ehlo())
        if verb == "RCPT":
            address = command.partition("<")[2].partition(">")[0]
            key = f"rcpt:{address}" if f"rcpt:{address}" in self.script else "rcpt"
            return await self._reply(key, writer, session)
        if verb == "DATA":
            if not await self._reply("data", writer, session):
                return False
            if not str(self.script.get("data", "354")).startswith("354"):
                return True
            return await self._content(session, reader, writer)
        if verb == "QUIT":
            await self._reply("quit", writer, session)
            session.ending = "quit"
            return False
        if verb == "AUTH" and "auth_steps" in self.script:
            return await self._auth(session, reader, writer)
        if verb == "STARTTLS" and ("tls" in self.script or "after_starttls" in self.script):
            if not await self._reply("starttls", writer, session):
                return False
            if self.script.get("after_starttls") == "DROP":
                session.ending = "drop"
                return False
            await writer.start_tls(self.script["tls"])
            return True
        if verb.lower() in DEFAULTS:
            return await self._reply(verb.lower(), writer, session)
        return await self._reply(f"other:{verb}", writer, session,
                                 "502 5.5.2 Error: command not recognized")

    async def _content(self, session: Session, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> bool:
        body = b""
        while True:
            line = await reader.readline()
            if not line:
                session.ending = "eof"
                return False
            body += line
            if line == b".\r\n":
                break
            if self.script.get("drop_in_data") and len(body) > 10:
                session.ending = "drop"
                return False
        session.messages.append(body)
        session.commands.append("<data>")
        return await self._reply("dot", writer, session)

    async def _auth(self, session: Session, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> bool:
        for step in self.script["auth_steps"]:
            self.script["_auth"] = step
            if not await self._reply("_auth", writer, session):
                return False
            if not str(step).startswith("334"):
                return True
            line = await reader.readline()
            session.commands.append(line.decode().rstrip("\r\n"))
        return True


@contextlib.asynccontextmanager
async def scripted_server(script: dict[str, Any] | None = None) -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer(script)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def free_port() -> int:
    """A port of the range with nothing listening (for "connection refused").

    Taken from the top of the range, since servers take the lowest free port: a server
    started after this call must not land on the "dead" port."""
    import socket

    for port in reversed(PORTS):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")
