"""local_header_rewrite_clients end to end: the same message from the same client, through
smtpd services that differ only in that parameter (master.cf ``-o``), as the smarthost gets it.

Postfix 3.7 (tests/golden/content_filter/README.md): a local client's ``From: alice`` becomes
``From: alice@corp.local`` and a Message-Id and a Date are added; a remote client's headers
are left as they are (remote_header_rewrite_domain is empty); an unknown item is skipped with
``warning: parameter local_header_rewrite_clients: invalid request: NAME``.
"""

from __future__ import annotations

import re
import smtplib
from pathlib import Path

from tests.e2e.daemon import Daemon, free_ports
from tests.e2e.smarthost import SmartHost

S = "inet n - n - - smtpd"
SERVICES = {
    "default": "",                                   # permit_inet_interfaces: 127.0.0.1
    "static": "static:all",
    "map-miss": "check_address_map,inline:{192.0.2.1=OK}",
    "map-hit": "check_address_map,inline:{127.0.0.1=OK}",
    "mynetworks": "permit_mynetworks",
    "unknown": "frobnicate",
    "sasl": "permit_sasl_authenticated,permit_tls_clientcerts,permit_tls_all_clientcerts",
}
LOCAL = {"default", "static", "map-hit", "mynetworks"}


def test_header_rewriting_follows_each_services_local_header_rewrite_clients(
        tmp_path: Path, running: list[object]) -> None:
    ports = free_ports(len(SERVICES) + 1)
    relay_port, service_ports = ports[0], dict(zip(SERVICES, ports[1:], strict=True))
    host = SmartHost(tmp_path, relay_port).start()
    running.append(host)
    master = "".join(
        f"127.0.0.1:{port} {S}" + (f" -o local_header_rewrite_clients={SERVICES[name]}"
                                   if SERVICES[name] else "") + "\n"
        for name, port in service_ports.items())
    daemon = Daemon(tmp_path, f"relayhost = [127.0.0.1]:{relay_port}\n", master,
                    list(service_ports.values()), workers=1, deliver=True)
    running.append(daemon.start())
    for name, port in service_ports.items():
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo("app1.corp.local")
            client.sendmail("a@corp.local", ["x@example.com"],
                            f"From: alice\r\nTo: bob\r\nSubject: {name}\r\n\r\nbody\r\n")
    got = {}
    for _, content in host.wait_for(len(SERVICES)):
        m = re.search(rb"^Subject: (.*)\r$", content, re.M)
        assert m is not None
        got[m.group(1).decode()] = content
    for name, content in got.items():
        local = name in LOCAL
        assert (b"\r\nFrom: alice@corp.local\r\nTo: bob@corp.local\r\n" in content) is local, name
        assert (b"\r\nFrom: alice\r\nTo: bob\r\n" in content) is not local, name
        assert (b"\r\nMessage-Id: <" in content) is local, name
    daemon.wait_for_log(r"postfix/smtpd\[\d+\]: warning: parameter "
                        r"local_header_rewrite_clients: invalid request: frobnicate$")
