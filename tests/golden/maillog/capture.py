"""Capture the maillog fixtures from a private Postfix 3.7 (see README.md).

    python tests/golden/maillog/capture.py ORACLE_DIR SMTPD_PORT RELAYHOST_PORT
    python tests/golden/maillog/capture.py --endings ORACLE_DIR SMTPD_PORT

ORACLE_DIR was made by ``postfix-oracle DIR init SMTPD_PORT [127.0.0.1]:RELAYHOST_PORT`` and
configured as README.md says.  Writes ``disconnect.json`` (each dialogue's ``disconnect from``
line) and ``postfix-workload.log`` (the pflogsumm workload through Postfix); with --endings,
``endings.json`` (how sessions that end without QUIT are logged).
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent

#: Dialogues whose ``disconnect from`` lines are compared (each line is sent as one command;
#: a line with CRLF inside is sent whole: BDAT's chunk).
DIALOGUES: dict[str, list[str]] = {
    "no-commands": [],
    "mixed-failures": ["EHLO client.test", "NOOP", "FOO bar", "", "RSET", "VRFY bob",
                       "MAIL FROM:<a@corp.local>", "MAIL FROM:<a@corp.local>",
                       "RCPT TO:<bad", "DATA", "QUIT"],
    "helo-data-refused": ["HELO client.test", "DATA", "RCPT TO:<b@example.com>", "QUIT"],
    "bdat": ["EHLO client.test", "MAIL FROM:<a@corp.local>", "RCPT TO:<b@example.com>",
             "BDAT 9\r\nSubject: ", "BDAT 4 LAST\r\nhi\r\n", "QUIT"],
    "data-then-rset": ["EHLO client.test", "MAIL FROM:<a@corp.local>",
                       "RCPT TO:<b@example.com>", "DATA", "Subject: x\r\n\r\nhi\r\n.",
                       "RSET", "QUIT"],
    "pipelined": ["EHLO client.test",
                  "MAIL FROM:<a@corp.local>\r\nRCPT TO:<b@example.com>\r\n"
                  "RCPT TO:<c@example.com>\r\nRCPT TO:<d@\r\nDATA",
                  "Subject: x\r\n\r\nhi\r\n.\r\nNOOP\r\nQUIT"],
}


#: Sessions that end without QUIT, with ``smtpd_timeout = 2s`` and
#: ``smtpd_hard_error_limit = 2``; ``WAIT n`` sends nothing for n seconds.
ENDINGS: dict[str, list[str]] = {
    "timeout": ["EHLO client.test", "WAIT 3"],
    "too-many-errors": ["FOO", "BAR", "BAZ"],
    "lost-in-data": ["EHLO client.test", "MAIL FROM:<a@corp.local>", "RCPT TO:<b@example.com>",
                     "DATA", "Subject: x\r\n\r\nabc"],
    "timeout-in-data": ["EHLO client.test", "MAIL FROM:<a@corp.local>",
                        "RCPT TO:<b@example.com>", "DATA", "Subject: x\r\n\r\nabc", "WAIT 3"],
    "lost-after-connect": [],
}


def talk(port: int, lines: list[str]) -> None:
    """One session: the banner, then each line and its reply, then close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.recv(4096)
        for line in lines:
            if line.startswith("WAIT "):
                time.sleep(float(line[5:]))
                continue
            try:
                s.sendall(line.encode() + b"\r\n")
                time.sleep(0.1)
                s.settimeout(0.5)
                s.recv(65536)
            except TimeoutError:
                pass  # no reply: inside DATA's content
            except OSError:
                return


def disconnects(maillog: str) -> list[str]:
    """The ``disconnect from ...`` texts of a maillog, without the syslog prefix."""
    return [line.split(": ", 1)[1] for line in maillog.splitlines()
            if "/smtpd[" in line and ": disconnect from " in line]


def endings(maillog: str) -> list[str]:
    """The smtpd lines that say how a session ended, and its disconnect line."""
    return [line.split(": ", 1)[1] for line in maillog.splitlines()
            if "/smtpd[" in line and (" after " in line or ": disconnect from " in line)
            and "improper" not in line]


def capture_endings(oracle: Path, port: int) -> None:
    """Run with smtpd_timeout = 2s and smtpd_hard_error_limit = 2 (see README.md)."""
    log = oracle / "maillog"
    cases = []
    for name, lines in ENDINGS.items():
        before = len(endings(log.read_text()))
        talk(port, lines)
        time.sleep(0.5)
        cases.append({"name": name, "send": lines, "logged": endings(log.read_text())[before:]})
    (HERE / "endings.json").write_text(json.dumps(cases, indent=1) + "\n")


def main(oracle: Path, port: int, relay_port: int) -> None:
    sys.path.insert(0, str(HERE.parents[2]))
    from tests.e2e.smarthost import SmartHost
    from tests.e2e.test_pflogsumm import SMARTHOST_RULES, send_all

    log = oracle / "maillog"
    cases = []
    for name, lines in DIALOGUES.items():
        before = len(disconnects(log.read_text()))
        talk(port, lines)
        time.sleep(0.5)
        cases.append({"name": name, "send": lines,
                      "logged": disconnects(log.read_text())[before]})
    (HERE / "disconnect.json").write_text(json.dumps(cases, indent=1) + "\n")
    start = len(log.read_text().splitlines())
    host = SmartHost(oracle, relay_port, rules=SMARTHOST_RULES).start()
    try:
        send_all(port)
        time.sleep(5)
    finally:
        host.stop()
    lines = log.read_text().splitlines()[start:]
    (HERE / "postfix-workload.log").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "--endings":
        capture_endings(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
