"""``reload`` (SIGHUP): a new generation of processes with the new configuration.

SECURITY: binds new listening sockets and closes removed ones; forks workers.

Theory of operation. Nothing changes until the new configuration has been built completely
(:func:`mailrelay.master.generation.load_and_validate`) and every new listener is bound: a
refused reload leaves the running generation as it was, with the error in the log.  Then:

1. listening sockets that the new master.cf still names are kept (their backlog of pending
   connections with them), new ones are bound, removed ones are closed *before* the new
   generation forks, so that no process of it holds a socket nobody serves;
2. the new generation's smtpd workers start, so every kept socket always has a process
   accepting on it;
3. the old smtpd workers are told to drain (stop accepting, finish every session on the old
   settings, exit), the old pickup and qmgr to stop (qmgr finishes its deliveries in flight);
4. the new qmgr starts only once the old one has exited: two qmgrs would both claim what is
   in active/.  The new one retries what the old one left there, as after a stop.  So does
   the new pickup (two would both queue a maildrop file).

anvil is kept across reloads: its counters are per client and outlive a configuration.  So
is the metrics child while metrics_http_address stays the same; when it changes, the old one
stops and the new one starts once it has exited (it may want the same port).  The metrics'
counts live in files, not in the child: they survive the reload either way.
Queued mail is not touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import TYPE_CHECKING

from mailrelay.maillog.writer import MailLog
from mailrelay.master.generation import load_and_validate
from mailrelay.master.roles import DRAIN
from mailrelay.metrics.address import PARAMETER
from mailrelay.util.diagnostic import Fatal

#: Roles of which never two may run: the new one waits for the old one to exit.
SINGLE = ("qmgr", "pickup", "metrics")

if TYPE_CHECKING:
    from mailrelay.master.process import Master


def reload(master: Master) -> bool:
    """Apply the configuration on disk; False (logged) when it is refused."""
    try:
        generation = load_and_validate(master.source, master.store)
        sockets = master.bind_all(generation.listeners, master.sockets)
        maillog = MailLog.from_config(generation.config, stream=master.maillog.stream)
    except Fatal as e:
        master.log(f"warning: reload refused: {e}: the running configuration stays in effect")
        return False
    for key, sock in master.sockets.items():
        if key not in sockets:
            sock.close()
    master.sockets = sockets
    kept = {"anvil"}
    if master.config.get_str(PARAMETER).strip() == generation.config.get_str(PARAMETER).strip():
        kept.add("metrics")
    master.maillog.close()
    master.maillog, master.log = maillog, maillog.logger("master")
    master.generation, master.config = generation, generation.config
    master.enable_metrics()
    old = [c for c in master.children if c.role not in kept and not c.retiring]
    new = [c for c in master.plan(generation) if c.role not in kept]
    for child in old:
        child.retiring = True
    for child in new:
        if child.role in SINGLE:
            master.pending[child.role] = child
        else:
            master.children.append(child)
            master.spawn(child)
    for child in old:
        if not child.pid:  # never 0: kill(0) would signal the whole process group
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, DRAIN if child.role == "smtpd" else signal.SIGTERM)
    for role in SINGLE:
        if not any(c.role == role for c in new):
            master.pending.pop(role, None)  # disabled now: what an older reload left waits no more
        master.succeed(role)
    master.log(f"reload -- version {generation.config.get_str('mail_version')}, "
               f"configuration {generation.config.config_directory}")
    return True
