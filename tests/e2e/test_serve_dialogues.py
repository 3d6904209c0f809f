"""Every SMTP dialogue captured from Postfix 3.7.11, replayed over TCP against ``mailrelay serve``.

tests/protocol/ replays them into the state machine; here the client side goes over a real
socket to the real daemon, configured with the same services as the oracle (the master.cf
below mirrors tests/golden/smtpd/README.md with other ports), so the shell, the restrictions
(relay denied, client rejected), the queue (``queued as``) and TLS take part.  The server's
bytes must be Postfix's, cut at the same places, with only the queue IDs normalised.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme

from tests.e2e.daemon import Daemon, free_ports
from tests.protocol.dialogue import DELIBERATE, GOLDEN, Dialogue, load

S = "inet n - n - - smtpd"

SERVICES = {
    "default": "",
    "untrusted": "-o mynetworks=192.0.2.0/24",
    "tls": "-o smtpd_tls_security_level=may {tls}",
    "tls-encrypt": "-o smtpd_tls_security_level=encrypt {tls}",
    "wrapper": "-o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=may {tls}",
    "limits": "-o message_size_limit=2000 -o smtpd_recipient_limit=3 "
              "-o smtpd_hard_error_limit=4 -o smtpd_soft_error_limit=2",
    "strict": "-o disable_vrfy_command=yes -o smtpd_helo_required=yes",
    "legacy": "-o smtpd_forbid_unauth_pipelining=no -o smtpd_forbid_bare_newline=no",
    "reject-lf": "-o smtpd_forbid_bare_newline=reject",
    "reject-lf-521": "-o smtpd_forbid_bare_newline=reject "
                     "-o smtpd_forbid_bare_newline_reject_code=521",
    "discard": "-o smtpd_discard_ehlo_keywords=chunking,dsn,pipelining -o smtputf8_enable=no",
    "size5000": "-o message_size_limit=5000",
    "timeout": "-o smtpd_timeout=2s",
    "tls-legacy": "-o smtpd_tls_security_level=may {tls} -o smtpd_forbid_unauth_pipelining=no",
    "discard-all": "-o smtpd_tls_security_level=may {tls} -o smtpd_discard_ehlo_keywords="
                   "pipelining,size,vrfy,etrn,starttls,enhancedstatuscodes,8bitmime,dsn,"
                   "smtputf8,chunking,silent-discard",
    "client-reject": "-o smtpd_delay_reject=no -o smtpd_client_restrictions=reject",
    "unlimited": "-o message_size_limit=0",
}

DIALOGUES = sorted(GOLDEN.glob("*.dialogue"))
QUEUED = re.compile(rb"queued as [0-9A-Za-z]+")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("dialogues")
    ca = trustme.CA()
    cert = ca.issue_cert("relay.corp.local")
    cert.private_key_and_cert_chain_pem.write_to_path(str(root / "relay.pem"))
    tls = f"-o smtpd_tls_cert_file={root}/relay.pem -o smtpd_tls_key_file={root}/relay.pem"
    ports = free_ports(len(SERVICES))
    master = "".join(f"127.0.0.1:{port} {S} {opts.format(tls=tls)}\n"
                     for port, opts in zip(ports, SERVICES.values(), strict=True))
    d = Daemon(root, "smtpd_forbid_bare_newline_exclusions =\n", master, ports).start()
    d.service_ports = dict(zip(SERVICES, ports, strict=True))
    yield d
    assert d.stop() == 0, d.log()


def receive(sock: socket.socket | ssl.SSLSocket, want: bytes, limit: float) -> bytes:
    """Read until what arrived (queue IDs normalised) is as long as *want*, or time runs out."""
    got = b""
    deadline = time.monotonic() + limit
    while len(QUEUED.sub(b"queued as QUEUEID", got)) < len(want):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ssl.SSLError, ConnectionError):
            break
        if not chunk:
            break
        got += chunk
    return QUEUED.sub(b"queued as QUEUEID", got)


def play(dialogue: Dialogue, port: int) -> list[bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    expected = dialogue.expected()
    sock: socket.socket | ssl.SSLSocket = socket.create_connection(("127.0.0.1", port))
    if dialogue.service == "wrapper":
        sock = context.wrap_socket(sock)
    # A dialogue that starts with C: sent it before reading the banner (segment 0 is empty).
    got = [receive(sock, expected[0], 5)]
    segment = 0
    for step in dialogue.steps:
        if step.kind in ("S", "S~") or step.data == b"closed":
            continue
        segment += 1
        if step.kind == "C":
            with contextlib.suppress(OSError):  # the server may have closed already
                sock.sendall(step.data)
        elif step.data == b"starttls":
            sock = context.wrap_socket(sock)
        elif step.data == b"timeout":
            pass  # the server's 421 arrives after smtpd_timeout (2s)
        got.append(receive(sock, expected[segment], 6))
    if dialogue.steps and dialogue.steps[-1].data == b"closed":
        got[-1] += receive(sock, got[-1] + b"\x00" * 65536, 2)[len(got[-1]):]
    sock.close()
    return got


@pytest.mark.parametrize("path", DIALOGUES, ids=[p.stem for p in DIALOGUES])
def test_the_daemon_answers_what_postfix_answered(daemon: Daemon, path: Path):
    dialogue = load(path)
    if dialogue.name in DELIBERATE:
        pytest.skip(f"deliberate difference: {DELIBERATE[dialogue.name]}")
    got = play(dialogue, daemon.service_ports[dialogue.service])
    assert got == dialogue.expected()
