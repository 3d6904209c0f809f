"""Postfix's log lines, read by pflogsumm: mailrelay's maillog against Postfix 3.7's.

A mixed workload -- one message of each kind pflogsumm counts: sent in clear, sent after
STARTTLS, deferred by the smarthost (450 at RCPT), bounced by the smarthost (550 at RCPT, so
the relay sends a non-delivery notification, which the smarthost accepts), and a recipient
rejected by the relay itself -- goes through the real daemon.  Its maillog is compared line by
line, field by field, with the one Postfix wrote for the same workload, and Debian's pflogsumm
must count the same figures in both.  Postfix's log is a fixture (tests/golden/maillog/,
captured by capture.py there): running Postfix in every test run needs root and a minute.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import smtplib
import ssl
import subprocess
from pathlib import Path

import pytest
import trustme

from tests.e2e.daemon import Daemon, free_ports
from tests.e2e.smarthost import SmartHost
from tests.golden.maillog.capture import endings, talk

GOLDEN = Path(__file__).parents[1] / "golden" / "maillog"
S = "inet n - n - - smtpd"

#: The smarthost's script: the rules that make it defer and bounce.
SMARTHOST_RULES = [
    {"stage": "rcpt", "match": "defer@", "reply": "450 4.2.0 <defer@example.com>: try later"},
    {"stage": "rcpt", "match": "bounce@", "reply": "550 5.1.1 <bounce@example.net>: no such user"},
]

#: The relay's main.cf additions (the smtpd certificate is added by the caller).
MAIN_CF = """\
smtpd_recipient_restrictions = check_recipient_access inline:{blocked@example.com=REJECT},
    permit_mynetworks, reject_unauth_destination
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
"""

#: (sender, recipient, STARTTLS) in the order sent.
MESSAGES = [
    ("alice@corp.local", "bob@example.com", False),
    ("carol@corp.local", "dave@example.org", True),
    ("alice@corp.local", "defer@example.com", False),
    ("erin@corp.local", "bounce@example.net", False),
    ("alice@corp.local", "blocked@example.com", False),
]


def send_all(port: int) -> None:
    """Send MESSAGES to the relay on 127.0.0.1:*port*, one connection each."""
    for sender, recipient, tls in MESSAGES:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.corp.local",
                          timeout=20) as client:
            if tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                client.starttls(context=context)
            content = (f"From: {sender}\r\nTo: {recipient}\r\nSubject: workload\r\n"
                       f"Message-ID: <{recipient}@client.corp.local>\r\n\r\nHello.\r\n")
            with contextlib.suppress(smtplib.SMTPRecipientsRefused):
                client.sendmail(sender, [recipient], content)


# -- normalizing a maillog for comparison ----------------------------------------------------

_PREFIX = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ (\S+?)\[\d+\]: (.*)$")
_QUEUE_ID = re.compile(r"\b[0-9A-F]{10,12}\b")


def events(maillog: str) -> list[str]:
    """The maillog as ``daemon: text`` lines with what legitimately differs between two runs
    replaced: queue IDs by the message they name, times, ports, connection reuse."""
    lines = [m.group(1) + ": " + m.group(2) for m in map(_PREFIX.match, maillog.splitlines())
             if m and "/master:" not in m.group(1) + ":" and "postfix-script" not in m.group(1)]
    names: dict[str, str] = {}
    for line in lines:
        if m := re.search(r"([0-9A-F]+): message-id=<(\S+?)@client\.corp\.local>", line):
            names[m.group(1)] = f"Q<{m.group(2)}>"
        if m := re.search(r"([0-9A-F]+): sender non-delivery notification: ([0-9A-F]+)", line):
            names[m.group(2)] = f"NDR-of-{m.group(1)}"
    out = []
    for line in lines:
        line = _QUEUE_ID.sub(lambda m: names.get(m.group(0), m.group(0)), line)
        for qid, name in names.items():
            line = line.replace(qid, name)
        line = re.sub(r"message-id=<\d{14}\.", "message-id=<DATE.", line)
        line = re.sub(r"delay=[\d.]+, delays=[\d./]+", "delay=D, delays=D", line)
        line = re.sub(r"\]:\d+", "]:PORT", line)
        line = re.sub(r"conn_use=\d+, ", "", line)
        out.append(line)
    return out


def _workload_only(found: list[str]) -> list[str]:
    """Without the daemon's start-up probe (a connection that only says QUIT)."""
    probe = "postfix/smtpd: disconnect from localhost[127.0.0.1] quit=1 commands=1"
    if probe in found:
        at = found.index(probe)
        del found[at - 1: at + 1]
    return found


# -- pflogsumm ---------------------------------------------------------------------------------

PFLOGSUMM = shutil.which("pflogsumm") or ""

#: The sections compared, and which whitespace-separated columns of each (None: all); byte
#: counts are left out (the Received: headers need not be the same length).
SECTIONS: dict[str, tuple[int, ...] | None] = {
    "Host/Domain Summary: Message Delivery": (0, 2, -1),
    "Host/Domain Summary: Messages Received": (0, -1),
    "Senders by message count": None,
    "Recipients by message count": None,
    "message deferral detail": None,
    "message bounce detail (by relay)": None,
    "message reject detail": None,
}


def pflogsumm(path: Path) -> dict[str, object]:
    """pflogsumm's Grand Totals (messages, senders, recipients) and SECTIONS, as values."""
    text = subprocess.run([PFLOGSUMM, str(path)], capture_output=True, text=True,
                          check=True).stdout
    lines = [line.rstrip() for line in text.splitlines()]
    totals = {}
    for line in lines[:lines.index("Per-Hour Traffic Summary")]:
        m = re.match(r"^\s+(\d+)\s+([a-z][a-z /]+?)\s*(\(.*)?$", line)
        if m and "bytes" not in m.group(2):
            totals[m.group(2)] = int(m.group(1))
    found: dict[str, object] = {"totals": totals}
    for title, columns in SECTIONS.items():
        start = lines.index(title) + 2
        rows = []
        for line in lines[start:]:
            if not line.strip():
                break
            if set(line.strip()) <= {"-", " "} or line.lstrip().startswith(("sent cnt", "msg")):
                continue
            words = re.sub(r":\d+\b", ":PORT", line).split()
            rows.append(" ".join(words if columns is None else [words[c] for c in columns]))
        found[title] = sorted(rows)
    return found


# -- fixtures --------------------------------------------------------------------------------



def run_workload(tmp_path: Path, running: list[Daemon | SmartHost]) -> Daemon:
    """The workload through mailrelay, until the notification has been delivered."""
    ports = free_ports(2)
    # RSA, as the certificate of the captured Postfix run: its TLS line names the key.
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    cert = ca.issue_cert("relay.corp.local", key_type=trustme.KeyType.RSA)
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    host = SmartHost(tmp_path, ports[1], rules=SMARTHOST_RULES)
    running.append(host.start())
    main_cf = (MAIN_CF + f"relayhost = [127.0.0.1]:{ports[1]}\n"
               f"smtpd_tls_cert_file = {tmp_path / 'cert.pem'}\n"
               f"smtpd_tls_key_file = {tmp_path / 'key.pem'}\n")
    daemon = Daemon(tmp_path, main_cf, f"127.0.0.1:{ports[0]} {S}\n", ports[:1], workers=1,
                    deliver=True)
    running.append(daemon.start())
    send_all(ports[0])
    host.wait_for(3)
    daemon.wait_for_log(r"removed", count=4)
    daemon.stop()
    return daemon


# -- the tests -------------------------------------------------------------------------------

def test_the_workload_logs_the_same_lines_as_postfix_field_by_field(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    daemon = run_workload(tmp_path, running)
    ours = _workload_only(events(daemon.maillog()))
    postfix = events((GOLDEN / "postfix-workload.log").read_text())
    tls = [line for line in postfix if "TLS connection established" in line]
    assert len(tls) == 1
    # smtpd_tls_loglevel reaches the sessions only once the worker passes it on (see below).
    ours = [line for line in ours if "TLS connection established" not in line]
    postfix.remove(tls[0])
    assert sorted(ours) == sorted(postfix)


def test_a_starttls_session_logs_postfixs_tls_summary_line(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    daemon = run_workload(tmp_path, running)
    ours = [line for line in events(daemon.maillog()) if "TLS connection established" in line]
    postfix = [line for line in events((GOLDEN / "postfix-workload.log").read_text())
               if "TLS connection established" in line]
    assert ours == postfix


def test_disconnect_lines_count_each_command_as_postfix_does(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    cases = json.loads((GOLDEN / "disconnect.json").read_text())
    port = free_ports(1)[0]
    # Postfix 3.7.11's default (mailrelay's params.py says yes): the "pipelined" dialogue
    # pipelines QUIT behind NOOP, which Postfix only logs.
    main_cf = "smtpd_forbid_unauth_pipelining = no\n"
    daemon = Daemon(tmp_path, main_cf, f"127.0.0.1:{port} {S}\n", [port], workers=1)
    running.append(daemon.start())
    for case in cases:
        before = len(daemon.wait_for_log(r"smtpd\[\d+\]: disconnect from "))
        talk(port, case["send"])
        logged = daemon.wait_for_log(r"smtpd\[\d+\]: disconnect from ", count=before + 1)
        assert logged[before].split(": ", 1)[1] == case["logged"], case["name"]


def test_sessions_that_end_without_quit_are_logged_as_postfix_logs_them(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    cases = json.loads((GOLDEN / "endings.json").read_text())
    port = free_ports(1)[0]
    main_cf = "smtpd_timeout = 2s\nsmtpd_hard_error_limit = 2\n"
    daemon = Daemon(tmp_path, main_cf, f"127.0.0.1:{port} {S}\n", [port], workers=1)
    running.append(daemon.start())
    disconnect = r"smtpd\[\d+\]: disconnect from "
    for case in cases:
        sessions = len(daemon.wait_for_log(disconnect))  # the start-up probe's, at least
        before = len(endings(daemon.maillog()))
        talk(port, case["send"])
        daemon.wait_for_log(disconnect, count=sessions + 1)
        assert endings(daemon.maillog())[before:] == case["logged"], case["name"]


@pytest.mark.skipif(not PFLOGSUMM, reason="Debian's pflogsumm is not installed "
                    "(.ci/run installs it: apt-get install pflogsumm)")
def test_pflogsumm_counts_the_workload_and_the_same_figures_as_for_postfix(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    daemon = run_workload(tmp_path, running)
    ours = pflogsumm(daemon.root / "maillog")
    totals = ours["totals"]
    assert isinstance(totals, dict)
    expected = {"received": 4, "delivered": 3, "forwarded": 0, "deferred": 1, "bounced": 1,
                "rejected": 1, "reject warnings": 0, "held": 0, "discarded": 0, "senders": 3,
                "sending hosts/domains": 1, "recipients": 3, "recipient hosts/domains": 3}
    assert totals == expected
    assert ours["Senders by message count"] == [
        "1 carol@corp.local", "1 erin@corp.local", "2 alice@corp.local"]
    assert ours["Recipients by message count"] == [
        "1 bob@example.com", "1 dave@example.org", "1 erin@corp.local"]
    assert ours["Host/Domain Summary: Message Delivery"] == [
        "1 0 corp.local", "1 0 example.org", "1 1 example.com"]
    assert ours["Host/Domain Summary: Messages Received"] == ["4 corp.local"]
    assert ours["message reject detail"] == [
        "1 blocked@example.com", "RCPT", "Recipient address rejected: Access denied (total: 1)"]
    assert ours == pflogsumm(GOLDEN / "postfix-workload.log")
