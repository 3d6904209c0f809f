"""Idle SMTP connections kept for the next delivery to the same destination.

SECURITY: holds open connections to remote servers; closes each one after
``smtp_connection_cache_time_limit`` of idleness, and all of them on close().

Postfix keeps these in its scache(8) service; mailrelay's smtp agent lives in one process,
so a dictionary does.  A connection is stored under the destination it was opened for (and
the SASL identity it authenticated with, so that one sender's credentials never carry
another's mail).  Taking a connection removes it: a connection serves one delivery at a
time.  An idle connection that expires is simply closed, without QUIT, as scache does.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from mailrelay.delivery.smtp_connection import SmtpConnection

CacheKey = tuple[str, str]


class ConnectionCache:
    def __init__(self, idle_limit: float) -> None:
        self._idle_limit = idle_limit
        self._idle: dict[CacheKey, list[tuple[SmtpConnection, asyncio.TimerHandle]]] = (
            defaultdict(list))
        self._closing: set[asyncio.Task[None]] = set()

    def take(self, key: CacheKey) -> SmtpConnection | None:
        """A cached connection for *key*, most recently used first, or None."""
        entries = self._idle.get(key)
        while entries:
            connection, timer = entries.pop()
            timer.cancel()
            if connection.usable:
                connection.reuse_count += 1
                return connection
            self._close_later(connection)
        return None

    def put(self, key: CacheKey, connection: SmtpConnection) -> None:
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self._idle_limit, self._expire, key, connection)
        self._idle[key].append((connection, timer))

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._idle.values())

    def _expire(self, key: CacheKey, connection: SmtpConnection) -> None:
        entries = self._idle.get(key, [])
        for i, (cached, _) in enumerate(entries):
            if cached is connection:
                del entries[i]
                break
        self._close_later(connection)

    def _close_later(self, connection: SmtpConnection) -> None:
        task = asyncio.get_running_loop().create_task(connection.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """QUIT and close every idle connection."""
        entries = [entry for group in self._idle.values() for entry in group]
        self._idle.clear()
        for _, timer in entries:
            timer.cancel()
        await asyncio.gather(*(connection.quit() for connection, _ in entries),
                             return_exceptions=True)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
