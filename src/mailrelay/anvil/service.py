"""The anvil service: one process holds the counters; smtpd workers ask it over a socket.

SECURITY: listens on ``$queue_directory/private/anvil`` (in a 0700 directory: only the mail
system's user can reach it).

Protocol, one line each way: ``connect SERVICE ADDRESS`` → ``COUNT RATE``;
``disconnect SERVICE ADDRESS`` → ``ok``; ``mail SERVICE ADDRESS`` and ``rcpt SERVICE ADDRESS``
→ ``COUNT``.  The counters are :class:`mailrelay.policy.anvil.Anvil`'s (pure); this module is
only the socket around them.  A worker that cannot reach anvil serves without the limits and
logs a warning, as Postfix's smtpd does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

from mailrelay.maillog.writer import Logger
from mailrelay.policy.anvil import Anvil

SOCKET = Path("private") / "anvil"


class _MonotonicClock:
    def monotonic(self) -> float:
        return time.monotonic()


def answer(anvil: Anvil, line: str) -> str:
    words = line.split()
    if len(words) != 3:
        return "error"
    verb, service, address = words
    if verb == "connect":
        counts = anvil.connect(service, address)
        return f"{counts.count} {counts.rate}"
    if verb == "disconnect":
        anvil.disconnect(service, address)
        return "ok"
    if verb == "mail":
        return str(anvil.mail(service, address))
    if verb == "rcpt":
        return str(anvil.rcpt(service, address))
    return "error"


async def serve(queue_directory: Path, time_unit: float, log: Logger) -> None:
    anvil = Anvil(_MonotonicClock(), time_unit)
    path = queue_directory / SOCKET
    path.parent.mkdir(mode=0o700, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write((answer(anvil, line.decode("ascii", "replace")) + "\n").encode())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_unix_server(client, path=str(path))
    os.chmod(path, 0o600)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), time_unit)
            anvil.expire()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def run(queue_directory: Path, time_unit: float, log: Logger) -> int:
    asyncio.run(serve(queue_directory, time_unit, log))
    return 0
