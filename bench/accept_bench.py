#!/usr/bin/env python3
"""Benchmark how fast mailrelay accepts mail, against Postfix, in the same run.

    python3 bench/accept_bench.py [--quick] [--runs 3] [--systems postfix,mailrelay]

For each scenario (messages : parallel sessions : body size) and each run, alternating the
systems (Postfix, mailrelay, Postfix, mailrelay, ...), this starts the system fresh on a free
loopback port with an empty queue in new temporary directories, sends 200 warm-up messages,
then times Postfix's load generator

    smtp-source -s SESSIONS -m MESSAGES -l SIZE -f FROM -t TO 127.0.0.1:PORT

(one connection per message, smtp-source's default) and reports accepted messages per second,
the server's CPU time per message (utime + stime of its whole process tree, children that
exited included) and its memory (PSS of the tree) at the end.  Then it stops the system and
removes its directories.

The delivery side is paused for both, so that only receiving is measured:

* Postfix runs from a private configuration directory whose master.cf has no qmgr (and no
  pickup): smtpd, cleanup, trivial-rewrite, anvil, proxymap and postlogd do all the work, and
  the mail stays in incoming/.  Without qmgr nobody refills cleanup's in-flow tokens, and
  cleanup would sleep in_flow_delay (1 s) before every message, so in_flow_delay = 0 is set
  (it only throttles input when delivery falls behind; with delivery paused it is meaningless).
  cleanup then logs "warning: unable to look up public/qmgr" once per message.
* mailrelay serve has no delivery yet.  When it gets one, pause it with --mailrelay-conf.

Durability is the same kind on both sides: Postfix's cleanup fsyncs each queue file before
smtpd says 250 (the directory is not fsynced); mailrelay fsyncs the file and the directory.

Results: a table on stdout and a JSON file in bench/out/accept-YYYYmmdd-HHMMSS.json.
Run as root (Postfix's master drops privileges itself).  Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SENDER = "sender@client.example"
RECIPIENT = "rcpt@example.com"
WARMUP = 200
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: messages, sessions, body bytes
SCENARIOS = [(5000, 10, 1024), (5000, 50, 1024), (2000, 10, 100 * 1024)]
QUICK_SCENARIOS = [(500, 10, 1024), (500, 50, 1024), (200, 10, 100 * 1024)]

#: Everything of Debian's master.cf that a relay uses, except qmgr and pickup (the delivery
#: side).  Services that nobody connects to are never started.
POSTFIX_SERVICES = """\
cleanup   unix  n - n - 0 cleanup
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class BenchError(Exception):
    """A system failed to start, accept or stop; the message says what it printed."""


# --------------------------------------------------------------------------- /proc


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    return raw[raw.rindex(")") + 2:].split()


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if _stat_fields(pid) is None:
            continue
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """utime + stime of every live process of the tree, plus cutime + cstime: the time of the
    children they have reaped (an smtpd that exited after max_use is in master's cutime)."""
    ticks = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            # After ')': state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
            ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / CLK_TCK


def tree_pss_mib(root: int) -> float:
    kib = 0
    for pid in process_tree(root):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    kib += int(line.split()[1])
                    break
        except OSError:
            pass
    return kib / 1024


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])       # guest time is already in user
    return total - idle, total


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_banner(port: int, deadline: float, alive) -> str:
    """Connect until the server answers with its 220 banner; QUIT; return the banner."""
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise BenchError(f"server exited before listening ({last})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                reader = s.makefile("rb")
                banner = reader.readline().decode(errors="replace").rstrip()
                while banner[3:4] == "-":
                    banner = reader.readline().decode(errors="replace").rstrip()
                if banner.startswith("220"):
                    s.sendall(b"QUIT\r\n")
                    reader.readline()
                    return banner
                last = f"banner {banner!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise BenchError(f"no 220 banner on 127.0.0.1:{port} ({last})")


def count_files(directory: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(directory))


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def fsync_probe(directory: Path, files: int = 100) -> float:
    """Milliseconds per create + write 1.5 KB + fsync + rename in DIRECTORY: how expensive a
    durable queue file is on this file system right now (on shared VMs it varies several-fold
    with recent disk activity; see bench/README.md)."""
    probe = directory / "fsync-probe"
    probe.mkdir()
    data = b"x" * 1500
    start = time.perf_counter()
    for i in range(files):
        fd = os.open(probe / f"t{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(probe / f"t{i}", probe / f"m{i}")
    elapsed = time.perf_counter() - start
    shutil.rmtree(probe)
    return 1000 * elapsed / files


def pid_alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


# --------------------------------------------------------------------------- the systems


class Server:
    name = ""
    #: Hooks for bench/relay_bench.py, which runs the same systems with delivery on: the
    #: temporary directory's prefix, and the main.cf lines that pause delivery.
    prefix = "accept-bench"
    delivery_conf: tuple[str, ...] = ()

    def __init__(self, tmp_parent: Path | None, extra_conf: list[str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-{self.name}-", dir=tmp_parent))
        self.dir.chmod(0o755)  # Postfix's processes run as the postfix user
        self.extra_conf = extra_conf
        self.port = free_port()
        # Nothing listens there: with delivery paused nobody connects (relay_bench replaces
        # it with its smtp-sink).
        self.relayhost = f"[127.0.0.1]:{free_port()}"
        self.root_pid = 0
        LIVE.append(self)

    @property
    def queue_dir(self) -> Path:
        return self.dir / "spool"

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> str:
        raise NotImplementedError

    def log_tail(self) -> str:
        raise NotImplementedError

    def queued(self) -> int:
        return count_files(self.queue_dir / "incoming")

    def close(self) -> str:
        """Stop (whatever state it is in) and remove the directories; says how it stopped."""
        try:
            how = self.stop()
        finally:
            if self in LIVE:
                LIVE.remove(self)
            shutil.rmtree(self.dir, ignore_errors=True)
        return how

    def _kill_tree(self) -> None:
        if self.root_pid:
            for pid in reversed(process_tree(self.root_pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


class Postfix(Server):
    name = "postfix"
    #: master.cf's services besides the smtpd listener (relay_bench adds qmgr and pickup).
    services = POSTFIX_SERVICES
    delivery_conf = ("# No qmgr, so nobody hands out in-flow tokens: do not wait for them.",
                     "in_flow_delay = 0s")

    def __init__(self, tmp_parent: Path | None, extra_conf: list[str]) -> None:
        super().__init__(tmp_parent, extra_conf)
        self.etc = self.dir / "etc"

    def start(self) -> str:
        d = self.dir
        self.etc.mkdir()
        (d / "spool").mkdir()
        (d / "data").mkdir()
        (d / "maillog").touch()
        shutil.chown(d / "data", "postfix")
        (self.etc / "main.cf").write_text("\n".join([
            "compatibility_level = 3.6",
            f"queue_directory = {d}/spool",
            f"data_directory = {d}/data",
            f"maillog_file = {d}/maillog",
            f"maillog_file_prefixes = {d}",
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "myhostname = relay.corp.local",
            "mydomain = corp.local",
            "myorigin = $mydomain",
            "mynetworks = 127.0.0.0/8",
            "mydestination =",
            "alias_maps =",
            "alias_database =",
            f"relayhost = {self.relayhost}",
            "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination",
            "biff = no",
            *self.delivery_conf,
            *self.extra_conf,
        ]) + "\n")
        (self.etc / "master.cf").write_text(
            f"127.0.0.1:{self.port} inet n - n - - smtpd\n" + self.services)
        done = subprocess.run(["postfix", "-c", str(self.etc), "start"],
                              capture_output=True, text=True, timeout=60)
        pid_file = d / "spool" / "pid" / "master.pid"
        if done.returncode != 0 or not pid_file.exists():
            raise BenchError(f"postfix start failed ({done.returncode}): "
                             f"{done.stdout}{done.stderr}{self.log_tail()}")
        self.root_pid = int(pid_file.read_text().split()[0])
        return wait_for_banner(self.port, time.monotonic() + 30,
                               lambda: pid_alive(self.root_pid))

    def stop(self) -> str:
        if not self.root_pid or not pid_alive(self.root_pid):
            return "not running"
        subprocess.run(["postfix", "-c", str(self.etc), "stop"],
                       capture_output=True, timeout=30)
        if self._wait_gone(15):
            return "postfix stop"
        subprocess.run(["postfix", "-c", str(self.etc), "abort"],
                       capture_output=True, timeout=30)
        if self._wait_gone(5):
            return "postfix abort"
        self._kill_tree()
        return "SIGKILL"

    def _wait_gone(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not pid_alive(self.root_pid):
                return True
            time.sleep(0.1)
        return False

    def log_tail(self) -> str:
        return tail(self.dir / "maillog")


class Mailrelay(Server):
    name = "mailrelay"
    # The delivery side paused, as Postfix's is (no qmgr): mail stays in incoming.
    delivery_conf = ("master_service_disable = qmgr/unix",)

    def __init__(self, tmp_parent: Path | None, extra_conf: list[str], command: list[str],
                 stop_grace: float) -> None:
        super().__init__(tmp_parent, extra_conf)
        self.command = command
        self.stop_grace = stop_grace
        self.proc: subprocess.Popen | None = None

    def start(self) -> str:
        d = self.dir
        etc = d / "etc"
        etc.mkdir()
        (d / "spool").mkdir()
        (d / "data").mkdir()
        (etc / "main.cf").write_text("\n".join([
            "compatibility_level = 3.6",
            f"queue_directory = {d}/spool",
            f"data_directory = {d}/data",
            f"maillog_file = {d}/maillog",
            f"maillog_file_prefixes = {d}",
            "myhostname = relay.corp.local",
            "mydomain = corp.local",
            "mynetworks = 127.0.0.0/8",
            "mydestination =",
            f"relayhost = {self.relayhost}",
            "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination",
            *self.delivery_conf,
            *self.extra_conf,
        ]) + "\n")
        (etc / "master.cf").write_text(f"127.0.0.1:{self.port} inet n - n - - smtpd\n")
        with (d / "serve.log").open("wb") as log:
            self.proc = subprocess.Popen([*self.command, "-c", str(etc), "serve"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        self.root_pid = self.proc.pid
        try:
            return wait_for_banner(self.port, time.monotonic() + 30,
                                   lambda: self.proc.poll() is None)
        except BenchError as exc:
            raise BenchError(f"{exc}; exit status {self.proc.poll()}; serve's output:\n"
                             f"{self.log_tail()}") from None

    def stop(self) -> str:
        if self.proc is None:
            return "not running"
        if self.proc.poll() is not None:
            return f"had exited ({self.proc.returncode})"
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(self.stop_grace)
            leftovers = [p for p in process_tree(self.root_pid) if p != self.root_pid]
            how = f"SIGTERM, exit status {rc}"
        except subprocess.TimeoutExpired:
            how = f"SIGTERM ignored for {self.stop_grace:.0f} s, SIGKILL"
            leftovers = []
            self._kill_tree()  # workers that left the process group, too
        # Workers left behind (or a serve that ignored SIGTERM): its own process group.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
            if leftovers or "SIGKILL" in how:
                how += " (process group killed)"
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        return how

    def log_tail(self) -> str:
        return tail(self.dir / "serve.log")


LIVE: list[Server] = []


def close_everything() -> None:
    for server in list(LIVE):
        try:
            server.close()
        except Exception as exc:  # best effort at exit
            print(f"warning: stopping {server.name} in {server.dir}: {exc}", file=sys.stderr)


def _on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    system: str
    scenario: str
    run: int
    messages: int
    sessions: int
    size: int
    elapsed_s: float | None = None
    msgs_per_s: float | None = None
    cpu_s: float | None = None
    cpu_ms_per_msg: float | None = None
    pss_mib: float | None = None
    machine_busy_pct: float | None = None
    fsync_probe_ms: float | None = None
    queued: int | None = None
    banner: str = ""
    stopped: str = ""
    error: str = ""
    notes: list[str] = field(default_factory=list)


def smtp_source(port: int, sessions: int, messages: int, size: int, timeout: float) -> float:
    command = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
               "-f", SENDER, "-t", RECIPIENT, f"127.0.0.1:{port}"]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(command)}: not done after {timeout:.0f} s") from None
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"{' '.join(command)} exited with {done.returncode}: "
                         f"{(done.stdout + done.stderr).strip()}")
    return elapsed


def one_run(server: Server, run: Run, warmup: int) -> None:
    try:
        run.banner = server.start()
        budget = max(60.0, run.messages / 20)  # no system is slower than 20 msg/s
        if warmup:
            smtp_source(server.port, run.sessions, warmup, run.size, budget)
        run.fsync_probe_ms = fsync_probe(server.dir)
        time.sleep(0.3)  # let the warm-up's last processes settle
        cpu_before = tree_cpu_seconds(server.root_pid)
        busy_before = machine_busy()
        run.elapsed_s = smtp_source(server.port, run.sessions, run.messages, run.size, budget)
        cpu_after = tree_cpu_seconds(server.root_pid)
        busy_after = machine_busy()
        run.pss_mib = tree_pss_mib(server.root_pid)
        run.msgs_per_s = run.messages / run.elapsed_s
        run.cpu_s = cpu_after - cpu_before
        run.cpu_ms_per_msg = 1000 * run.cpu_s / run.messages
        busy, total = (a - b for a, b in zip(busy_after, busy_before, strict=True))
        run.machine_busy_pct = 100 * busy / total if total else None
        run.queued = server.queued()
        if run.queued != warmup + run.messages:
            run.notes.append(f"{run.queued} files in incoming/, expected {warmup + run.messages}")
    except BenchError as exc:
        run.error = str(exc)
        log = server.log_tail()
        if log and log not in run.error:
            run.error += f"\n--- {server.name} log (last lines) ---\n{log}"
    finally:
        run.stopped = server.close()


# --------------------------------------------------------------------------- report


def spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return format(values[0], fmt)
    return (f"{format(statistics.median(values), fmt)} "
            f"({format(min(values), fmt)}–{format(max(values), fmt)})")


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(runs: list[Run], systems: list[str]) -> tuple[list[dict], str]:
    scenarios = list(dict.fromkeys(r.scenario for r in runs))
    summary, rows = [], []
    header = ["messages : sessions : size"]
    for system in systems:
        header += [f"{system} msg/s", f"{system} CPU ms/msg", f"{system} PSS MiB"]
    if {"postfix", "mailrelay"} <= set(systems):
        header += ["ratio mailrelay/Postfix"]
    for scenario in scenarios:
        entry: dict = {"scenario": scenario}
        row = [scenario]
        for system in systems:
            ok = [r for r in runs if r.scenario == scenario and r.system == system
                  and r.error == ""]
            failed = [r for r in runs if r.scenario == scenario and r.system == system
                      and r.error]
            rates = [r.msgs_per_s for r in ok]
            cpu = [r.cpu_ms_per_msg for r in ok]
            pss = [r.pss_mib for r in ok]
            entry[system] = {
                "msgs_per_s_median": median_or_none(rates),
                "msgs_per_s_min": min(rates, default=None),
                "msgs_per_s_max": max(rates, default=None),
                "cpu_ms_per_msg_median": median_or_none(cpu),
                "pss_mib_median": median_or_none(pss),
                "runs_ok": len(ok), "runs_failed": len(failed),
            }
            rate = spread(rates, ",.0f") if ok else "FAILED"
            row += [rate, spread(cpu, ".2f"), spread(pss, ".0f")]
        if "ratio mailrelay/Postfix" in header:
            mine = entry["mailrelay"]["msgs_per_s_median"]
            theirs = entry["postfix"]["msgs_per_s_median"]
            # Also the ratios of the interleaved pairs (run i of each): robust against drift.
            pairs = [m.msgs_per_s / p.msgs_per_s
                     for m in runs for p in runs
                     if m.scenario == p.scenario == scenario and m.run == p.run
                     and m.system == "mailrelay" and p.system == "postfix"
                     and not m.error and not p.error]
            entry["ratio"] = mine / theirs if mine and theirs else None
            entry["pair_ratios"] = pairs
            text = f"{entry['ratio']:.2f}" if entry["ratio"] else "-"
            if len(pairs) > 1:
                text += f" (pairs {min(pairs):.2f}–{max(pairs):.2f})"
            row.append(text)
        summary.append(entry)
        rows.append(row)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return summary, "\n".join(lines)


def version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        return (done.stdout or done.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


def filesystem_of(path: Path) -> str:
    best = ("", "?")
    for line in Path("/proc/mounts").read_text().splitlines():
        device, mount, fstype, options = line.split()[:4]
        if str(path).startswith(mount) and len(mount) >= len(best[0]):
            best = (mount, f"{fstype} on {device} ({options})")
    return best[1]


# --------------------------------------------------------------------------- main


def parse_scenario(text: str) -> tuple[int, int, int]:
    messages, sessions, size = text.split(":")
    size = size.strip().upper()
    factor = 1024 if size.endswith("KB") or size.endswith("K") else 1
    return int(messages), int(sessions), int(size.rstrip("KB")) * factor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 10x fewer messages (500:10:1KB, 500:50:1KB, "
                             "200:10:100KB)")
    parser.add_argument("--warmup", type=int, default=WARMUP,
                        help=f"messages sent before the timed run (default {WARMUP})")
    parser.add_argument("--runs", type=int, default=3, help="runs per system and scenario")
    parser.add_argument("--systems", default="postfix,mailrelay",
                        help="comma-separated: postfix, mailrelay (in this order each run)")
    parser.add_argument("--scenario", action="append", metavar="MSGS:SESSIONS:SIZE",
                        help="instead of the standard ones, e.g. 5000:10:1KB (repeatable)")
    parser.add_argument("--mailrelay-conf", action="append", default=[], metavar="'NAME = VALUE'",
                        help="extra main.cf line for mailrelay (repeatable; e.g. to pause "
                             "its delivery once it has one)")
    parser.add_argument("--postfix-conf", action="append", default=[], metavar="'NAME = VALUE'",
                        help="extra main.cf line for Postfix (repeatable)")
    parser.add_argument("--mailrelay-command", default=None,
                        help="how to run mailrelay (default: 'mailrelay' on PATH, else "
                             "'python -m mailrelay')")
    parser.add_argument("--stop-grace", type=float, default=20.0,
                        help="seconds mailrelay may take to exit after SIGTERM")
    parser.add_argument("--tmpdir", type=Path, default=None,
                        help="where the queues go (default: the system's temp directory)")
    parser.add_argument("--out", type=Path, default=HERE / "out",
                        help="directory for the JSON results")
    args = parser.parse_args()

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if not systems or set(systems) - {"postfix", "mailrelay"}:
        parser.error("--systems takes postfix and/or mailrelay")
    for tool in ["smtp-source"] + (["postfix"] if "postfix" in systems else []):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (Debian: apt-get install postfix)")
    if "postfix" in systems and os.geteuid() != 0:
        sys.exit("run as root: Postfix's master must start as root")
    if args.mailrelay_command:
        mailrelay_command = args.mailrelay_command.split()
    elif shutil.which("mailrelay"):
        mailrelay_command = [shutil.which("mailrelay")]
    else:
        mailrelay_command = [sys.executable, "-m", "mailrelay"]
    if args.scenario:
        scenarios = [parse_scenario(s) for s in args.scenario]
    else:
        scenarios = QUICK_SCENARIOS if args.quick else SCENARIOS

    atexit.register(close_everything)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)

    meta = common_meta(args, systems, mailrelay_command)
    meta.update({
        "delivery": "paused: Postfix without qmgr/pickup (in_flow_delay = 0), "
                    "mailrelay with master_service_disable = qmgr/unix",
        "durability": "Postfix: fsync of each queue file; mailrelay: fsync of file and directory",
    })
    print(f"accept benchmark: {', '.join(systems)}; {args.runs} run(s); Postfix "
          f"{meta['postfix']}; {meta['cpus']} CPUs; queues on {meta['queue_filesystem']}")

    def server_for(system: str) -> Server:
        if system == "postfix":
            return Postfix(args.tmpdir, args.postfix_conf)
        return Mailrelay(args.tmpdir, args.mailrelay_conf, mailrelay_command, args.stop_grace)

    def describe(run: Run) -> str:
        return (f"{run.msgs_per_s:7,.0f} msg/s  {run.cpu_ms_per_msg:5.2f} ms CPU/msg  "
                f"{run.pss_mib:5.0f} MiB  machine {run.machine_busy_pct:3.0f}% busy  "
                f"fsync {run.fsync_probe_ms:.2f} ms")

    runs, interrupted = interleave(scenarios, systems, args.runs, Run, server_for,
                                   lambda server, run: one_run(server, run, args.warmup),
                                   describe)
    return report(runs, summarize(runs, systems) if runs else ([], ""), meta, interrupted,
                  args.out, "accept",
                  "median (min–max) over runs; CPU = the server's whole process tree; PSS at "
                  "the end.\nDelivery paused for both; Postfix fsyncs each queue file, "
                  "mailrelay the file and its directory.")


def interleave(scenarios: list[tuple[int, int, int]], systems: list[str], repeats: int,
               make_run: Callable[..., Any], server_for: Callable[[str], Server],
               execute: Callable[[Server, Any], None],
               describe: Callable[[Any], str]) -> tuple[list[Any], bool]:
    """Each scenario, *repeats* times, the systems in turn (a system that fails is not
    retried in that scenario); prints a line per run.  Returns the runs and whether the
    benchmark was interrupted."""
    runs: list[Any] = []
    try:
        for messages, sessions, size in scenarios:
            label = f"{messages} : {sessions} : {size // 1024} KB" if size % 1024 == 0 \
                else f"{messages} : {sessions} : {size} B"
            failed: set[str] = set()
            for index in range(1, repeats + 1):
                for system in systems:
                    if system in failed:
                        continue
                    run = make_run(system, label, index, messages, sessions, size)
                    execute(server_for(system), run)
                    runs.append(run)
                    if run.error:
                        failed.add(system)
                        print(f"  {label}  {system:9}  run {index}: FAILED\n"
                              + "\n".join("      " + ln for ln in run.error.splitlines()),
                              flush=True)
                    else:
                        notes = f"  [{'; '.join(run.notes)}]" if run.notes else ""
                        print(f"  {label}  {system:9}  run {index}: {describe(run)}  "
                              f"stopped: {run.stopped}{notes}", flush=True)
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc}); stopping", file=sys.stderr)
        return runs, True
    finally:
        close_everything()
    return runs, False


def common_meta(args: argparse.Namespace, systems: list[str],
                mailrelay_command: list[str]) -> dict:
    """What both benchmarks record about the machine, the versions and the client."""
    tmp_parent = args.tmpdir or Path(tempfile.gettempdir())
    return {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "host": platform.node(), "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "postfix": version(["postconf", "-d", "-h", "mail_version"]),
        "mailrelay": version([*mailrelay_command, "--version"]) if "mailrelay" in systems else None,
        "mailrelay_command": mailrelay_command,
        "queue_filesystem": filesystem_of(tmp_parent.resolve()),
        "warmup_messages": args.warmup,
        "client": f"smtp-source -s S -m N -l L -f {SENDER} -t {RECIPIENT} 127.0.0.1:PORT "
                  "(one connection per message)",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }


def report(runs: list, summarized: tuple[list[dict], str], meta: dict, interrupted: bool,
           out_dir: Path, prefix: str, legend: str) -> int:
    """Print the table and its legend, write the JSON; the exit status of the benchmark."""
    if not runs:
        return 1
    summary, table = summarized
    print()
    print(table)
    print("\n" + legend)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{prefix}-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    meta["interrupted"] = interrupted
    out.write_text(json.dumps({"meta": meta, "summary": summary,
                               "runs": [asdict(r) for r in runs]}, indent=2) + "\n")
    print(f"results: {out}")
    return 1 if interrupted or any(r.error for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
