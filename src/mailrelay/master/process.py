"""The master process: binds the smtpd sockets, runs and supervises the worker processes.

SECURITY: binds the listening sockets (the only process that does), forks workers, creates
the queue directories.

Theory of operation. The master does no mail work: it prepares (configuration, queue
directories, crash recovery, sockets, pid file), forks one smtpd worker per core and one qmgr
process (which runs the delivery agents, and pickup; a pickup process of its own when qmgr is
disabled), then waits for signals with
every signal blocked (sigtimedwait), so that no handler ever runs in the middle of its
bookkeeping. A worker that dies is replaced (after a pause if it dies young, so a broken
configuration cannot make it spin); its clients see their connection closed.

Signals, as Postfix's master takes them where Postfix has one:

- SIGTERM/SIGINT (``stop``): every child is asked to stop (smtpd workers drain), the master
  waits for them, kills what is left after a grace time, removes its pid file and exits 0.
- SIGQUIT (``abort``): every child is killed at once; the pid file is removed; exit 0.
- SIGHUP (``reload``): see :mod:`mailrelay.master.reload`.  A configuration that does not
  build is refused and logged; the running generation goes on untouched.
- SIGUSR1 (``logrotate``): reopen maillog_file, and tell every child to do the same.

Metrics (metrics_http_address set): before the first child is forked the master turns on
prometheus_client's multiprocess mode (:mod:`mailrelay.metrics.multiproc`) and installs the
counting tap on every MailLog a child will write with; a "metrics" child serves them over HTTP
(:mod:`mailrelay.metrics.endpoint`), supervised like pickup.  Each reaped child is marked dead
there, so that live gauges count living processes only.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from mailrelay.anvil import service as anvil
from mailrelay.config.locate import ConfigSource
from mailrelay.config.mastercf import Listener
from mailrelay.config.model import Config
from mailrelay.maillog.writer import MailLog
from mailrelay.master import roles
from mailrelay.master.generation import Generation, load_generation
from mailrelay.master.pidfile import PidFile, pid_path
from mailrelay.master.reload import reload
from mailrelay.master.roles import DRAIN, REOPEN, service_disabled, state_path
from mailrelay.metrics import endpoint, multiproc
from mailrelay.metrics.address import metrics_address
from mailrelay.queue.store import QueueStore
from mailrelay.smtpd import worker
from mailrelay.smtpd.worker import BoundListener
from mailrelay.util.diagnostic import Fatal

# uvloop is imported here, before any fork, rather than in each child that runs an event
# loop: loading the extension dirties about 4 MB (relocations, module state) in the process
# that imports it, and what the master dirtied before forking stays shared.  Measured: a
# child importing it after the fork had 5.4 MB of private memory, against 1.1 MB without.
# It is optional: without it the children use asyncio's own loop.
with contextlib.suppress(ImportError):
    import uvloop  # noqa: F401

SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
           signal.SIGUSR1}
#: A worker that exits sooner than this after its start is restarted only after a pause.
YOUNG = 2.0
STOP_GRACE = worker.GRACE + 5.0

ListenKey = tuple[str, int]

__all__ = ["Child", "Master", "bind", "service_disabled", "state_path"]


def bind(listener: Listener, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((listener.host, listener.port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        raise Fatal(f"bind {listener.host} port {listener.port}: {e.strerror}",
                    listener.service.origin) from None
    return sock


@dataclass(slots=True)
class Child:
    role: str
    main: Callable[[], int]
    pid: int = 0
    started: float = 0.0
    #: Of an older generation: asked to finish; not replaced when it exits.
    retiring: bool = False
    #: Needs the listening sockets (smtpd); every other child closes them.
    listens: bool = False
    #: Other roles this process also plays (qmgr's process runs pickup too).
    also: tuple[str, ...] = ()

    def plays(self, role: str) -> bool:
        return self.role == role or role in self.also


class Master:
    def __init__(self, source: ConfigSource, workers: int | None = None,
                 stream: TextIO | None = sys.stderr) -> None:
        self.source = source
        self.generation = load_generation(source)
        self.config = self.generation.config
        self.maillog = MailLog.from_config(self.config, stream=stream)
        self.store = QueueStore(state_path(self.config, "queue_directory"),
                                long_ids=self.config.get_bool("enable_long_queue_ids"))
        self.pidfile = PidFile(pid_path(self.store.directory))
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.children: list[Child] = []
        #: The new generation's qmgr and pickup, each started once its predecessor has
        #: exited: two qmgrs would deliver the same active/ file twice, two pickups would
        #: both queue the same maildrop file.
        self.pending: dict[str, Child] = {}
        self.sockets: dict[ListenKey, socket.socket] = {}
        self.stopping = False
        self.log = self.maillog.logger("master")
        #: The metrics tap once metrics are on (they stay on until the master exits).
        self.tap: Callable[[str, str], None] | None = None
        self.metrics_directory = multiproc.metrics_directory(self.store.directory)

    @property
    def backlog(self) -> int:
        return max(self.config.get_int("smtpd_client_connection_count_limit"), 100) * 10

    def run(self, ready: Callable[[], None] | None = None) -> int:
        """Run until stopped; *ready* is called once the pid file is held and every socket
        is bound, just before the children start (``start`` waits for it)."""
        os.umask(0o077)
        self.store.create_directories()
        state_path(self.config, "data_directory").mkdir(parents=True, exist_ok=True)
        self.pidfile.acquire()
        try:
            report = self.store.recover()
            if report.temporary_files or report.orphan_logs:
                self.log(f"queue recovery: removed {report.temporary_files} unfinished "
                         f"file(s) and {report.orphan_logs} orphan log(s)")
            self.sockets = self.bind_all(self.generation.listeners, {})
            self.enable_metrics()
            self.children = [Child("anvil", self._anvil), *self.plan(self.generation)]
            # DRAIN stays blocked in the children until a worker's loop takes it: a reload
            # right after another must not find a new worker that would ignore it.
            signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS | {DRAIN})
            if ready is not None:
                ready()
            for child in self.children:
                self.spawn(child)
            self.log(f"daemon started -- version {self.config.get_str('mail_version')}, "
                     f"configuration {self.config.config_directory}")
            self._supervise()
        finally:
            for sock in self.sockets.values():
                sock.close()
            self.pidfile.release()
        self.log("terminating on signal")
        return 0

    def bind_all(self, listeners: tuple[Listener, ...],
                 have: dict[ListenKey, socket.socket]) -> dict[ListenKey, socket.socket]:
        """A socket for each listener: those in *have* reused, the others bound now (all or
        none: on an error the new ones are closed)."""
        found: dict[ListenKey, socket.socket] = {}
        try:
            for listener in listeners:
                key = (listener.host, listener.port)
                if key not in found:
                    found[key] = have[key] if key in have else bind(listener, self.backlog)
        except Fatal:
            for key, sock in found.items():
                if key not in have:
                    sock.close()
            raise
        return found

    def enable_metrics(self) -> None:
        """Metrics on, if metrics_http_address asks and they are not yet: the multiprocess
        directory emptied, the tap on the master's MailLog (and so on anvil's)."""
        if self.tap is None and metrics_address(self.config) is not None:
            self.tap = multiproc.enable(self.metrics_directory)
        self.maillog.tap = self.tap

    def child_maillog(self, config: Config) -> MailLog:
        """A child's own MailLog (each child opens maillog_file itself: the master keeps no
        descriptor per generation), with the metrics tap when metrics are on."""
        maillog = MailLog.from_config(config, self.maillog.stream)
        maillog.tap = self.tap
        return maillog

    def plan(self, generation: Generation) -> list[Child]:
        """The children of one generation (anvil, kept across reloads, is not one of them)."""
        config, store = generation.config, self.store
        bound = [BoundListener(lst, self.sockets[(lst.host, lst.port)])
                 for lst in generation.listeners]

        def smtpd() -> int:
            return worker.run(config, bound, store, self.child_maillog(config))

        with_pickup = not service_disabled(config, "pickup")

        def pickup() -> int:
            return roles.run_pickup_process(config, store, self.child_maillog(config))

        def qmgr() -> int:
            return roles.run_qmgr_process(config, generation.master_cf, store,
                                          self.child_maillog(config), with_pickup=with_pickup)

        def metrics() -> int:
            return endpoint.run_metrics_process(config, store, self.child_maillog(config))

        # pickup runs inside qmgr's process when both run: one Python process less, about
        # 6 MB of memory (a forked Python child's private pages).
        children = []
        if not service_disabled(config, "qmgr"):
            children.append(Child("qmgr", qmgr, also=("pickup",) if with_pickup else ()))
        children += [Child("smtpd", smtpd, listens=True) for _ in range(self.workers)]
        if with_pickup and service_disabled(config, "qmgr"):
            children.append(Child("pickup", pickup))
        if metrics_address(config) is not None:
            children.append(Child("metrics", metrics))
        return children

    def _anvil(self) -> int:
        return anvil.run(self.store.directory, float(self.config.get_time("anvil_rate_time_unit")),
                         self.maillog.logger("anvil"))

    def spawn(self, child: Child) -> None:
        # What the child inherits goes to the permanent generation: the child's collector
        # then never walks (and so never copies) the pages it shares with the master.
        # Measured: the relay's tree after 3000 messages, 85 MB PSS instead of 91 MB.
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # the child: its own signal dispositions, its own event loop
            code = 1
            try:
                if not child.listens:
                    for sock in self.sockets.values():
                        sock.close()
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGQUIT, signal.SIG_DFL)
                # A fallback for children whose event loop does not take REOPEN itself.
                signal.signal(REOPEN, lambda *_: self.maillog.reopen())
                signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
                code = child.main()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        child.pid, child.started = pid, time.monotonic()

    def signal_children(self, sig: int) -> None:
        for c in self.children:
            if c.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(c.pid, sig)

    def _supervise(self) -> None:
        deadline: float | None = None
        while any(c.pid for c in self.children):
            timeout = 3600.0 if deadline is None else max(0.0, deadline - time.monotonic())
            info = signal.sigtimedwait(SIGNALS, timeout)
            if info is None:
                if deadline is not None and time.monotonic() >= deadline:
                    self.signal_children(signal.SIGKILL)
                continue
            signo = info.si_signo
            if signo in (signal.SIGTERM, signal.SIGINT) and not self.stopping:
                self.stopping = True
                self.pending.clear()
                deadline = time.monotonic() + STOP_GRACE
                self.signal_children(signal.SIGTERM)
            elif signo == signal.SIGQUIT:
                self.stopping = True
                self.pending.clear()
                self.signal_children(signal.SIGKILL)
            elif signo == signal.SIGHUP and not self.stopping:
                self.reload()
            elif signo == REOPEN:
                self.maillog.reopen()
                self.signal_children(REOPEN)
            self._reap()

    def reload(self) -> None:
        reload(self)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.tap is not None:
                multiproc.process_dead(self.metrics_directory, pid)
            with contextlib.suppress(OSError):  # its unfinished drafts, its spares
                self.store.remove_temporary(pid)
            child = next((c for c in self.children if c.pid == pid), None)
            if child is None:
                continue
            child.pid = 0
            if child.retiring:
                self.children.remove(child)
                for role in (child.role, *child.also):
                    self.succeed(role)
                continue
            if self.stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            self.log(f"warning: process {child.role} pid {pid} exit status {code}")
            if time.monotonic() - child.started < YOUNG:
                self.log(f"warning: {child.role} died young: pausing before a restart")
                time.sleep(YOUNG)
            self.spawn(child)

    def succeed(self, role: str) -> None:
        """Start the pending child of *role* once no retiring one is left."""
        if role not in self.pending or self.stopping:
            return
        child = self.pending[role]
        # Neither what it replaces nor what it will also do may still be running.
        if any(c.retiring and c.pid and (c.plays(role) or any(c.plays(r) for r in child.also))
               for c in self.children):
            return
        del self.pending[role]
        self.children.append(child)
        self.spawn(child)
