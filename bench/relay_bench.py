#!/usr/bin/env python3
"""Benchmark mailrelay relaying mail end to end, against Postfix, in the same run.

    python3 bench/relay_bench.py [--quick] [--runs 3] [--systems postfix,mailrelay]

    smtp-source  ->  the system (smtpd, queue, qmgr, smtp client)  ->  smtp-sink

For each scenario (messages : parallel sessions : body size) and each run, alternating the
systems (Postfix, mailrelay, Postfix, mailrelay, ...), this starts an smtp-sink on a free
loopback port (it accepts everything, announces PIPELINING and counts what arrives), starts
the system fresh (empty queue, new temporary directories) with
``relayhost = [127.0.0.1]:SINKPORT`` and its delivery side on, sends 200 warm-up messages
and waits until they are delivered, then times

    smtp-source -s SESSIONS -m MESSAGES -l SIZE -f FROM -t TO 127.0.0.1:PORT

until every message has been delivered: the count of ``QUEUEID: removed`` lines (qmgr's, in
both systems) in the system's maillog_file reaches warm-up + MESSAGES.  Reported per run:
accepted msg/s (MESSAGES / smtp-source's time), delivered msg/s (MESSAGES / time from the
first message sent to the last one removed), CPU per message (utime + stime of the system's
whole process tree over that time, children that exited included) and peak memory (PSS of
the tree, sampled every 0.25 s, the largest sample).

The systems are those of bench/accept_bench.py (imported from there), with delivery on:

* Postfix: master.cf gets qmgr and pickup (Debian's lines, chroot off) and in_flow_delay
  keeps its default (1 s): qmgr hands cleanup its in-flow tokens, as in production.
* mailrelay: ``mailrelay serve`` without ``master_service_disable = qmgr/unix`` (which the
  accept bench sets to pause delivery), so its master runs qmgr.

A system that does not deliver (its queue stays in incoming/ or deferred/) fails the run
after --stall seconds without a removed line, with the queue's state and the tail of its
logs; nothing waits forever.  Results: tables on stdout and a JSON file in
bench/out/relay-YYYYmmdd-HHMMSS.json.  Run as root.  Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accept_bench as ab

HERE = ab.HERE
SAMPLE_INTERVAL = 0.25  # seconds between two PSS samples of the process tree
POLL_INTERVAL = 0.02    # seconds between two looks at the maillog: the end time's resolution

#: Debian's master.cf lines for the delivery side, chroot off like the other services.
POSTFIX_DELIVERY_SERVICES = """\
pickup    unix  n - n 60 1 pickup
qmgr      unix  n - n 300 1 qmgr
"""


# --------------------------------------------------------------------------- the systems


class RelayPostfix(ab.Postfix):
    prefix = "relay-bench"
    services = ab.POSTFIX_SERVICES + POSTFIX_DELIVERY_SERVICES
    delivery_conf = ()  # in_flow_delay back to its default: qmgr hands out the tokens


class RelayMailrelay(ab.Mailrelay):
    prefix = "relay-bench"
    delivery_conf = ()  # no master_service_disable: serve's master runs qmgr

    def log_tail(self) -> str:
        # serve.log has the fatal errors (a qmgr that dies), the maillog what qmgr did.
        # serve may copy the maillog to its stderr: then the tail is shown once.
        serve, maillog = ab.tail(self.dir / "serve.log"), ab.tail(self.dir / "maillog")
        if not maillog or maillog in serve:
            return serve
        return f"{serve}\n--- maillog (last lines) ---\n{maillog}"


class Sink:
    """smtp-sink on a free loopback port: accepts every message as fast as it can (with
    PIPELINING, which both smtp clients use), throws it away and, with -c, writes a running
    ``mesg=N`` count to its output, which says how many arrived."""

    def __init__(self, directory: Path) -> None:
        self.port = ab.free_port()
        self.output = directory / "smtp-sink.out"
        self.proc: subprocess.Popen | None = None
        SINKS.append(self)

    def start(self) -> None:
        # As root it must drop privileges (-u); backlog 1000 as in the Postfix baseline.
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        command = ["smtp-sink", "-c", *user, f"127.0.0.1:{self.port}", "1000"]
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=out, start_new_session=True)
        try:
            ab.wait_for_banner(self.port, time.monotonic() + 15,
                               lambda: self.proc.poll() is None)
        except ab.BenchError as exc:
            raise ab.BenchError(f"smtp-sink: {exc}; exit status {self.proc.poll()}: "
                                f"{ab.tail(self.output, 3)}") from None

    def received(self) -> int:
        """Messages received so far: the last ``mesg=N`` of the counters (\\r-separated)."""
        try:
            with self.output.open("rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 200))
                data = f.read()
        except OSError:
            return 0
        at = data.rfind(b"mesg=")
        if at < 0:
            return 0
        digits = data[at + 5:].split(maxsplit=1)
        return int(digits[0]) if digits and digits[0].isdigit() else 0

    def close(self) -> None:
        if self in SINKS:
            SINKS.remove(self)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


SINKS: list[Sink] = []


def close_everything() -> None:
    ab.close_everything()
    for sink in list(SINKS):
        try:
            sink.close()
        except Exception as exc:  # best effort at exit
            print(f"warning: stopping smtp-sink on port {sink.port}: {exc}", file=sys.stderr)


# --------------------------------------------------------------------------- measuring


class LogCounter:
    """Counts qmgr's and smtp's outcome lines in a growing maillog, reading only what was
    appended since the last call (the log reaches megabytes; it is read 50 times a second)."""

    PATTERNS: ClassVar[dict[str, bytes]] = {
        "removed": b": removed\n", "sent": b" status=sent (",
        "deferred": b" status=deferred (", "bounced": b" status=bounced ("}

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.counts = dict.fromkeys(self.PATTERNS, 0)
        self.last_failure = ""  # the last deferred or bounced line: why delivery fails

    def poll(self) -> int:
        """Reads what is new; returns the number of removed lines so far."""
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return self.counts["removed"]
        self.offset += len(data)
        # Only complete lines: a line may be half written at the moment of the read.
        data, _, self.partial = (self.partial + data).rpartition(b"\n")
        if data:
            data += b"\n"
            for name, pattern in self.PATTERNS.items():
                self.counts[name] += data.count(pattern)
            for pattern in (self.PATTERNS["deferred"], self.PATTERNS["bounced"]):
                at = data.rfind(pattern)
                if at >= 0:
                    start = data.rfind(b"\n", 0, at) + 1
                    self.last_failure = data[start:data.index(b"\n", at)].decode(
                        errors="replace")
        return self.counts["removed"]


class PssSampler(threading.Thread):
    """PSS of the process tree every SAMPLE_INTERVAL seconds until stopped; keeps the peak
    (qmgr's and the smtp clients' memory grows with the active queue, so the end of the run
    is not the peak)."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.peak = 0.0
        self.samples = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while True:
            self.sample()
            if self.halt.wait(SAMPLE_INTERVAL):
                return

    def sample(self) -> None:
        self.peak = max(self.peak, ab.tree_pss_mib(self.root_pid))
        self.samples += 1

    def stop(self) -> float:
        self.halt.set()
        self.join(10)
        self.sample()  # and one at the very end
        return self.peak


class Source:
    """smtp-source in the background; a thread notes the moment it exits, precisely (the
    accepted rate needs it, and the main thread is busy watching the delivery)."""

    def __init__(self, port: int, sessions: int, messages: int, size: int,
                 timeout: float) -> None:
        self.timeout = timeout
        self.command = ["smtp-source", "-s", str(sessions), "-m", str(messages),
                        "-l", str(size), "-f", ab.SENDER, "-t", ab.RECIPIENT,
                        f"127.0.0.1:{port}"]
        self.start = time.perf_counter()
        self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.end: float | None = None
        self.output = ""
        self.thread = threading.Thread(target=self._wait, daemon=True)
        self.thread.start()

    def _wait(self) -> None:
        out, _ = self.proc.communicate()
        self.end = time.perf_counter()
        self.output = out.decode(errors="replace").strip()

    def check(self) -> None:
        """Raises if smtp-source failed (it stops at the first negative reply) or is late."""
        if self.end is not None and self.proc.returncode != 0:
            raise ab.BenchError(f"{' '.join(self.command)} exited with "
                                f"{self.proc.returncode}: {self.output}")
        if self.end is None and time.perf_counter() > self.start + self.timeout:
            self.kill()
            raise ab.BenchError(f"{' '.join(self.command)}: not done after "
                                f"{self.timeout:.0f} s")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.thread.join(10)


def queue_state(server: ab.Server) -> str:
    counts = [f"{name} {ab.count_files(server.queue_dir / name)}"
              for name in ("incoming", "active", "deferred", "hold", "corrupt")
              if (server.queue_dir / name).is_dir()]
    return ", ".join(counts) or "no queue directories"


def wait_delivered(server: ab.Server, sink: Sink, log: LogCounter, target: int,
                   deadline: float, stall: float, source: Source | None = None) -> float:
    """Polls the maillog until TARGET messages are removed; returns that moment
    (perf_counter).  Fails when the system dies, smtp-source fails, no message is removed
    for STALL seconds (a system that does not deliver: its queue stays put), or at DEADLINE."""
    started = time.perf_counter()
    removed, last_progress = log.poll(), started
    while True:
        now = time.perf_counter()
        if removed >= target:
            return now
        if source is not None:
            source.check()
        if not ab.pid_alive(server.root_pid):
            raise ab.BenchError(f"{server.name} exited while delivering")
        if now - last_progress > stall or now > deadline:
            why = (f"no message removed for {stall:.0f} s" if now - last_progress > stall
                   else f"not all delivered after {now - started:.0f} s")
            c = log.counts
            raise ab.BenchError(
                f"{why}: {removed} of {target} removed ({c['sent']} sent, {c['deferred']} "
                f"deferred, {c['bounced']} bounced); smtp-sink received {sink.received()}; "
                f"queue: {queue_state(server)}"
                + (f"\nlast failure: {log.last_failure}" if log.last_failure else ""))
        time.sleep(POLL_INTERVAL)
        now_removed = log.poll()
        if now_removed != removed:
            removed, last_progress = now_removed, time.perf_counter()


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    system: str
    scenario: str
    run: int
    messages: int
    sessions: int
    size: int
    accept_s: float | None = None
    accepted_per_s: float | None = None
    deliver_s: float | None = None
    delivered_per_s: float | None = None
    cpu_s: float | None = None
    cpu_ms_per_msg: float | None = None
    pss_peak_mib: float | None = None
    pss_end_mib: float | None = None
    pss_samples: int = 0
    machine_busy_pct: float | None = None
    fsync_probe_ms: float | None = None
    sink_received: int | None = None
    log_counts: dict[str, int] = field(default_factory=dict)
    banner: str = ""
    stopped: str = ""
    error: str = ""
    notes: list[str] = field(default_factory=list)


def one_run(server: ab.Server, run: Run, warmup: int, stall: float) -> None:
    sink = Sink(server.dir)
    source: Source | None = None
    sampler: PssSampler | None = None
    try:
        sink.start()
        server.relayhost = f"[127.0.0.1]:{sink.port}"
        run.banner = server.start()
        log = LogCounter(server.dir / "maillog")
        budget = max(60.0, run.messages / 20)  # no system is slower than 20 msg/s
        if warmup:
            ab.smtp_source(server.port, run.sessions, warmup, run.size, budget)
            wait_delivered(server, sink, log, warmup, time.perf_counter() + budget, stall)
        run.fsync_probe_ms = ab.fsync_probe(server.dir)
        time.sleep(0.3)  # let the warm-up's last processes settle
        target = warmup + run.messages
        cpu_before = ab.tree_cpu_seconds(server.root_pid)
        busy_before = ab.machine_busy()
        sampler = PssSampler(server.root_pid)
        sampler.start()
        source = Source(server.port, run.sessions, run.messages, run.size, budget)
        delivered = wait_delivered(server, sink, log, target, source.start + 2 * budget,
                                   stall, source)
        cpu_after = ab.tree_cpu_seconds(server.root_pid)
        busy_after = ab.machine_busy()
        run.pss_peak_mib = sampler.stop()
        run.pss_samples = sampler.samples
        run.pss_end_mib = ab.tree_pss_mib(server.root_pid)
        # Every message removed means every message accepted; smtp-source may still be
        # closing its last sessions, so wait for it (the accepted time is its own end).
        source.thread.join(max(0.0, source.start + budget - time.perf_counter()))
        source.check()
        if source.end is None:
            raise ab.BenchError("smtp-source did not exit after every message was delivered")
        run.accept_s = source.end - source.start
        run.accepted_per_s = run.messages / run.accept_s
        run.deliver_s = delivered - source.start
        run.delivered_per_s = run.messages / run.deliver_s
        run.cpu_s = cpu_after - cpu_before
        run.cpu_ms_per_msg = 1000 * run.cpu_s / run.messages
        busy, total = (a - b for a, b in zip(busy_after, busy_before, strict=True))
        run.machine_busy_pct = 100 * busy / total if total else None
        time.sleep(0.1)  # the sink counts a message when its session ends
        run.sink_received = sink.received()
        log.poll()
        run.log_counts = dict(log.counts)
        if run.sink_received < target:
            run.notes.append(f"smtp-sink received {run.sink_received}, expected {target}")
        if log.counts["sent"] != target:
            run.notes.append(f"{log.counts['sent']} status=sent lines, expected {target}")
        if log.counts["deferred"] or log.counts["bounced"]:
            run.notes.append(f"{log.counts['deferred']} deferred, {log.counts['bounced']} "
                             f"bounced: {log.last_failure}")
    except ab.BenchError as exc:
        run.error = str(exc)
        logs = server.log_tail()
        if logs and logs not in run.error:
            run.error += f"\n--- {server.name} log (last lines) ---\n{logs}"
    finally:
        if source is not None:
            source.kill()
        if sampler is not None and sampler.is_alive():
            sampler.halt.set()
        run.stopped = server.close()
        sink.close()


# --------------------------------------------------------------------------- report


def pair_ratios(runs: list[Run], scenario: str, metric: str) -> list[float]:
    """mailrelay/Postfix of each interleaved pair (run i of each): robust against drift."""
    pairs = []
    for m in runs:
        for p in runs:
            if (m.scenario == p.scenario == scenario and m.run == p.run
                    and m.system == "mailrelay" and p.system == "postfix"
                    and not m.error and not p.error):
                mine, theirs = getattr(m, metric), getattr(p, metric)
                if mine and theirs:
                    pairs.append(mine / theirs)
    return pairs


METRICS = [("accepted_per_s", "accepted msg/s", ",.0f"),
           ("delivered_per_s", "delivered msg/s", ",.0f"),
           ("cpu_ms_per_msg", "CPU ms/msg", ".2f"),
           ("pss_peak_mib", "peak PSS MiB", ".0f")]
#: The ratios mailrelay/Postfix that are reported: throughput and memory.
RATIOS = [("accepted_per_s", "accepted"), ("delivered_per_s", "delivered"),
          ("pss_peak_mib", "peak PSS")]


def summarize(runs: list[Run], systems: list[str]) -> tuple[list[dict], str]:
    scenarios = list(dict.fromkeys(r.scenario for r in runs))
    both = {"postfix", "mailrelay"} <= set(systems)
    summary = []
    lines = ["| messages : sessions : size | system | "
             + " | ".join(title for _, title, _ in METRICS) + " |",
             "|---|---|" + "---|" * len(METRICS)]
    ratio_lines = ["| messages : sessions : size | "
                   + " | ".join(f"{title} mailrelay/Postfix" for _, title in RATIOS) + " |",
                   "|---|" + "---|" * len(RATIOS)]
    for scenario in scenarios:
        entry: dict = {"scenario": scenario}
        for system in systems:
            mine = [r for r in runs if r.scenario == scenario and r.system == system]
            ok = [r for r in mine if not r.error]
            entry[system] = {"runs_ok": len(ok), "runs_failed": len(mine) - len(ok)}
            cells = []
            for metric, _, fmt in METRICS:
                values = [getattr(r, metric) for r in ok if getattr(r, metric) is not None]
                entry[system][f"{metric}_median"] = ab.median_or_none(values)
                entry[system][f"{metric}_min"] = min(values, default=None)
                entry[system][f"{metric}_max"] = max(values, default=None)
                cells.append(ab.spread(values, fmt) if ok else "FAILED")
            lines.append(f"| {scenario} | {system} | " + " | ".join(cells) + " |")
        if both:
            cells = []
            for metric, _ in RATIOS:
                mine = entry["mailrelay"][f"{metric}_median"]
                theirs = entry["postfix"][f"{metric}_median"]
                ratio = mine / theirs if mine and theirs else None
                pairs = pair_ratios(runs, scenario, metric)
                entry[f"ratio_{metric}"] = ratio
                entry[f"pair_ratios_{metric}"] = pairs
                text = f"{ratio:.2f}" if ratio else "-"
                if len(pairs) > 1:
                    text += f" (pairs {min(pairs):.2f}–{max(pairs):.2f})"
                cells.append(text)
            ratio_lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
        summary.append(entry)
    table = "\n".join(lines)
    if both:
        table += "\n\n" + "\n".join(ratio_lines)
    return summary, table


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 10x fewer messages (500:10:1KB, 500:50:1KB, "
                             "200:10:100KB)")
    parser.add_argument("--warmup", type=int, default=ab.WARMUP,
                        help=f"messages sent and delivered before the timed run "
                             f"(default {ab.WARMUP})")
    parser.add_argument("--runs", type=int, default=3, help="runs per system and scenario")
    parser.add_argument("--systems", default="postfix,mailrelay",
                        help="comma-separated: postfix, mailrelay (in this order each run)")
    parser.add_argument("--scenario", action="append", metavar="MSGS:SESSIONS:SIZE",
                        help="instead of the standard ones, e.g. 5000:10:1KB (repeatable)")
    parser.add_argument("--stall", type=float, default=30.0,
                        help="fail a run when no message is removed for this many seconds "
                             "(default 30)")
    parser.add_argument("--mailrelay-conf", action="append", default=[], metavar="'NAME = VALUE'",
                        help="extra main.cf line for mailrelay (repeatable)")
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
    for tool in ["smtp-source", "smtp-sink"] + (["postfix"] if "postfix" in systems else []):
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
        scenarios = [ab.parse_scenario(s) for s in args.scenario]
    else:
        scenarios = ab.QUICK_SCENARIOS if args.quick else ab.SCENARIOS

    atexit.register(close_everything)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, ab._on_signal)

    meta = ab.common_meta(args, systems, mailrelay_command)
    meta.update({
        "sink": "smtp-sink -c [-u nobody] 127.0.0.1:SINKPORT 1000, relayhost = "
                "[127.0.0.1]:SINKPORT",
        "delivery": "on: Postfix with qmgr and pickup, default in_flow_delay; mailrelay serve "
                    "with its qmgr (no master_service_disable)",
        "done_when": "the maillog holds warm-up + N 'QUEUEID: removed' lines",
    })
    print(f"relay benchmark: {', '.join(systems)}; {args.runs} run(s); Postfix "
          f"{meta['postfix']}; {meta['cpus']} CPUs; queues on {meta['queue_filesystem']}")

    def server_for(system: str) -> ab.Server:
        if system == "postfix":
            return RelayPostfix(args.tmpdir, args.postfix_conf)
        return RelayMailrelay(args.tmpdir, args.mailrelay_conf, mailrelay_command,
                              args.stop_grace)

    def describe(run: Run) -> str:
        return (f"accepted {run.accepted_per_s:7,.0f} msg/s  "
                f"delivered {run.delivered_per_s:7,.0f} msg/s  "
                f"{run.cpu_ms_per_msg:5.2f} ms CPU/msg  peak {run.pss_peak_mib:4.0f} MiB  "
                f"machine {run.machine_busy_pct:3.0f}% busy  fsync {run.fsync_probe_ms:.2f} ms")

    runs, interrupted = ab.interleave(
        scenarios, systems, args.runs, Run, server_for,
        lambda server, run: one_run(server, run, args.warmup, args.stall), describe)
    return ab.report(runs, summarize(runs, systems) if runs else ([], ""), meta, interrupted,
                  args.out, "relay",
                  "median (min–max) over runs; accepted = N / smtp-source's time; delivered = "
                  "N / (first sent -> last removed);\nCPU = the system's whole process tree "
                  "over the delivered time; peak PSS = largest sample (every 0.25 s).")


if __name__ == "__main__":
    sys.exit(main())
