"""smtpd's side of anvil: one connection per worker, one request at a time.

SECURITY: connects to the local anvil socket only.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mailrelay.anvil.service import SOCKET
from mailrelay.maillog.writer import Logger
from mailrelay.policy.anvil import Counts


class AnvilClient:
    def __init__(self, queue_directory: Path, log: Logger) -> None:
        self.path = queue_directory / SOCKET
        self.log = log
        self._lock = asyncio.Lock()
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def _ask(self, line: str) -> str | None:
        """The answer, or None when anvil cannot be reached (the limits are then off)."""
        async with self._lock:
            for _ in range(2):  # one reconnect: anvil may have been restarted
                try:
                    if self._stream is None:
                        self._stream = await asyncio.open_unix_connection(str(self.path))
                    reader, writer = self._stream
                    writer.write(line.encode() + b"\n")
                    await writer.drain()
                    reply = await reader.readline()
                    if reply:
                        return reply.decode().strip()
                except OSError:
                    pass
                self._close()
            self.log(f"warning: problem talking to service anvil ({self.path}): "
                     "client limits are not enforced")
            return None

    def _close(self) -> None:
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None

    async def connect(self, service: str, address: str) -> Counts | None:
        reply = await self._ask(f"connect {service} {address}")
        if reply is None:
            return None
        count, rate = reply.split()
        return Counts(int(count), int(rate))

    async def disconnect(self, service: str, address: str) -> None:
        await self._ask(f"disconnect {service} {address}")

    async def count(self, event: str, service: str, address: str) -> int | None:
        """``mail`` or ``rcpt``: the client's count in this time unit, this one included."""
        reply = await self._ask(f"{event} {service} {address}")
        return int(reply) if reply is not None else None
