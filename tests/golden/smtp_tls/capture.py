"""Re-capture the ``*.cases`` files of this directory from a private Postfix (the oracle).

    python3 tests/golden/smtp_tls/capture.py ORACLE_DIR FIRST_PORT LAST_PORT [FILE.cases ...]

ORACLE_DIR must have been made with ``postfix-oracle ORACLE_DIR init FIRST_PORT`` (its
smtpd listens on FIRST_PORT); the cases take turns at the server ports after it, up to
LAST_PORT (a new destination for each case, so that a deferral does not slow the next one
down).  For each case the script issues the case's
certificate (``tests/unit/delivery/tls_support.py``), starts ``capture_server.py`` with it,
writes main.cf (the oracle's own, plus ``relayhost = [localhost]:PORT``,
``smtp_host_lookup = native`` and the case's ``conf:`` lines), the policy and password
tables, sends one message with swaks, and replaces the case's ``log:``, ``status:`` and
``auth:`` lines with what Postfix's smtp(8) logged, how the delivery ended and what the
server saw.  Placeholders: ``@PORT@`` (the server port), ``@CA@`` (the trusted CA file),
``@CERT_SHA256@`` / ``@PKEY_SHA256@`` (fingerprints of the case's certificate).
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "unit" / "delivery"))
from tls_support import Pki, fingerprints  # noqa: E402

ORACLE = "/work/shared/tools/postfix-oracle"
RESULT_KEYS = ("log", "status", "auth")


def parse_cases(text: str) -> list[list[tuple[str, str]]]:
    """The cases of a file: lists of (key, value), comments and results included."""
    cases: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        if not line.strip():
            if cases[-1]:
                cases.append([])
            continue
        key, _, value = line.partition(": ") if not line.startswith("#") else ("#", "", line)
        cases[-1].append((key.rstrip(":"), value))
    return [c for c in cases if c]


def substitute(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


class Oracle:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.main_cf = directory / "etc" / "main.cf"
        original = directory / "etc" / "main.cf.orig"
        if not original.exists():
            original.write_text(self.main_cf.read_text())
        self.base = [line for line in original.read_text().splitlines()
                     if not line.startswith("relayhost")]
        self.log = directory / "maillog"
        self.smtpd_port = int(re.search(r"^127\.0\.0\.1:(\d+)", (directory / "etc" /
                              "master.cf").read_text(), re.M).group(1))  # type: ignore[union-attr]

    def run(self, lines: list[str], sender: str) -> list[str]:
        self.main_cf.write_text("\n".join(self.base + lines) + "\n")
        time.sleep(1.2)  # Postfix waits when main.cf changed less than 1 s ago
        subprocess.run(["postfix", "-c", str(self.main_cf.parent), "reload"],
                       capture_output=True, check=True)
        time.sleep(1.5)
        start = self.log.stat().st_size
        subprocess.run(["swaks", "--server", f"127.0.0.1:{self.smtpd_port}", "--from", sender,
                        "--to", "b@example.com", "--silent", "2"], capture_output=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            with self.log.open() as f:
                f.seek(start)
                smtp = [line.split("]: ", 1)[1] for line in f.read().splitlines()
                        if " postfix/smtp[" in line]
            if any("status=" in line for line in smtp):
                break
            time.sleep(0.3)
        subprocess.run(["postsuper", "-c", str(self.main_cf.parent), "-d", "ALL"],
                       capture_output=True)
        return smtp


def capture_case(case: list[tuple[str, str]], oracle: Oracle, pki: Pki, port: int,
                 work: Path) -> list[tuple[str, str]]:
    spec = dict(case)
    pem, cert = pki.issue(spec.get("cert", "san=DNS:localhost"))
    values = {"@PORT@": str(port), "@CA@": str(pki.ca_file), **fingerprints(cert)}
    lines = [f"relayhost = [localhost]:{port}", "smtp_host_lookup = native"]
    lines += [substitute(v, values) for k, v in case if k == "conf"]
    for key, name, parameter in (("policy", "policy", "smtp_tls_policy_maps"),
                                 ("sasl", "passwd", "smtp_sasl_password_maps")):
        entries = [substitute(v, values) for k, v in case if k == key]
        if entries:
            (work / name).write_text("\n".join(entries) + "\n")
            lines.append(f"{parameter} = texthash:{work / name}")
    server = subprocess.Popen([sys.executable, str(HERE / "capture_server.py"), str(port),
                               str(pem), *spec.get("server", "").split()],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        smtp = oracle.run(lines, spec.get("sender", "a@corp.local"))
    finally:
        server.terminate()
        output, _ = server.communicate()
    results: list[tuple[str, str]] = []
    for line in smtp:
        line = line.replace(f":{port}", ":@PORT@")
        status = re.search(r"status=(\w+) \((.*)\)$", line)
        if status:
            deferred = status.group(1) == "deferred"
            results.append(("status", f"deferred ({status.group(2)})" if deferred else "sent"))
        elif "overriding earlier entry" not in line:
            results.append(("log", line))
    results += [("auth", a[5:]) for a in output.splitlines() if a.startswith("AUTH ")]
    return [(k, v) for k, v in case if k not in RESULT_KEYS] + results


def main() -> None:
    oracle = Oracle(Path(sys.argv[1]))
    first, last = int(sys.argv[2]), int(sys.argv[3])
    ports = itertools.cycle(range(first + 1, last + 1))
    files = [Path(f) for f in sys.argv[4:]] or sorted(HERE.glob("*.cases"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pki = Pki(work)
        for path in files:
            out = []
            for case in parse_cases(path.read_text()):
                if all(k == "#" for k, _ in case):
                    out.append(case)
                    continue
                out.append(capture_case(case, oracle, pki, next(ports), work))
                print(path.name, dict(case).get("case"), flush=True)
            path.write_text("\n\n".join("\n".join(v if k == "#" else f"{k}: {v}"
                                                  for k, v in case) for case in out) + "\n")


if __name__ == "__main__":
    main()
