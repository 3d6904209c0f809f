"""``mailrelay health``: a Nagios plugin, also usable as keepalived's ``track_script``.

    mailrelay health [-w N] [-c N] [--age-w S] [--age-c S] [--smarthost] [--ehlo] [-t S]

One status line with performance data and the plugin conventions' exit status (0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN), e.g.::

    MAILRELAY OK - 3 messages queued, oldest 120s | queue=3;50;100;0 age=120s;600;3600;0

What is checked: the daemon (the master holds the lock of ``$queue_directory/pid/master.pid``:
a stale file is "not running"), the queue (incoming + active + deferred + hold: their number
against -w/-c, the age of the oldest message -- from its envelope's arrival time, since a
deferred file's mtime is its next attempt -- against --age-w/--age-c, in seconds or Postfix
time units such as ``1h``), and with --smarthost or --ehlo the relayhost: a TCP connection
to its first reachable destination, and with --ehlo its banner and EHLO reply.  A threshold
left out is not checked.  A bad command line or configuration is UNKNOWN, as plugins do.

The relayhost is taken as written: ``[host]:port`` as is, and a bare ``host`` (which the smtp
client would look up as MX) is tried as a host name on port 25.

SECURITY: reads the configuration, the pid file and the queue (never writes); with
--smarthost or --ehlo connects to the relayhost (and says only EHLO and QUIT).
"""

from __future__ import annotations

import argparse
import enum
import io
import socket
import time
from dataclasses import dataclass

from mailrelay.cli.context import Context
from mailrelay.cli.postqueue import queue_store
from mailrelay.config.locate import load_main
from mailrelay.config.model import Config
from mailrelay.master.pidfile import pid_path, running_pid
from mailrelay.queue.record import QueueFileError
from mailrelay.queue.store import MessageNotFound, Queue, QueueStore
from mailrelay.route.nexthop import Nexthop, NexthopError, parse_nexthops
from mailrelay.util.diagnostic import Fatal
from mailrelay.util.units import parse_time

#: The queues whose mail is waiting to leave (maildrop is pickup's, corrupt is no mail).
QUEUES = (Queue.INCOMING, Queue.ACTIVE, Queue.DEFERRED, Queue.HOLD)


class State(enum.IntEnum):
    """The plugin's exit statuses; a worse state is a larger number, except UNKNOWN."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def worst(states: list[State]) -> State:
    """CRITICAL beats UNKNOWN beats WARNING beats OK, as Nagios orders them for a host."""
    for state in (State.CRITICAL, State.UNKNOWN, State.WARNING):
        if state in states:
            return state
    return State.OK


@dataclass(frozen=True, slots=True)
class Finding:
    state: State
    text: str


@dataclass(frozen=True, slots=True)
class Limits:
    """Thresholds: a value above ``warning`` warns, above ``critical`` is critical."""

    warning: float | None
    critical: float | None

    def state(self, value: float) -> State:
        if self.critical is not None and value > self.critical:
            return State.CRITICAL
        if self.warning is not None and value > self.warning:
            return State.WARNING
        return State.OK

    def perf(self, label: str, value: int, unit: str = "") -> str:
        def show(limit: float | None) -> str:
            return "" if limit is None else f"{limit:g}"
        return f"{label}={value}{unit};{show(self.warning)};{show(self.critical)};0"


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _seconds(text: str) -> int:
    try:
        return parse_time(text, "s")
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"bad time value: {text}") from e


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mailrelay health", add_help=True,
                description="Nagios plugin: daemon, queue size and age, relayhost.")
    p.add_argument("-w", "--warning", type=int, help="queue size that warns")
    p.add_argument("-c", "--critical", type=int, help="queue size that is critical")
    p.add_argument("--age-w", type=_seconds, help="age of the oldest message that warns")
    p.add_argument("--age-c", type=_seconds, help="age of the oldest message that is critical")
    p.add_argument("--smarthost", action="store_true", help="connect to the relayhost")
    p.add_argument("--ehlo", action="store_true",
                   help="also read the relayhost's banner and say EHLO")
    p.add_argument("-t", "--timeout", type=float, default=10.0,
                   help="seconds for the relayhost check (default 10)")
    return p


# -- the checks ------------------------------------------------------------------------------

def check_daemon(config: Config) -> Finding:
    pid = running_pid(pid_path(config.get_str("queue_directory")))
    if pid is None:
        return Finding(State.CRITICAL, "daemon not running")
    return Finding(State.OK, f"daemon running (pid {pid})")


def queue_figures(store: QueueStore, now: float) -> tuple[int, int]:
    """(messages waiting, age of the oldest in whole seconds)."""
    count, oldest = 0, now
    for queue in QUEUES:
        for entry in store.scan(queue):
            count += 1
            arrival = entry.mtime if queue is not Queue.DEFERRED else now
            try:
                with store.open(queue, entry.queue_id) as message:
                    arrival = message.envelope.arrival_time
            except (MessageNotFound, QueueFileError, OSError):
                pass  # moved on meanwhile, or unreadable: counted, age from its mtime
            oldest = min(oldest, arrival)
    return count, max(0, int(now - oldest))


def probe(nexthop: Nexthop, helo: str, *, ehlo: bool, timeout: float) -> str | None:
    """None when the relayhost answers as asked, else what went wrong."""
    address = (nexthop.host, nexthop.port or 25)
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            if not ehlo:
                return None
            with sock.makefile("rwb") as stream:
                return _ehlo(stream, helo)
    except OSError as e:
        return str(e) or type(e).__name__


def _ehlo(stream: io.BufferedIOBase, helo: str) -> str | None:
    banner = _reply(stream)
    if not banner.startswith(b"220"):
        return f"banner {banner.decode(errors='replace').strip()!r}"
    stream.write(f"EHLO {helo}\r\n".encode())
    stream.flush()
    answer = _reply(stream)
    stream.write(b"QUIT\r\n")
    stream.flush()
    if not answer.startswith(b"250"):
        return f"EHLO answered {answer.decode(errors='replace').strip()!r}"
    return None


def _reply(stream: io.BufferedIOBase) -> bytes:
    """The last line of a (multi-line) SMTP reply; b"" at end of file."""
    while True:
        line = stream.readline(4096)
        if not line or line[3:4] != b"-":
            return line


def check_smarthost(config: Config, *, ehlo: bool, timeout: float) -> tuple[Finding, str]:
    """The first destination of relayhost that answers; (finding, perfdata)."""
    text = config.get_str("relayhost").strip()
    if not text:
        return Finding(State.UNKNOWN, "no relayhost configured"), ""
    try:
        nexthops = parse_nexthops(text)
    except NexthopError as e:
        return Finding(State.UNKNOWN, f"relayhost: {e}"), ""
    problems = []
    for nexthop in nexthops:
        started = time.monotonic()
        problem = probe(nexthop, config.get_str("myhostname"), ehlo=ehlo, timeout=timeout)
        if problem is None:
            took = time.monotonic() - started
            return (Finding(State.OK, f"relayhost {nexthop} answers"),
                    f"smarthost={took:.3f}s;;;0")
        problems.append(f"{nexthop}: {problem}")
    return Finding(State.CRITICAL, "relayhost unreachable (" + "; ".join(problems) + ")"), ""


# -- the command -----------------------------------------------------------------------------

def status_line(findings: list[Finding], perfdata: list[str]) -> tuple[State, str]:
    state = worst([f.state for f in findings])
    # Problems first: the part of the line a pager shows must say what is wrong.
    ordered = [f for f in findings if f.state is not State.OK] + [
        f for f in findings if f.state is State.OK and not f.text.startswith("daemon")]
    text = ", ".join(f.text for f in ordered)
    return state, f"MAILRELAY {state.name} - {text} | {' '.join(p for p in perfdata if p)}"


def run(args: list[str], ctx: Context) -> int:
    try:
        options = parser().parse_args(args)
        config = load_main(ctx.source())
        store = queue_store(config)
    except UsageError as e:
        print(f"MAILRELAY UNKNOWN - usage: {e}", file=ctx.stdout)
        return State.UNKNOWN
    except (Fatal, OSError) as e:
        print(f"MAILRELAY UNKNOWN - {e}", file=ctx.stdout)
        return State.UNKNOWN
    count_limits = Limits(options.warning, options.critical)
    age_limits = Limits(options.age_w, options.age_c)
    count, age = queue_figures(store, time.time())
    queue_state = worst([count_limits.state(count), age_limits.state(age)])
    plural = "message" if count == 1 else "messages"
    findings = [check_daemon(config),
                Finding(queue_state, f"{count} {plural} queued, oldest {age}s")]
    perfdata = [count_limits.perf("queue", count), age_limits.perf("age", age, "s")]
    if options.smarthost or options.ehlo:
        finding, perf = check_smarthost(config, ehlo=options.ehlo, timeout=options.timeout)
        findings.append(finding)
        perfdata.append(perf)
    state, line = status_line(findings, perfdata)
    print(line, file=ctx.stdout)
    return state
