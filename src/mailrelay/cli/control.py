"""``mailrelay start|stop|abort|reload|status|logrotate``: Postfix's ``postfix`` daemon control.

SECURITY: signals the master named by ``$queue_directory/pid/master.pid`` (only when that
file is locked, i.e. a live master holds it); ``start`` forks the detached master;
``logrotate`` renames maillog_file and runs maillog_file_compressor.

Messages are postfix-script's, word for word (``postfix/postfix-script: the Postfix mail
system is running: PID: 1234``), on stderr and in maillog_file, so that scripts which grep
for them keep working.  The signals differ from Postfix's where our master does more:

- ``stop``: SIGTERM; the master stops accepting and lets transactions finish; ``stop`` waits
  until it has exited (at most the master's grace plus a margin, then SIGKILL of its group);
- ``abort``: SIGQUIT; the master kills every process at once (Postfix sends SIGTERM, which
  is immediate in Postfix's master);
- ``reload``: the new configuration is checked here first (an error is printed, exit 1, and
  nothing is signalled), then SIGHUP; the master checks it again (and binds new listeners)
  and logs its verdict, which ``reload`` waits for in maillog_file: a refusal is printed,
  exit 1;
- ``logrotate``: rename, then SIGUSR1 (reopen maillog_file in every process; Postfix sends
  SIGHUP, a full reload, for the same effect), wait a second, compress.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from mailrelay.cli.context import Context
from mailrelay.config.model import Config
from mailrelay.maillog.writer import MailLog
from mailrelay.master.daemon import Ready, detach
from mailrelay.master.generation import load_and_validate, load_generation
from mailrelay.master.pidfile import pid_path, running_pid
from mailrelay.master.process import STOP_GRACE, Master, state_path
from mailrelay.queue.store import QueueStore
from mailrelay.util.diagnostic import Fatal

RUNNING = "the Postfix mail system is running: PID: {pid}"
NOT_RUNNING = "the Postfix mail system is not running"
ALREADY_RUNNING = "the Postfix mail system is already running"
#: How long ``stop`` waits beyond the master's own grace before it kills the process group.
STOP_MARGIN = 10.0
ABORT_WAIT = 10.0
#: How long ``reload`` waits for the master's verdict in maillog_file.
RELOAD_WAIT = 10.0


class Script:
    """postfix-script's voice: ``SYSLOG_NAME/postfix-script: TEXT`` on stderr and the log."""

    def __init__(self, config: Config, ctx: Context) -> None:
        self.name = f"{config.get_str('syslog_name')}/postfix-script"
        self.ctx = ctx
        try:
            self.maillog: MailLog | None = MailLog.from_config(config)
        except (Fatal, OSError):
            self.maillog = None

    def say(self, text: str) -> None:
        print(f"{self.name}: {text}", file=self.ctx.stderr)
        if self.maillog is not None:
            self.maillog.write("postfix-script", text)

    def fatal(self, text: str) -> int:
        self.say(f"fatal: {text}")
        return 1


def _pid_file(config: Config) -> Path:
    return pid_path(state_path(config, "queue_directory"))


def _wait_gone(path: Path, timeout: float) -> bool:
    """True once no master holds *path*'s lock (it releases it as it exits)."""
    deadline = time.monotonic() + timeout
    while running_pid(path) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _workers(args: list[str]) -> int | None:
    if len(args) == 2 and args[0] in ("--workers", "-w") and args[1].isdigit() \
            and int(args[1]) > 0:
        return int(args[1])
    if args:
        raise ValueError(args[0])
    return None


def start(ctx: Context, config: Config, script: Script, args: list[str]) -> int:
    try:
        workers = _workers(args)
    except ValueError:
        print("usage: mailrelay start [--workers N]", file=ctx.stderr)
        return 2
    if running_pid(_pid_file(config)) is not None:
        return script.fatal(ALREADY_RUNNING)
    source = ctx.source()
    load_and_validate(source, QueueStore(state_path(config, "queue_directory")))
    script.say("starting the Postfix mail system")

    def main(ready: Ready) -> int:
        return Master(source, workers, stream=None).run(ready)

    error = detach(main)
    if error is not None:
        return script.fatal(f"mail system startup failed: {error}")
    return 0


def stop(ctx: Context, config: Config, script: Script, args: list[str]) -> int:
    path = _pid_file(config)
    pid = running_pid(path)
    if pid is None:
        return script.fatal(NOT_RUNNING)
    script.say("stopping the Postfix mail system")
    os.kill(pid, signal.SIGTERM)
    if _wait_gone(path, STOP_GRACE + STOP_MARGIN):
        return 0
    script.say("warning: stopping the Postfix mail system with force")
    try:
        group = os.getpgid(pid)
        # The master's children share its process group, ours only if we started it.
        if group != os.getpgrp():
            os.killpg(group, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return 0


def abort(ctx: Context, config: Config, script: Script, args: list[str]) -> int:
    path = _pid_file(config)
    pid = running_pid(path)
    if pid is None:
        return script.fatal(NOT_RUNNING)
    script.say("aborting the Postfix mail system")
    os.kill(pid, signal.SIGQUIT)
    _wait_gone(path, ABORT_WAIT)
    return 0


def status(ctx: Context, config: Config, script: Script, args: list[str]) -> int:
    pid = running_pid(_pid_file(config))
    if pid is None:
        script.say(NOT_RUNNING)
        return 1
    script.say(RUNNING.format(pid=pid))
    return 0


def reload(ctx: Context, config: Config, script: Script, args: list[str]) -> int:
    pid = running_pid(_pid_file(config))
    if pid is None:
        return script.fatal(NOT_RUNNING)
    load_and_validate(ctx.source(), QueueStore(state_path(config, "queue_directory")))
    script.say("refreshing the Postfix mail system")
    logfile = config.get_str("maillog_file").strip()
    offset = _size(logfile)
    os.kill(pid, signal.SIGHUP)
    refused = _master_verdict(logfile, offset, pid) if logfile else None
    return ctx.fatal(refused) if refused else 0


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size if path else 0
    except OSError:
        return 0


def _master_verdict(logfile: str, offset: int, pid: int) -> str | None:
    """What the master logged about the reload: None (done, or nothing seen in time), else
    why it refused (a new port that cannot be bound: what this command cannot check)."""
    done = f"/master[{pid}]: reload -- "
    refused = f"/master[{pid}]: warning: reload refused: "
    deadline = time.monotonic() + RELOAD_WAIT
    while time.monotonic() < deadline:
        try:
            with open(logfile, "rb") as f:
                f.seek(offset)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return None
        for line in text.splitlines():
            if done in line:
                return None
            if refused in line:
                return line.split(refused, 1)[1]
        time.sleep(0.05)
    return None


def logrotate(ctx: Context, config: Config, script: Script, args: list[str]) -> int:
    if args:
        return script.fatal("usage postfix logrotate (no arguments)")
    values = {}
    for name in ("maillog_file", "maillog_file_compressor", "maillog_file_rotate_suffix"):
        values[name] = config.get_str(name).strip()
        if not values[name]:
            return script.fatal(f"empty '{name}' parameter value - logfile rotation failed")
    logfile = values["maillog_file"]
    if logfile.startswith("/dev/"):
        return script.fatal(f"not rotating '{logfile}'")
    rotated = f"{logfile}.{time.strftime(values['maillog_file_rotate_suffix'])}"
    try:
        os.rename(logfile, rotated)
        pid = running_pid(_pid_file(config))
        if pid is not None:
            os.kill(pid, signal.SIGUSR1)
            time.sleep(1)  # as postfix-script: let every process reopen before compressing
        done = subprocess.run([values["maillog_file_compressor"], rotated], check=False,
                              capture_output=True, text=True)
    except OSError as e:
        return script.fatal(f"logfile '{logfile}' rotation failed: {e.strerror}")
    if done.returncode != 0:
        return script.fatal(f"logfile '{logfile}' rotation failed: {done.stderr.strip()}")
    return 0


Action = Callable[[Context, Config, Script, list[str]], int]
ACTIONS: dict[str, Action] = {
    "start": start, "stop": stop, "abort": abort, "reload": reload, "status": status,
    "logrotate": logrotate,
}


def run(args: list[str], ctx: Context) -> int:
    action = ACTIONS[ctx.command]
    if ctx.command not in ("start", "logrotate") and args:
        print(f"usage: mailrelay {ctx.command}", file=ctx.stderr)
        return 2
    config = load_generation(ctx.source()).config
    return action(ctx, config, Script(config, ctx), args)
