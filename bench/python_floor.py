"""Not mailrelay: the least a Python SMTP acceptor can do per message, as a lower bound.

    python3 bench/python_floor.py PORT SPOOL_DIR        # then point smtp-source at PORT

Two processes (fork) share one listening socket on 127.0.0.1:PORT, each on uvloop with an
asyncio.Protocol that answers every command with a fixed reply, and at the end of DATA
writes the body to SPOOL_DIR/tmp, fdatasyncs it and renames it into SPOOL_DIR/incoming
before its 250: no restrictions, no cleanup, no log, no directory fsync, no envelope.
It measures what the interpreter, uvloop and the kernel cost per message on this machine,
so that mailrelay's own per-message work can be read off the difference (bench/README.md).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import sys

import uvloop

SERIAL = itertools.count()


class Floor(asyncio.Protocol):
    def __init__(self, spool: str) -> None:
        self.spool = spool
        self.buf = b""
        self.in_data = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but have its methods)
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport.write(b"220 floor ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.in_data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    return
                body, self.buf, self.in_data = self.buf[:end], self.buf[end + 5:], False
                name = f"{os.getpid()}-{next(SERIAL)}"
                temp = f"{self.spool}/tmp/{name}"
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.write(fd, body)
                os.fdatasync(fd)
                os.close(fd)
                os.rename(temp, f"{self.spool}/incoming/{name}")
                self.transport.write(b"250 2.0.0 Ok: queued\r\n")
                continue
            end = self.buf.find(b"\r\n")
            if end < 0:
                return
            verb, self.buf = self.buf[:4].upper(), self.buf[end + 2:]
            if verb == b"EHLO":
                self.transport.write(b"250-floor\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 2.0.0 Bye\r\n")
                self.transport.close()
                return
            else:
                self.transport.write(b"250 2.0.0 Ok\r\n")


async def serve(sock: socket.socket, spool: str) -> None:
    await asyncio.get_running_loop().create_server(lambda: Floor(spool), sock=sock)
    await asyncio.Event().wait()


def main() -> None:
    port, spool = int(sys.argv[1]), sys.argv[2]
    for sub in ("tmp", "incoming"):
        os.makedirs(f"{spool}/{sub}", exist_ok=True)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.setblocking(False)
    os.fork()  # two processes, as mailrelay runs two smtpd workers on two cores
    uvloop.run(serve(sock, spool))


if __name__ == "__main__":
    main()
