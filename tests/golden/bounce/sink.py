"""A smarthost that records every message it is given (for capture.py; see README.md).

    python3 sink.py DIR PORT[:dsn] ...

Listens on 127.0.0.1 at each PORT (``:dsn`` also announces the DSN extension) and writes each
accepted transaction to ``DIR/NNNN.eml``: a first line ``MAIL FROM:...``, then one
``RCPT TO:...`` line per accepted recipient, a blank line, and the content exactly as received
(CRLF line ends, dot-stuffing removed).  The recipient's local part chooses the reply to RCPT:
``reject...`` gets ``550 5.1.1 <addr>: Recipient address rejected: User unknown``,
``defer...`` gets ``451 4.3.0 <addr>: Temporary lookup failure``; the rest get 250.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from pathlib import Path

_COUNTER = itertools.count(1)


async def session(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, out: Path, dsn: bool
) -> None:
    def send(line: str) -> None:
        writer.write(line.encode() + b"\r\n")

    send("220 sink.test ESMTP")
    envelope: list[bytes] = []
    while line := await reader.readline():
        verb = line[:4].upper()
        address = line.partition(b"<")[2].partition(b">")[0].decode("utf-8", "replace")
        if verb == b"EHLO":
            extensions = ["PIPELINING", "SIZE 0", "8BITMIME", "SMTPUTF8"]
            extensions += ["DSN"] if dsn else []
            lines = ["sink.test", *extensions]
            for i, text in enumerate(lines):
                send(("250 " if i == len(lines) - 1 else "250-") + text)
        elif verb == b"MAIL":
            envelope = [line.rstrip(b"\r\n")]
            send("250 2.1.0 Ok")
        elif verb == b"RCPT" and address.startswith("reject"):
            send(f"550 5.1.1 <{address}>: Recipient address rejected: User unknown")
        elif verb == b"RCPT" and address.startswith("defer"):
            send(f"451 4.3.0 <{address}>: Temporary lookup failure")
        elif verb == b"RCPT":
            envelope.append(line.rstrip(b"\r\n"))
            send("250 2.1.5 Ok")
        elif verb == b"DATA":
            send("354 End data with <CR><LF>.<CR><LF>")
            content = bytearray()
            while (data := await reader.readline()) not in (b".\r\n", b""):
                content += data[1:] if data.startswith(b".") else data
            name = out / f"{next(_COUNTER):04d}.eml"
            name.write_bytes(b"\r\n".join(envelope) + b"\r\n\r\n" + bytes(content))
            send(f"250 2.0.0 Ok: queued as {name.stem}")
        elif verb == b"QUIT":
            send("221 2.0.0 Bye")
            break
        else:
            send("250 2.0.0 Ok")
        await writer.drain()
    writer.close()


async def main(out: Path, specs: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    servers = []
    for spec in specs:
        port, _, flag = spec.partition(":")
        servers.append(await asyncio.start_server(
            lambda r, w, d=flag == "dsn": session(r, w, out, d), "127.0.0.1", int(port)))
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2:]))
