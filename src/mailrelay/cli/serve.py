"""``mailrelay serve``: Postfix's ``postfix start-fg``: run the mail system in the foreground.

Logs go to stderr and to maillog_file.  SIGTERM (or Ctrl-C) stops it: listening stops at once,
idle clients are told ``421``, transactions in progress may finish.  SIGHUP reloads the
configuration (``mailrelay reload``), SIGUSR1 reopens maillog_file, SIGQUIT aborts: see
:mod:`mailrelay.master.process`.  This is the command of ``contrib/mailrelay.service``.
"""

from __future__ import annotations

from mailrelay.cli.context import Context
from mailrelay.master.pidfile import AlreadyRunning
from mailrelay.master.process import Master

USAGE = "usage: mailrelay serve [-c config_dir] [--workers N]"


def run(args: list[str], ctx: Context) -> int:
    workers: int | None = None
    while args:
        opt = args.pop(0)
        if opt == "-c" and args:
            ctx.config_option = args.pop(0)
        elif opt in ("--workers", "-w") and args and args[0].isdigit() and int(args[0]) > 0:
            workers = int(args.pop(0))
        else:
            print(USAGE, file=ctx.stderr)
            return 2
    try:
        master = Master(ctx.source(), workers)
    except OSError as e:
        return ctx.fatal(f"{e.filename or ''}: {e.strerror}".lstrip(": "))
    try:
        return master.run()
    except AlreadyRunning as e:
        return ctx.fatal(str(e))
