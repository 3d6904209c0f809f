"""Starting the real ``mailrelay serve`` on free loopback ports, for end-to-end tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

MAILRELAY = str(Path(sys.executable).with_name("mailrelay"))

BASE_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.corp.local
mydomain = corp.local
myorigin = $mydomain
mynetworks = 127.0.0.0/8
mydestination = $myhostname, localhost.$mydomain, localhost
alias_maps =
alias_database =
relayhost = [127.0.0.1]:9
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
mailbox_size_limit = 0
smtpd_error_sleep_time = 0
"""

#: The accept-side tests look at incoming/: the delivery side is paused, as a benchmark
#: pauses Postfix's.
PAUSED = "master_service_disable = qmgr/unix\n"


def free_ports(count: int) -> list[int]:
    """*count* ports free right now on 127.0.0.1."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for_banner(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(5)
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"mailrelay serve did not answer on port {port}")


class Daemon:
    def __init__(self, root: Path, main_cf: str, master_cf: str, ports: list[int],
                 workers: int = 2, *, deliver: bool = False,
                 env: dict[str, str] | None = None) -> None:
        self.root = root
        etc = root / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        base = BASE_MAIN_CF.format(root=root) + ("" if deliver else PAUSED)
        (etc / "main.cf").write_text(base + main_cf)
        (etc / "master.cf").write_text(master_cf)
        self.etc = etc
        self.ports = ports
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, **(env or {})}

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    def start(self) -> Daemon:
        self.stderr = open(self.root / "serve.stderr", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [MAILRELAY, "-c", str(self.etc), "serve", "--workers", str(self.workers)],
            stdout=self.stderr, stderr=subprocess.STDOUT, start_new_session=True, env=self.env)
        try:
            wait_for_banner(self.ports[0], time.monotonic() + 20)
        except TimeoutError:
            self.stop()
            raise AssertionError("serve did not start:\n" + self.log()) from None
        return self

    def log(self) -> str:
        return (self.root / "serve.stderr").read_text(errors="replace")

    def maillog(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        self.stderr.close()
        return code

    def kill_all(self) -> None:
        """kill -9 of the master and every worker: a crash."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.stderr.close()

    def incoming(self) -> list[str]:
        return sorted(p.name for p in (self.spool / "incoming").iterdir())

    def queued(self) -> dict[str, list[str]]:
        """Queue IDs per queue directory that holds any."""
        found = {}
        for name in ("maildrop", "incoming", "active", "deferred", "hold", "corrupt"):
            path = self.spool / name
            ids = sorted(p.name for p in path.iterdir()) if path.exists() else []
            if ids:
                found[name] = ids
        return found

    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = 20) -> list[str]:
        """Lines of maillog matching the regular expression, once there are *count*."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.maillog().splitlines() if regex.search(line)]
            if len(lines) >= count or time.monotonic() > deadline:
                if len(lines) < count:
                    raise AssertionError(f"{count} x {pattern!r} not in maillog:\n"
                                         + self.maillog())
                return lines
            time.sleep(0.05)

    # -- daemon control (start/stop/reload...) ------------------------------------------

    def command(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """``mailrelay -c ETC ARGS...`` against this daemon's configuration."""
        return subprocess.run([MAILRELAY, "-c", str(self.etc), *args], capture_output=True,
                              text=True, timeout=timeout, env=self.env)

    def master_pid(self) -> int | None:
        """The pid in the master's pid file, if there is one."""
        try:
            return int((self.spool / "pid" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def append_main_cf(self, text: str) -> None:
        with open(self.etc / "main.cf", "a") as f:
            f.write(text)
