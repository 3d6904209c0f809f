"""``mailrelay trace`` against what the running relay then really does with the same envelope.

One configuration in the guide's shape (relayhost, sender_dependent_relayhost_maps,
transport_maps, a master.cf transport with ``-o``, smtp_generic_maps, check_recipient_access)
and three smarthosts standing in for the next hops.  For each envelope the test reads the
trace's prediction (next hop, the sender as sent, the reply of a refused recipient), then
sends a real message and checks that it arrived where the trace said, as the trace said.
"""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemon import MAILRELAY, Daemon, free_ports
from tests.e2e.smarthost import SmartHost

S = "inet n - n - - smtpd"


def _config(relay_a: int, relay_b: int, relay_c: int, tables: Path) -> str:
    return f"""\
relayhost = [127.0.0.1]:{relay_a}
sender_dependent_relayhost_maps = hash:{tables}/sender_relay
transport_maps = hash:{tables}/transport
smtp_generic_maps = hash:{tables}/generic
smtpd_recipient_restrictions = check_recipient_access hash:{tables}/access,
    permit_mynetworks, reject_unauth_destination
"""


@pytest.fixture
def relay(tmp_path: Path, running: list[Any]) -> tuple[Daemon, dict[int, SmartHost], int]:
    port, a, b, c = free_ports(4)
    tables = tmp_path / "tables"
    tables.mkdir()
    sources = {
        "sender_relay": f"billing@corp.local [127.0.0.1]:{b}\n",
        "transport": f"partner.example relay:[127.0.0.1]:{c}\n",
        "generic": "app@corp.local noreply@corp.com\n@corp.local relay@corp.com\n",
        "access": "blocked@example.org REJECT mailbox closed\n",
    }
    for name, text in sources.items():
        (tables / name).write_text(text)
        subprocess.run([MAILRELAY, "postmap", f"hash:{tables / name}"], check=True, timeout=60)
    hosts = {p: SmartHost(tmp_path, p) for p in (a, b, c)}
    for host in hosts.values():
        running.append(host.start())
    # The relay transport rewrites nothing more than smtp, but its -o line must be honoured
    # (and shown) by both.
    master = f"127.0.0.1:{port} {S}\nrelay unix - - n - - smtp\n  -o smtp_helo_name=relay-out\n"
    daemon = Daemon(tmp_path, _config(a, b, c, tables), master, [port], workers=1,
                    deliver=True)
    running.append(daemon.start())
    return daemon, hosts, port


def trace(daemon: Daemon, sender: str, recipient: str) -> dict[str, Any]:
    result = subprocess.run([MAILRELAY, "-c", str(daemon.etc), "trace", "--no-dns", "--json",
                             sender, recipient], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def decision(report: dict[str, Any], stage: str, pattern: str) -> re.Match[str]:
    for d in report["decisions"]:
        found = re.search(pattern, d["decision"]) if d["stage"] == stage else None
        if found is not None:
            return found
    raise AssertionError(f"no {stage} decision like {pattern!r}: {report['decisions']}")


def send(port: int, sender: str, recipient: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, [recipient], f"From: {sender}\r\nSubject: t\r\n\r\nhi\r\n")


@pytest.mark.parametrize(("sender", "recipient"), [
    ("app@corp.local", "user@example.org"),       # relayhost, generic for this user
    ("billing@corp.local", "user@example.org"),   # sender-dependent relayhost, @domain generic
    ("app@corp.local", "bob@partner.example"),    # transport_maps to the relay service
])
def test_the_message_goes_to_the_next_hop_and_with_the_sender_the_trace_predicted(
        relay: tuple[Daemon, dict[int, SmartHost], int], sender: str, recipient: str) -> None:
    daemon, hosts, port = relay
    report = trace(daemon, sender, recipient)
    assert report["result"] == "accepted"
    route = decision(report, "route", r"-> (\w+):\[127\.0\.0\.1\]:(\d+)$")
    sent_as = decision(report, "generic", r"^sender <[^>]*> -> <([^>]*)>$").group(1)
    host = hosts[int(route.group(2))]

    send(port, sender, recipient)

    envelope, _content = host.wait_for(1)[0]
    assert envelope["mail"].split()[:2] == ["MAIL", f"FROM:<{sent_as}>"]
    assert [r.split()[:2] for r in envelope["rcpts"]] == [["RCPT", f"TO:<{recipient}>"]]
    if route.group(1) == "relay":
        assert envelope["helo"] == "relay-out"
        assert decision(report, "transport", r"^relay: -o smtp_helo_name=relay-out$")
    others = [h for h in hosts.values() if h is not host]
    assert all(not h.messages() for h in others)


def test_a_recipient_the_trace_says_is_rejected_is_refused_with_the_same_reply(
        relay: tuple[Daemon, dict[int, SmartHost], int]) -> None:
    daemon, _hosts, port = relay
    report = trace(daemon, "app@corp.local", "blocked@example.org")
    assert report["result"] == "rejected"
    predicted = decision(report, "recipient",
                         r"^reject by check_recipient_access \S+: (\d{3}) (.*)$")

    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("app1.corp.local")
        client.mail("app@corp.local")
        code, text = client.rcpt("blocked@example.org")
    assert (str(code), text.decode()) == (predicted.group(1), predicted.group(2))
