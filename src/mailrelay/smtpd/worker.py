"""An smtpd worker process: one event loop serving every listening socket it inherited.

SECURITY: accepts connections from the network; writes the queue.

Several workers share each listening socket (the master binds them before forking), so the
kernel spreads new connections over the cores.  A worker builds everything per service once:
protocol settings, TLS context, access policy (with its tables), cleanup settings.  On SIGTERM
it stops accepting, tells idle clients 421, lets sessions inside a transaction finish for up to
``grace`` seconds, then exits.  On SIGUSR2 (the master's reload: a new generation of workers
accepts from now on) it stops accepting and lets every session run to its end on the settings
it started with, idle ones included, then exits; a SIGTERM meanwhile turns that into a stop.
SIGUSR1 reopens maillog_file (logrotate).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import ipaddress
import signal
import socket
import ssl
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from enum import Enum

from mailrelay.anvil.client import AnvilClient
from mailrelay.cleanup.settings import RECEIVE_OVERRIDES, CleanupSettings, receive_overrides
from mailrelay.config.mastercf import Listener, service_config
from mailrelay.config.model import Config
from mailrelay.maillog.writer import MailLog
from mailrelay.maps.lookup import Maps
from mailrelay.maps.registry import MapCache, open_map
from mailrelay.policy.anvil import Limits
from mailrelay.policy.networks import HostList, ListKind
from mailrelay.policy.settings import PolicySettings, own_addresses
from mailrelay.queue.store import QueueStore
from mailrelay.smtp.settings import ServerSettings, TlsLevel
from mailrelay.smtpd.committer import Committer
from mailrelay.smtpd.gate import Gate
from mailrelay.smtpd.peer import PeerNames
from mailrelay.smtpd.resolver import DnsPythonResolver
from mailrelay.smtpd.service import ServiceContext, Session, Stopping
from mailrelay.smtpd.spool import ClientFacts, Spool
from mailrelay.smtpd.tls import server_context

#: How long sessions inside a transaction may go on after a stop was asked.
GRACE = 30.0


@dataclass(frozen=True, slots=True)
class BoundListener:
    listener: Listener
    sock: socket.socket


@dataclass(frozen=True, slots=True)
class Runtime:
    """One service, ready to serve."""

    context: ServiceContext
    policy: PolicySettings
    #: The context of smtpd_tls_wrappermode (TLS from the first byte), else None.
    wrapper: ssl.SSLContext | None


class RewriteItem(Enum):
    """The words local_header_rewrite_clients knows (Postfix's smtpd_check_rewrite)."""

    INET_INTERFACES = "permit_inet_interfaces"
    MYNETWORKS = "permit_mynetworks"
    SASL_AUTHENTICATED = "permit_sasl_authenticated"
    TLS_CLIENTCERTS = "permit_tls_clientcerts"
    TLS_ALL_CLIENTCERTS = "permit_tls_all_clientcerts"
    ADDRESS_MAP = "check_address_map"


@dataclass(frozen=True, slots=True)
class LocalRewriteClients:
    """local_header_rewrite_clients: which clients' mail gets its header addresses qualified
    and missing headers added, as local mail does (the "local" rewriting context).

    Decided per message (Postfix: at MAIL FROM), from the client facts the session has then:
    its address and name, its SASL login and its verified client certificate.  A table that
    cannot answer raises MapLookupError: the message is not accepted now."""

    items: tuple[tuple[RewriteItem, Maps | None], ...]
    own: frozenset[str]
    mynetworks: HostList
    sasl_enabled: bool = False
    relay_clientcerts: Maps | None = None

    @classmethod
    def from_config(cls, config: Config, policy: PolicySettings, cache: MapCache,
                    warn: Callable[[str], None]) -> LocalRewriteClients:
        """Unknown words are skipped with Postfix's warning; ``type:table`` alone is a
        check_address_map (``static:all``: every client)."""
        words = config.get_list("local_header_rewrite_clients")
        items: list[tuple[RewriteItem, Maps | None]] = []
        at = 0
        while at < len(words):
            word = words[at]
            at += 1
            if ":" not in word and word.lower() == RewriteItem.ADDRESS_MAP.value:
                if at >= len(words):
                    warn(f"parameter local_header_rewrite_clients: {word} requires a table")
                    break
                word = words[at]
                at += 1
            if ":" in word:
                items.append((RewriteItem.ADDRESS_MAP,
                              cache.maps(word, "local_header_rewrite_clients")))
                continue
            try:
                items.append((RewriteItem(word.lower()), None))
            except ValueError:
                warn(f"parameter local_header_rewrite_clients: invalid request: {word}")
        certs = config.get_str("relay_clientcerts")
        return cls(tuple(items), frozenset(str(a) for a in own_addresses(config)),
                   policy.mynetworks, config.get_bool("smtpd_sasl_auth_enable"),
                   cache.maps(certs, "relay_clientcerts") if certs.strip() else None)

    def local(self, client: ClientFacts) -> bool:
        return any(self._permits(item, table, client) for item, table in self.items)

    def _permits(self, item: RewriteItem, table: Maps | None, client: ClientFacts) -> bool:
        match item:
            case RewriteItem.INET_INTERFACES:
                return _normal(client.address) in self.own
            case RewriteItem.MYNETWORKS:
                return self.mynetworks.match_host(client.name, client.address)
            case RewriteItem.ADDRESS_MAP:
                assert table is not None
                return table.find(client.address) is not None
            case RewriteItem.SASL_AUTHENTICATED:
                return self.sasl_enabled and bool(client.sasl_username)
            case RewriteItem.TLS_ALL_CLIENTCERTS:
                return client.ccert_verified
            case RewriteItem.TLS_CLIENTCERTS:
                return (client.ccert_verified and self.relay_clientcerts is not None
                        and self.relay_clientcerts.find(client.ccert_fingerprint) is not None)
        return False


@functools.lru_cache(maxsize=1024)
def _normal(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def build_runtime(config: Config, bound: BoundListener, store: QueueStore, maillog: MailLog,
                  stopping: Stopping, anvil: AnvilClient,
                  committer: Committer | None = None) -> Runtime:
    cfg = service_config(config, bound.listener.service)
    protocol = ServerSettings.from_config(cfg)
    wrapper = protocol.tls_wrapper
    tls = server_context(cfg, mandatory=protocol.tls_level is TlsLevel.ENCRYPT or wrapper)
    if tls is None and (protocol.tls_level is not TlsLevel.NONE or wrapper):
        maillog.write("smtpd", "warning: TLS is enabled but no smtpd_tls_cert_file is set: "
                               "STARTTLS is not offered")
        protocol = dataclasses.replace(protocol, tls_level=TlsLevel.NONE, tls_wrapper=False)
        wrapper = False
    policy = PolicySettings.from_config(cfg)
    for text in policy.warnings:
        maillog.write("smtpd", f"warning: {text}")
    smtpd_log = maillog.logger("smtpd")
    rewrite = LocalRewriteClients.from_config(cfg, policy, MapCache(),
                                              lambda text: smtpd_log(f"warning: {text}"))
    for option in sorted(receive_overrides(cfg) - RECEIVE_OVERRIDES):
        smtpd_log(f"warning: unknown receive_override_options value \"{option}\" ignored")
    exempt = HostList.parse("smtpd_forbid_bare_newline_exclusions", ListKind.HOST,
                            cfg.get_list("smtpd_forbid_bare_newline_exclusions"), open_map)
    limits = Limits.from_config(cfg)
    limited = any((limits.connection_count, limits.connection_rate, limits.message_rate,
                   limits.recipient_rate))
    context = ServiceContext(
        name=bound.listener.service.name,
        protocol=protocol,
        spool=Spool(store, CleanupSettings.from_config(cfg), log=maillog.logger("cleanup"),
                    local_rewrite=rewrite.local, committer=committer),
        tls=tls,
        timeout=float(cfg.get_time("smtpd_timeout")),
        smtpd_log=maillog.logger("smtpd"),
        cleanup_log=maillog.logger("cleanup"),
        bare_newline_exempt=exempt.match_host,
        stopping=stopping,
        tls_received_header=cfg.get_bool("smtpd_tls_received_header"),
        tls_loglevel=cfg.get_int("smtpd_tls_loglevel"),
        anvil=anvil if limited else None,
        limits=limits if limited else None,
        limits_exempt=policy.event_limit_exceptions.match_host,
    )
    return Runtime(context, policy, tls if wrapper else None)


async def serve(config: Config, bound: Sequence[BoundListener], store: QueueStore,
                maillog: MailLog) -> None:
    stopping = Stopping()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    drain = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR2, drain.set)
    # The master forks workers with SIGUSR2 blocked: one sent before this point waits.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR2})
    loop.add_signal_handler(signal.SIGUSR1, maillog.reopen)
    names = PeerNames()
    resolver = DnsPythonResolver()
    anvil = AnvilClient(store.directory, maillog.logger("smtpd"))
    committer = Committer(store)  # one for all services: bigger batches
    sessions: set[asyncio.Task[None]] = set()
    servers = []
    for b in bound:
        runtime = build_runtime(config, b, store, maillog, stopping, anvil, committer)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         runtime: Runtime = runtime) -> None:
            task = asyncio.current_task()
            assert task is not None
            sessions.add(task)
            try:
                address, port = writer.get_extra_info("peername")[:2]
                peer = await names.lookup(address)
                gate = Gate(runtime.policy, resolver, runtime.context.smtpd_log)
                # (local_context: decided per message by the spool, see LocalRewriteClients)
                await Session(runtime.context, gate, reader, writer, peer, address, str(port),
                              local_context=False).run(peer.warnings)
            except Exception as e:  # one session's failure must not touch the others
                maillog.write("smtpd", f"warning: session ended by an internal error: {e!r}")
                writer.close()
            finally:
                sessions.discard(task)

        servers.append(await asyncio.start_server(
            handle, sock=b.sock, ssl=runtime.wrapper,
            limit=1 << 20))
    try:
        await _first(stopping.wait(), drain.wait())
        for server in servers:
            server.close()
        if not stopping.is_set():
            await _first(_until_idle(sessions), stopping.wait())
        if sessions:
            _, pending = await asyncio.wait(set(sessions), timeout=GRACE)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*pending, return_exceptions=True)
    finally:
        committer.close()  # its spare drafts removed


async def _first(*waits: Coroutine[object, object, object]) -> None:
    """Wait until one of *waits* is done; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _until_idle(sessions: set[asyncio.Task[None]]) -> None:
    while sessions:
        await asyncio.wait(set(sessions))


def run_loop(main: Coroutine[object, object, None]) -> None:
    """uvloop when it is installed: its accept, transports and writes cost less CPU per
    connection than the default loop's, and a relay's clients connect once per message."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def run(config: Config, bound: Sequence[BoundListener], store: QueueStore,
        maillog: MailLog) -> int:
    """A worker process's main (called in the child after fork)."""
    try:
        run_loop(serve(config, bound, store, maillog))
    except Exception as e:
        # To maillog_file too: a started (detached) daemon's stderr is /dev/null.
        maillog.write("smtpd", f"fatal: {e}")
        return 1
    return 0
