"""The mains of the master's internal children (qmgr, pickup) and what the master asks of
the configuration about them.

SECURITY: runs in forked children: qmgr delivers mail, pickup reads the maildrop queue.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from mailrelay.config.mastercf import MasterCf
from mailrelay.config.model import Config
from mailrelay.maillog.writer import MailLog
from mailrelay.pickup.service import PickupSettings, run_pickup
from mailrelay.qmgr.service import QmgrService
from mailrelay.queue.store import QueueStore
from mailrelay.smtpd import worker

#: What an smtpd worker of an old generation is sent on reload: stop accepting, let every
#: session finish (no 421), then exit.
DRAIN = signal.SIGUSR2
#: What every child is sent on logrotate: reopen maillog_file.
REOPEN = signal.SIGUSR1


def state_path(config: Config, name: str) -> Path:
    """A directory parameter, relative ones taken from the current directory (embedded)."""
    return Path(os.path.abspath(config.get_str(name)))


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


def stop_event(maillog: MailLog) -> asyncio.Event:
    """Set on SIGTERM; SIGUSR1 (logrotate) reopens maillog_file meanwhile."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(REOPEN, maillog.reopen)
    return stop


def run_qmgr_process(config: Config, master_cf: MasterCf, store: QueueStore,
                     maillog: MailLog, *, with_pickup: bool = False) -> int:
    """qmgr, and pickup beside it in the same event loop when *with_pickup*."""
    async def main() -> None:
        stop = stop_event(maillog)
        work = [QmgrService(config, master_cf, store, maillog).run(stop)]
        if with_pickup:
            work.append(_pickup(config, store, maillog, stop))
        await asyncio.gather(*work)

    try:
        worker.run_loop(main())
    except Exception as e:
        # To maillog_file too: a started (detached) daemon's stderr is /dev/null.
        maillog.write("qmgr", f"fatal: {e}")
        return 1
    return 0


def run_pickup_process(config: Config, store: QueueStore, maillog: MailLog) -> int:
    """pickup alone (qmgr disabled)."""
    async def main() -> None:
        await _pickup(config, store, maillog, stop_event(maillog))

    asyncio.run(main())
    return 0


async def _pickup(config: Config, store: QueueStore, maillog: MailLog,
                  stop: asyncio.Event) -> None:
    # cleanup's and bounce's lines under their own names, as Postfix's daemons log them.
    settings = PickupSettings.from_config(config, maillog.logger("bounce"))
    await run_pickup(store, settings, maillog.logger("pickup"), stop,
                     interval=float(config.get_time("queue_run_delay")) or 60.0,
                     programs=maillog.logger)
