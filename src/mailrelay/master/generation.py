"""One generation of the configuration: main.cf, master.cf and everything built from them.

SECURITY: reads main.cf, master.cf, the lookup tables and the TLS keys they name; opens
maillog_file; binds nothing.

Theory of operation. ``reload`` must never leave the relay half configured: a new
configuration is loaded and *everything a process of the new generation would build* is built
once here (each smtpd service's protocol, TLS, policy and maps; pickup's and qmgr's settings,
transports and routes) before the master touches a socket or a process.  Any error is a
:class:`Fatal` naming the file and line; the caller keeps the running generation.  The same
check runs in ``mailrelay reload`` before it signals the master, so the administrator sees the
error on the terminal, as ``postfix reload`` prints a bad main.cf value.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from mailrelay.anvil.client import AnvilClient
from mailrelay.config.locate import ConfigSource, load_main
from mailrelay.config.mastercf import Listener, MasterCf, load_master_cf, smtpd_listeners
from mailrelay.config.model import Config
from mailrelay.maillog.writer import MailLog
from mailrelay.metrics.address import metrics_address
from mailrelay.pickup.service import PickupSettings
from mailrelay.qmgr.service import QmgrService
from mailrelay.queue.store import QueueStore
from mailrelay.smtpd import worker
from mailrelay.smtpd.service import Stopping
from mailrelay.smtpd.worker import BoundListener
from mailrelay.util.diagnostic import Fatal


@dataclass(frozen=True, slots=True)
class Generation:
    config: Config
    master_cf: MasterCf
    listeners: tuple[Listener, ...]


def load_generation(source: ConfigSource) -> Generation:
    """main.cf and master.cf of *source*, parsed and their listeners checked; nothing built."""
    try:
        config = load_main(source)
        master_cf = load_master_cf(source.master_cf, config)
        listeners = tuple(smtpd_listeners(master_cf, config))
        metrics_address(config)  # a bad value stops start and refuses reload, named
    except OSError as e:
        raise Fatal(f"{e.filename or ''}: {e.strerror}".lstrip(": ")) from None
    return Generation(config, master_cf, listeners)


def validate(generation: Generation, store: QueueStore) -> None:
    """Build what every process of *generation* builds, with its output thrown away; raises
    :class:`Fatal` (or the error the builders raise, as a Fatal) when something is wrong."""
    config = generation.config
    quiet = MailLog(config.get_str("syslog_name"), "localhost", None)
    MailLog.from_config(config).close()  # maillog_file_prefixes, and that the file opens
    anvil = AnvilClient(store.directory, quiet.logger("smtpd"))  # connects only when asked
    try:
        for listener in generation.listeners:
            with socket.socket() as placeholder:  # build_runtime reads only the listener
                worker.build_runtime(config, BoundListener(listener, placeholder), store,
                                     quiet, Stopping(), anvil)
        PickupSettings.from_config(config)
        QmgrService(config, generation.master_cf, store, quiet)
    except Fatal:
        raise
    except (OSError, ValueError, LookupError) as e:
        raise Fatal(f"configuration {config.config_directory}: {e}") from None


def load_and_validate(source: ConfigSource, store: QueueStore) -> Generation:
    generation = load_generation(source)
    validate(generation, store)
    return generation
