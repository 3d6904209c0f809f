"""The metrics child: an HTTP server answering ``GET /metrics`` on metrics_http_address.

SECURITY: listens on the TCP address of metrics_http_address (no authentication: bind it to
loopback or a management network); reads the metrics directory and the queue files.

One request per connection: the request line and headers are read (8 KiB at most, 10 s at
most); ``GET`` or ``HEAD /metrics`` (any query string) gets the exposition text, made at that
moment: the sum of every process's values (MultiProcessCollector) and the queue as it is now
(`QueueCollector`); any other path gets 404, any other method on /metrics 405.  The answer
ends the connection.  An address that cannot be bound is logged (a warning naming the
parameter) and tried again every `RETRY` seconds.  prometheus_client is imported only in
here, inside the functions: the master imports this module before it has set the
multiprocess directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable

from mailrelay.config.model import Config
from mailrelay.maillog.writer import MailLog
from mailrelay.metrics.address import PARAMETER, metrics_address
from mailrelay.queue.store import QueueStore

PATH = "/metrics"
HEAD_LIMIT = 8192
READ_TIMEOUT = 10.0
#: Seconds between two attempts to bind an address that is taken.
RETRY = 10.0

Render = Callable[[], tuple[bytes, str]]


def renderer(store: QueueStore) -> Render:
    """The exposition text and its content type, from the multiprocess directory and the
    queue."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    from mailrelay.metrics.queue_collector import QueueCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(QueueCollector(store))
    return lambda: (generate_latest(registry), CONTENT_TYPE_LATEST)


def response(request_line: str, render: Render) -> tuple[bytes, bool]:
    """The whole answer (head and body) to a request line, and whether it is to a HEAD."""
    parts = request_line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return _answer(400, "Bad Request", b"bad request\n"), False
    method, path = parts[0], parts[1].split("?", 1)[0]
    if path != PATH:
        return _answer(404, "Not Found", b"not found: try /metrics\n"), method == "HEAD"
    if method not in ("GET", "HEAD"):
        return _answer(405, "Method Not Allowed", b"method not allowed\n",
                       extra="Allow: GET, HEAD\r\n"), False
    body, content_type = render()
    return _answer(200, "OK", body, content_type), method == "HEAD"


def _answer(code: int, reason: str, body: bytes, content_type: str = "text/plain",
            extra: str = "") -> bytes:
    head = (f"HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n")
    return head.encode("ascii") + body


async def _session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   render: Render) -> None:
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
        answer, is_head = response(head.split(b"\r\n", 1)[0].decode("latin-1"), render)
        if is_head:
            answer = answer[: answer.index(b"\r\n\r\n") + 4]
        writer.write(answer)
        await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        pass  # a client that is too slow, too long or gone gets nothing more
    finally:
        writer.close()


async def serve(host: str, port: int, render: Render, stop: asyncio.Event) -> None:
    """Answer requests on host:port until *stop* is set (OSError when it cannot bind)."""
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _session(reader, writer, render)

    server = await asyncio.start_server(session, host or None, port, limit=HEAD_LIMIT,
                                        reuse_address=True)
    async with server:
        await stop.wait()


async def serve_retrying(host: str, port: int, render: Render, stop: asyncio.Event,
                         warn: Callable[[str], None], setting: str) -> None:
    """`serve`, binding again every RETRY seconds while the address is taken or missing:
    the relay goes on without metrics meanwhile, and the master is not made to restart a
    child that would only fail again."""
    while not stop.is_set():
        try:
            await serve(host, port, render, stop)
        except OSError as e:
            # asyncio's bind error wraps the system's text; log the system's, as Postfix does.
            reason = os.strerror(e.errno) if e.errno else str(e)
            warn(f"warning: bind {host or '*'} port {port}: {reason} ({PARAMETER} = "
                 f"{setting}): no metrics; trying again in {RETRY:g}s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY):
                    await stop.wait()


def run_metrics_process(config: Config, store: QueueStore, maillog: MailLog) -> int:
    """The metrics child's main (called after fork, with metrics enabled in the master)."""
    address = metrics_address(config)
    if address is None:
        return 0
    host, port = address

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, maillog.reopen)
        await serve_retrying(host, port, renderer(store), stop, maillog.logger("metrics"),
                             config.get_str(PARAMETER).strip())

    asyncio.run(main())
    return 0
