"""A DNS server on loopback for the end-to-end tests, run as a subprocess (dnslib packets).

    python tests/e2e/dns_server.py PORT ZONE.json

ZONE.json: {"name. TYPE": [values]} with A/AAAA addresses, MX as [preference, "host."],
TXT strings; a name with no entry at all is NXDOMAIN, a name with other types only is
"no data".  The daemon is pointed at it with MAILRELAY_DNS_SERVER=127.0.0.1:PORT.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dnslib


def _rdata(qtype: str, value: Any) -> Any:
    if qtype == "A":
        return dnslib.A(value)
    if qtype == "AAAA":
        return dnslib.AAAA(value)
    if qtype == "MX":
        return dnslib.MX(value[1], value[0])
    if qtype == "CNAME":
        return dnslib.CNAME(value)
    return dnslib.TXT(value)


def answer(zone: dict[str, list[Any]], packet: bytes) -> bytes:
    request = dnslib.DNSRecord.parse(packet)
    name = str(request.q.qname).lower()
    qtype = dnslib.QTYPE[request.q.qtype]
    reply = request.reply()
    values = zone.get(f"{name} {qtype}")
    if values is None:
        if not any(key.split(" ")[0] == name for key in zone):
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
        return bytes(reply.pack())
    for value in values:
        reply.add_answer(dnslib.RR(name, getattr(dnslib.QTYPE, qtype),
                                   rdata=_rdata(qtype, value), ttl=60))
    return bytes(reply.pack())


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, zone: dict[str, list[Any]]) -> None:
        self.zone = zone
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(answer(self.zone, data), addr)


async def main(port: int, zone_path: str) -> None:
    zone = json.loads(Path(zone_path).read_text())
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(zone),
                                                       local_addr=("127.0.0.1", port))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    transport.close()


class DnsServer:
    """The test's handle on the subprocess."""

    def __init__(self, root: Path, port: int, zone: dict[str, list[Any]]) -> None:
        self.port = port
        self.path = root / f"zone-{port}.json"
        self.path.write_text(json.dumps(zone))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DnsServer:
        self.proc = subprocess.Popen([sys.executable, __file__, str(self.port), str(self.path)])
        probe = dnslib.DNSRecord.question("probe.test.").pack()
        deadline = time.monotonic() + 10
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.2)
            while time.monotonic() < deadline:
                sock.sendto(probe, ("127.0.0.1", self.port))
                try:
                    sock.recv(512)
                    return self
                except OSError:
                    continue
        raise TimeoutError("the DNS server did not start")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
