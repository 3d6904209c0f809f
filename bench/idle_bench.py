#!/usr/bin/env python3
"""Memory for idle SMTP connections: mailrelay against Postfix, in the same run.

    python3 bench/idle_bench.py [--connections 2000] [--postfix-connections 90]

Opens N connections to each server, reads every banner, sends EHLO on each and leaves them
idle, then reads the PSS of the server's whole process tree.  Postfix runs one smtpd process
per connection (master.cf's maxproc, default_process_limit = 100), so it is measured at what
its defaults allow and compared per connection.  Loopback only; bounded in time.
"""

from __future__ import annotations

import argparse
import resource
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from accept_bench import Mailrelay, Postfix, close_everything, tree_pss_mib  # noqa: E402


def hold(port: int, count: int, deadline: float) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        if time.monotonic() > deadline:
            raise TimeoutError("connections took too long")
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(s)
    for s in socks:
        if not s.recv(512).startswith(b"220"):
            raise RuntimeError("no banner")
        s.sendall(b"EHLO idle.example\r\n")
    for s in socks:
        s.recv(4096)
    return socks


def measure(server, count: int) -> tuple[float, float]:
    server.start()
    time.sleep(1)
    base = tree_pss_mib(server.root_pid)
    socks = hold(server.port, count, time.monotonic() + 120)
    time.sleep(1)
    loaded = tree_pss_mib(server.root_pid)
    for s in socks:
        s.close()
    server.close()
    return base, loaded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--postfix-connections", type=int, default=90)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 2 * args.connections + 1000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # inherited by serve
    extra = ["smtpd_client_connection_count_limit = 0", "smtpd_timeout = 300s"]
    try:
        mb, ml = measure(Mailrelay(None, extra, ["mailrelay"], 40), args.connections)
        pb, pl = measure(Postfix(None, extra), args.postfix_connections)
    finally:
        close_everything()
    m_per = (ml - mb) * 1024 / args.connections
    p_per = (pl - pb) * 1024 / args.postfix_connections
    print("| system | idle connections | PSS before | PSS with them | KiB per connection |")
    print("|---|---|---|---|---|")
    print(f"| mailrelay | {args.connections} | {mb:.0f} MiB | {ml:.0f} MiB | {m_per:.1f} |")
    print(f"| postfix | {args.postfix_connections} | {pb:.0f} MiB | {pl:.0f} MiB | {p_per:.1f} |")
    print(f"\nper idle connection, mailrelay / Postfix: {m_per / p_per:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
