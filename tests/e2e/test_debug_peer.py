"""debug_peer_list under ``mailrelay serve``: the SMTP dialogue of matching peers is logged in
Postfix's format (tests/golden/debug_peer/), on both sides, with every SASL secret masked.
"""

from __future__ import annotations

import base64
import re
import socket
from pathlib import Path

import pytest

from tests.e2e.daemon import Daemon, free_ports
from tests.e2e.smarthost import SmartHost

S = "inet n - n - - smtpd"
CLIENT_USER, CLIENT_PASSWORD = "carol", "Cl1entPassw0rdXyz"
RELAY_USER, RELAY_PASSWORD = "relay@corp.example", "Rel4yPassw0rdQrs"
#: What Postfix 3.7 says to EHLO without SASL, before CHUNKING (tests/golden/debug_peer/).
EHLO_WORDS = ("PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "ENHANCEDSTATUSCODES", "8BITMIME",
              "DSN", "SMTPUTF8")
#: The prefix of a dialogue line: "postfix/DAEMON[PID]: ".
LINE = re.compile(r"postfix/(smtpd|smtp)\[\d+\]: (.*)$")


@pytest.fixture
def ports() -> list[int]:
    return free_ports(2)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secrets() -> list[str]:
    """Every form of the test's passwords that could leak into the log."""
    forms = []
    for user, password in ((CLIENT_USER, CLIENT_PASSWORD), (RELAY_USER, RELAY_PASSWORD)):
        forms += [password, b64(password), b64(f"\0{user}\0{password}")]
    return forms


def chat(port: int, lines: list[str]) -> list[str]:
    """Send each line and read its reply (the whole reply, multi-line ones too)."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")

        def reply() -> str:
            got = []
            while True:
                line = f.readline().decode().rstrip("\r\n")
                got.append(line)
                if line[3:4] != "-":
                    return "\n".join(got)

        replies.append(reply())
        for line in lines:
            s.sendall(line.encode() + b"\r\n")
            replies.append(reply())
    return replies


def start(tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost],
          debug_peer_list: str, auth: str = "AUTH PLAIN LOGIN") -> Daemon:
    host = SmartHost(tmp_path, ports[1], keywords=["PIPELINING", "8BITMIME", auth],
                     auth={RELAY_USER: RELAY_PASSWORD}, require_auth=True)
    running.append(host.start())
    d = Daemon(tmp_path, f"""\
debug_peer_list = {debug_peer_list}
relayhost = [127.0.0.1]:{ports[1]}
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = inline:{{ [127.0.0.1]:{ports[1]}={RELAY_USER}:{RELAY_PASSWORD} }}
smtp_sasl_security_options = noanonymous
""", f"127.0.0.1:{ports[0]} {S}\n", ports[:1], workers=1, deliver=True)
    running.append(d.start())
    return d


def dialogue(d: Daemon, daemon: str) -> list[str]:
    """The dialogue lines of *daemon*, without the sessions of the start-up probe (which
    only QUITs)."""
    sessions: list[list[str]] = [[]]
    for line in d.maillog().splitlines():
        m = LINE.search(line)
        if m and m.group(1) == daemon and m.group(2).startswith("connect from "):
            sessions.append([])
        elif m and m.group(1) == daemon and m.group(2)[:2] in ("< ", "> "):
            sessions[-1].append(m.group(2))
    return [line for s in sessions if not any(x.endswith(": QUIT") for x in s[:2])
            for line in s]


def test_the_dialogue_of_a_debug_peer_is_logged_on_both_sides_with_secrets_masked(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost]) -> None:
    d = start(tmp_path, ports, running, "127.0.0.1")
    plain = b64(f"\0{CLIENT_USER}\0{CLIENT_PASSWORD}")
    chat(ports[0], ["EHLO client.example", f"AUTH PLAIN {plain}", "AUTH LOGIN",
                    b64(CLIENT_USER), b64(CLIENT_PASSWORD), "MAIL FROM:<alice@corp.local>",
                    "RCPT TO:<bob@example.com>", "DATA",
                    f"Subject: {CLIENT_PASSWORD[:4]}x\r\n\r\nbody line\r\n.", "QUIT"])
    queued = d.wait_for_log(r"postfix/smtp\[\d+\]: \w+: to=<bob@example.com>.*status=sent")
    queue_id = queued[0].split(": ")[1]
    peer, relay = "localhost[127.0.0.1]", f"127.0.0.1[127.0.0.1]:{ports[1]}"
    assert dialogue(d, "smtpd") == [
        f"> {peer}: 220 relay.corp.local ESMTP Postfix",
        f"< {peer}: EHLO client.example",
        f"> {peer}: 250-relay.corp.local",
        *(f"> {peer}: 250-{word}" for word in EHLO_WORDS),
        f"> {peer}: 250 CHUNKING",
        f"< {peer}: AUTH PLAIN *******",
        f"> {peer}: 503 5.5.1 Error: authentication not enabled",
        f"< {peer}: AUTH LOGIN",
        f"> {peer}: 503 5.5.1 Error: authentication not enabled",
        f"< {peer}: *******",
        f"> {peer}: 500 5.5.2 Error: command not recognized",
        f"< {peer}: *******",
        f"> {peer}: 500 5.5.2 Error: command not recognized",
        f"< {peer}: MAIL FROM:<alice@corp.local>",
        f"> {peer}: 250 2.1.0 Ok",
        f"< {peer}: RCPT TO:<bob@example.com>",
        f"> {peer}: 250 2.1.5 Ok",
        f"< {peer}: DATA",
        f"> {peer}: 354 End data with <CR><LF>.<CR><LF>",
        f"> {peer}: 250 2.0.0 Ok: queued as {queue_id}",
        f"< {peer}: QUIT",
        f"> {peer}: 221 2.0.0 Bye",
    ]
    client = dialogue(d, "smtp")
    assert client[:8] == [
        f"< {relay}: 220 smarthost.test ESMTP",
        f"> {relay}: EHLO relay.corp.local",
        f"< {relay}: 250-smarthost.test",
        f"< {relay}: 250-PIPELINING",
        f"< {relay}: 250-8BITMIME",
        f"< {relay}: 250 AUTH PLAIN LOGIN",
        f"> {relay}: AUTH PLAIN *******",
        f"< {relay}: 235 2.7.0 Authentication successful",
    ]
    assert f"> {relay}: MAIL FROM:<alice@corp.local>" in client
    assert f"> {relay}: ." in client  # the content itself is never logged
    assert not any("body line" in line for line in client + dialogue(d, "smtpd"))
    log = d.maillog()
    for secret in secrets():
        assert secret not in log


def test_peers_outside_debug_peer_list_get_no_dialogue_lines(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost]) -> None:
    d = start(tmp_path, ports, running, "192.0.2.1, example.com")
    chat(ports[0], ["EHLO client.example", "MAIL FROM:<alice@corp.local>",
                    "RCPT TO:<bob@example.com>", "DATA", "Subject: x\r\n\r\nbody\r\n.", "QUIT"])
    d.wait_for_log(r"postfix/smtp\[\d+\]: \w+: to=<bob@example.com>.*status=sent")
    assert dialogue(d, "smtpd") == [] and dialogue(d, "smtp") == []
    d.wait_for_log(r"postfix/smtpd\[\d+\]: disconnect from localhost\[127\.0\.0\.1\]")


def test_an_auth_login_exchange_of_the_smtp_client_is_masked_line_by_line(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost]) -> None:
    d = start(tmp_path, ports, running, "127.0.0.0/8", auth="AUTH LOGIN")
    chat(ports[0], ["HELO client.example", "MAIL FROM:<alice@corp.local>",
                    "RCPT TO:<bob@example.com>", "DATA", "Subject: x\r\n\r\nbody\r\n.", "QUIT"])
    d.wait_for_log(r"postfix/smtp\[\d+\]: \w+: to=<bob@example.com>.*status=sent")
    relay = f"127.0.0.1[127.0.0.1]:{ports[1]}"
    client = dialogue(d, "smtp")
    start_auth = client.index(f"> {relay}: AUTH LOGIN")
    assert client[start_auth:start_auth + 6] == [
        f"> {relay}: AUTH LOGIN",
        f"< {relay}: 334 VXNlcm5hbWU6",
        f"> {relay}: *******",
        f"< {relay}: 334 UGFzc3dvcmQ6",
        f"> {relay}: *******",
        f"< {relay}: 235 2.7.0 Authentication successful",
    ]
    assert f"> {relay}: MAIL FROM:<alice@corp.local>" in client
    log = d.maillog()
    for secret in secrets():
        assert secret not in log
    assert b64(RELAY_USER) not in log
