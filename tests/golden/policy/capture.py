"""Capture Postfix 3.7's smtpd access-restriction replies and log lines (run as root).

    python3 tests/golden/policy/capture.py [ORACLE_DIR]

Sets up a private Postfix with ``/work/shared/tools/postfix-oracle`` (default directory
``/tmp/oracle-policy``), one smtpd service per restriction configuration on 127.0.0.1 ports
2800 and up (the oracle's own default service on 2799; relayhost ``[127.0.0.1]:2798``, where
nothing listens: accepted mail simply waits in the oracle's queue), refuses to start when one
of those ports is taken (another engineer's oracle), speaks raw SMTP to each service and
writes ``cases.json``: for
every case the configuration, each command with Postfix's exact reply, and the smtpd log lines
(``NOQUEUE: reject: ...``) that the case produced.  Only loopback is used; no DNS-based
restriction is exercised (Postfix would ask the system resolver).  See README.md.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from oracle_cases import CASES, FILES, GLOBAL_SERVICES, GLOBAL_SETTINGS, Case

ORACLE = "/work/shared/tools/postfix-oracle"
HERE = Path(__file__).resolve().parent
FIRST_PORT = 2800
INIT_PORT = 2799
RELAYHOST = "[127.0.0.1]:2798"
UNTRUSTED = {"mynetworks": "192.0.2.0/24"}
_SMTPD_LOG = re.compile(r"postfix/smtpd\[\d+\]: (.*)$")


def oracle(directory: str, *args: str) -> None:
    subprocess.run([ORACLE, directory, *args], check=True, stdout=subprocess.DEVNULL)


def service_key(case: Case) -> tuple[tuple[str, str], ...]:
    settings = dict(UNTRUSTED) if case.untrusted else {}
    settings.update(case.settings)
    return tuple(sorted(settings.items()))


def configure(directory: str) -> dict[tuple[tuple[str, str], ...], int]:
    """One smtpd service per distinct configuration; values go through main.cf variables."""
    oracle(directory, "init", str(INIT_PORT), RELAYHOST)
    for name, text in FILES.items():
        Path(directory, "etc", name).write_text(text)
    ports: dict[tuple[tuple[str, str], ...], int] = {}
    conf = list(GLOBAL_SETTINGS)
    services = list(GLOBAL_SERVICES)
    for case in CASES:
        key = service_key(case)
        if key in ports:
            continue
        port = FIRST_PORT + len(ports)
        ports[key] = port
        options = []
        for name, value in key:
            conf.append(f"pol{port}_{name} = {value}")
            options.append(f"-o {name}=$pol{port}_{name}")
        services.append(f"127.0.0.1:{port} inet n - n - - smtpd " + " ".join(options))
    oracle(directory, "conf", *conf)
    oracle(directory, "service", *services)
    return ports


class Session:
    def __init__(self, port: int, source: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                             source_address=(source, 0))
        self.buffer = b""

    def reply(self) -> str:
        lines: list[str] = []
        while True:
            while b"\r\n" not in self.buffer:
                try:
                    chunk = self.sock.recv(4096)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    lines.append("(connection closed)")
                    return "\n".join(lines)
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            text = line.decode("utf-8", "replace")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return "\n".join(lines)

    def send(self, data: str) -> None:
        # A closed connection shows in the reply read next: "(connection closed)".
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.sock.sendall(data.encode())

    def close(self) -> None:
        self.sock.close()


def run_dialogue(port: int, case: Case) -> list[list[str]]:
    """Each step: a command, a pipelined group ("a\\r\\nb"), or "MSG:" message content."""
    transcript: list[list[str]] = []
    session = Session(port, case.source)
    transcript.append(["(connect)", session.reply()])
    for command in case.commands:
        if command.startswith("MSG:"):
            session.send(command[4:] + "\r\n.\r\n")
            group = ["(message)"]
        else:
            group = command.split("\r\n")
            session.send("".join(c + "\r\n" for c in group))
        for c in group:
            answer = session.reply()
            transcript.append([c, answer])
            if answer.endswith("(connection closed)"):
                session.close()
                return transcript
    session.close()
    return transcript


def log_lines(directory: str, start: int) -> tuple[list[str], int]:
    text = Path(directory, "maillog").read_bytes()
    lines = []
    for raw in text[start:].decode("utf-8", "replace").splitlines():
        m = _SMTPD_LOG.search(raw)
        if m and not m.group(1).startswith(("connect from", "disconnect from", "lost conn")):
            lines.append(m.group(1))
    return lines, len(text)


def run_case(directory: str, port: int, case: Case, offset: int) -> tuple[dict[str, Any], int]:
    if case.concurrent:
        # Hold the first sessions open while the last one connects (connection count limits).
        held = [Session(port, case.source) for _ in range(case.concurrent)]
        for s in held:
            s.reply()
        transcript = run_dialogue(port, case)
        for s in held:
            s.close()
    else:
        transcript = []
        for _ in range(case.repeat):
            transcript += run_dialogue(port, case)
    time.sleep(0.6)  # postlogd writes asynchronously
    log, offset = log_lines(directory, offset)
    record = {
        "id": case.id, "about": case.about, "source": case.source, "untrusted": case.untrusted,
        "settings": case.settings, "dialogue": transcript, "log": log,
    }
    return record, offset


def ports_free(ports: list[int]) -> None:
    """Fail before starting rather than talk to someone else's smtpd on a shared port."""
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                raise SystemExit(f"port {port} is in use: not capturing") from None


def main() -> int:
    directory = sys.argv[1] if len(sys.argv) > 1 else "/tmp/oracle-policy"
    ports = configure(directory)
    ports_free([INIT_PORT, 2798, *ports.values()])
    oracle(directory, "start")
    time.sleep(2)
    try:
        offset = Path(directory, "maillog").stat().st_size
        records = []
        for case in CASES:
            record, offset = run_case(directory, ports[service_key(case)], case, offset)
            records.append(record)
            print(case.id, record["dialogue"][-2:], record["log"], sep="\n  ")
    finally:
        oracle(directory, "stop")
    out = HERE / "cases.json"
    out.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} cases to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
