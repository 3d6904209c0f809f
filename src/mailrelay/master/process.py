"""The master process: binds the smtpd sockets, runs and supervises the worker processes.

SECURITY: binds the listening sockets (the only process that does), forks workers, creates
the queue directories.

Theory of operation. The master does no mail work: it prepares (configuration, queue
directories, crash recovery, sockets, pid file), forks one smtpd worker per core, one pickup
process and one qmgr process (which runs the delivery agents), then waits for signals with
every signal blocked (sigwaitinfo), so that no handler ever runs in the middle of its
bookkeeping. A worker that dies is replaced (after a pause if it dies young, so a broken
configuration cannot make it spin); its clients see their connection closed. SIGTERM/SIGINT:
the workers are asked to stop (they drain), and the master waits for them, kills what is left
after a grace time, removes its pid file and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mailrelay.anvil import service as anvil
from mailrelay.config.locate import ConfigSource, load_main
from mailrelay.config.mastercf import Listener, MasterCf, load_master_cf, smtpd_listeners
from mailrelay.config.model import Config
from mailrelay.maillog.writer import MailLog
from mailrelay.master.pidfile import PidFile, pid_path
from mailrelay.pickup.service import PickupSettings, run_pickup
from mailrelay.qmgr.service import QmgrService
from mailrelay.queue.store import QueueStore
from mailrelay.smtpd import worker
from mailrelay.smtpd.worker import BoundListener
from mailrelay.util.diagnostic import Fatal

SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
#: A worker that exits sooner than this after its start is restarted only after a pause.
YOUNG = 2.0
STOP_GRACE = worker.GRACE + 5.0


def state_path(config: Config, name: str) -> Path:
    """A directory parameter, relative ones taken from the current directory (embedded)."""
    return Path(os.path.abspath(config.get_str(name)))


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


class Master:
    def __init__(self, source: ConfigSource, workers: int | None = None) -> None:
        self.config = load_main(source)
        self.master_cf = load_master_cf(source.master_cf, self.config)
        self.listeners = smtpd_listeners(self.master_cf, self.config)
        self.maillog = MailLog.from_config(self.config, stream=sys.stderr)
        self.store = QueueStore(state_path(self.config, "queue_directory"),
                                long_ids=self.config.get_bool("enable_long_queue_ids"))
        self.pidfile = PidFile(pid_path(self.store.directory))
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.children: list[Child] = []
        self.stopping = False
        self.log = self.maillog.logger("master")

    def run(self) -> int:
        os.umask(0o077)
        self.store.create_directories()
        state_path(self.config, "data_directory").mkdir(parents=True, exist_ok=True)
        self.pidfile.acquire()
        try:
            report = self.store.recover()
            if report.temporary_files or report.orphan_logs:
                self.log(f"queue recovery: removed {report.temporary_files} unfinished "
                         f"file(s) and {report.orphan_logs} orphan log(s)")
            backlog = max(self.config.get_int("smtpd_client_connection_count_limit"), 100) * 10
            bound = [BoundListener(lst, bind(lst, backlog)) for lst in self.listeners]
            self._plan(bound)
            signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
            for child in self.children:
                self._spawn(child)
            self.log(f"daemon started -- version {self.config.get_str('mail_version')}, "
                     f"configuration {self.config.config_directory}")
            self._supervise()
        finally:
            self.pidfile.release()
        self.log("terminating on signal")
        return 0

    def _plan(self, bound: list[BoundListener]) -> None:
        def smtpd() -> int:
            return worker.run(self.config, bound, self.store, self.maillog)

        def pickup() -> int:
            for b in bound:
                b.sock.close()
            return run_pickup_process(self.config, self.store, self.maillog)

        def anvil_() -> int:
            for b in bound:
                b.sock.close()
            return anvil.run(self.store.directory,
                             float(self.config.get_time("anvil_rate_time_unit")),
                             self.maillog.logger("anvil"))

        def qmgr() -> int:
            for b in bound:
                b.sock.close()
            return run_qmgr_process(self.config, self.master_cf, self.store, self.maillog)

        # anvil first, so the workers find its socket when their first client comes.
        self.children = [Child("anvil", anvil_)]
        if not service_disabled(self.config, "qmgr"):
            self.children.append(Child("qmgr", qmgr))
        self.children += [Child("smtpd", smtpd) for _ in range(self.workers)]
        if not service_disabled(self.config, "pickup"):
            self.children.append(Child("pickup", pickup))

    def _spawn(self, child: Child) -> None:
        pid = os.fork()
        if pid == 0:  # the child: its own signal dispositions, its own event loop
            code = 1
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                code = child.main()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        child.pid, child.started = pid, time.monotonic()

    def _supervise(self) -> None:
        deadline: float | None = None
        while any(c.pid for c in self.children):
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            info = signal.sigtimedwait(SIGNALS, timeout if timeout is not None else 3600.0)
            if info is None:
                if deadline is not None and time.monotonic() >= deadline:
                    for c in self.children:
                        if c.pid:
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(c.pid, signal.SIGKILL)
                continue
            if info.si_signo in (signal.SIGTERM, signal.SIGINT) and not self.stopping:
                self.stopping = True
                deadline = time.monotonic() + STOP_GRACE
                for c in self.children:
                    if c.pid:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(c.pid, signal.SIGTERM)
            elif info.si_signo == signal.SIGHUP:
                self.log("warning: reload is not supported yet: restart to apply changes")
            self._reap()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for child in self.children:
                if child.pid != pid:
                    continue
                child.pid = 0
                if self.stopping:
                    break
                code = os.waitstatus_to_exitcode(status)
                self.log(f"warning: process {child.role} pid {pid} exit status {code}")
                if time.monotonic() - child.started < YOUNG:
                    self.log(f"warning: {child.role} died young: pausing before a restart")
                    time.sleep(YOUNG)
                self._spawn(child)


def service_disabled(config: Config, name: str) -> bool:
    """Postfix's master_service_disable for the internal services (qmgr, pickup): a type
    (``unix``, ``fifo``: both are internal here) or ``name/type``; how a benchmark or an
    operator pauses the delivery side while smtpd keeps accepting."""
    for item in config.get_list("master_service_disable"):
        service, slash, kind = item.lower().rpartition("/")
        if not slash:
            service, kind = "", item.lower()
        if kind in ("unix", "fifo") and service in ("", name):
            return True
    return False


def run_qmgr_process(config: Config, master_cf: MasterCf, store: QueueStore,
                     maillog: MailLog) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await QmgrService(config, master_cf, store, maillog).run(stop)

    try:
        worker.run_loop(main())
    except Exception as e:
        print(f"mailrelay/qmgr: fatal: {e}", file=sys.stderr)
        return 1
    return 0


def run_pickup_process(config: Config, store: QueueStore, maillog: MailLog) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await run_pickup(store, PickupSettings.from_config(config), maillog.logger("pickup"),
                         stop, interval=float(config.get_time("queue_run_delay")) or 60.0)

    asyncio.run(main())
    return 0
