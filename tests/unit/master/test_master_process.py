"""The master's listening sockets across a reload: kept, bound, or none at all."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mailrelay.config.locate import ConfigSource
from mailrelay.config.mastercf import Listener, Service
from mailrelay.master.process import Master
from mailrelay.util.diagnostic import Fatal

MAIN_CF = """\
queue_directory = {root}/spool
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
"""


def master(root: Path) -> Master:
    etc = root / "etc"
    etc.mkdir()
    (etc / "main.cf").write_text(MAIN_CF.format(root=root))
    (etc / "master.cf").write_text("127.0.0.1:2525 inet n - n - - smtpd\n")
    return Master(ConfigSource(str(etc), embedded=False, explicit=True), 1, stream=None)


def listener(port: int) -> Listener:
    service = Service(f"127.0.0.1:{port}", "inet", "n", "-", "n", "-", "-", "smtpd")
    return Listener("127.0.0.1", port, service)


def test_a_kept_listener_keeps_its_socket_and_a_new_one_is_bound(tmp_path: Path) -> None:
    m = master(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    kept = m.bind_all((listener(0),), {})
    [(key, sock)] = kept.items()
    both = m.bind_all((listener(0), listener(free)), kept)
    try:
        assert both[key] is sock
        assert both[("127.0.0.1", free)].getsockname() == ("127.0.0.1", free)
    finally:
        for s in both.values():
            s.close()


def test_a_listener_that_cannot_be_bound_refuses_all_and_closes_what_it_bound(
        tmp_path: Path) -> None:
    m = master(tmp_path)
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        with pytest.raises(Fatal, match=f"bind 127.0.0.1 port {port}: Address already in use"):
            m.bind_all((listener(free), listener(port)), {})
    # The socket bound for *free* was closed: the port can be bound again.
    with socket.socket() as again:
        again.bind(("127.0.0.1", free))
