"""The delivery agents qmgr can hand mail to, by master.cf service name.

SECURITY: creates the delivery agents, which talk to the network (smtp) or write mailboxes
(local); qmgr itself only calls them.

Postfix's qmgr connects to ``private/<transport>``, a master.cf service whose command is the
agent (``smtp``, ``local``, ``error``, ``discard``).  mailrelay runs the agents inside the
qmgr process (asyncio), so a transport is looked up the same way: the master.cf service of
that name and type ``unix`` gives the command and its ``-o`` settings.  The services of
Postfix's default master.cf (``smtp``, ``relay``, ``local``, ``error``, ``retry``,
``discard``) exist even when master.cf does not list them -- a relay's master.cf often holds
only its smtpd lines, and Postfix's would then fail every delivery; any other name is "mail
transport unavailable", as in Postfix.  Agents are created on first use and kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from mailrelay.config.mastercf import MasterCf, Service, service_config
from mailrelay.config.model import Config
from mailrelay.delivery.dns import MxResolver
from mailrelay.delivery.error import DiscardAgent, ErrorAgent
from mailrelay.delivery.local import LocalAgent
from mailrelay.delivery.smtp import SmtpAgent
from mailrelay.delivery.tls import TlsClient
from mailrelay.maillog.writer import MailLog
from mailrelay.maps.registry import MapCache
from mailrelay.qmgr.request import DeliveryRequest, RecipientResult
from mailrelay.sasl.settings import SaslClientSettings

#: Postfix's default master.cf: service name -> command.
DEFAULT_SERVICES = {"smtp": "smtp", "relay": "smtp", "local": "local", "error": "error",
                    "retry": "error", "discard": "discard"}
AGENT_COMMANDS = frozenset({"smtp", "local", "error", "discard"})


def agent_services(master: MasterCf) -> dict[str, Service]:
    """master.cf's services qmgr can hand mail to, by name (a later line wins)."""
    return {s.name: s for s in master.services
            if s.type == "unix" and s.command in AGENT_COMMANDS}


class Agent(Protocol):
    async def deliver(self, request: DeliveryRequest, content: bytes) -> list[RecipientResult]:
        ...

    async def close(self) -> None:
        ...


#: qmgr's way to queue a new message for the local agent (alias forwarding).
ForwardFunction = Callable[..., Awaitable[str]]


@dataclass(slots=True)
class Transport:
    name: str
    command: str
    config: Config
    #: The log's daemon name (``smtp`` for the relay service, as Postfix's smtp(8) logs).
    daemon: str
    agent: Agent | None = None


class Transports:
    def __init__(self, config: Config, master: MasterCf, maillog: MailLog,
                 forward: ForwardFunction) -> None:
        self._config = config
        self._maillog = maillog
        self._forward = forward
        self._known: dict[str, Transport] = {}
        for name, service in agent_services(master).items():
            self._known[name] = Transport(name, service.command,
                                          service_config(config, service), service.command)
        for name, command in DEFAULT_SERVICES.items():
            self._known.setdefault(name, Transport(name, command, config, command))

    def install(self, name: str, agent: Agent, command: str = "smtp") -> None:
        """Use *agent* for transport *name* (a stand-in agent in scenario tests)."""
        transport = self._known.get(name)
        if transport is None:
            transport = self._known[name] = Transport(name, command, self._config, command)
        transport.agent = agent

    def get(self, name: str) -> Transport | None:
        """The transport, its agent created on first use; None: no such service."""
        transport = self._known.get(name)
        if transport is None:
            return None
        if transport.agent is None:
            transport.agent = self._create(transport)
        return transport

    def _create(self, transport: Transport) -> Agent | None:
        """The agent, or None (logged) when it cannot be built now -- an unreadable
        password table, a bad TLS setting: its mail is deferred, and the next delivery to
        the transport tries again."""
        log = self._maillog.logger(transport.daemon)
        config = transport.config
        try:
            if transport.command == "smtp":
                return SmtpAgent.from_config(
                    config, log, resolver=MxResolver.from_config(config),
                    tls=TlsClient.from_config(config),
                    sasl=SaslClientSettings.from_config(config, MapCache()))
            if transport.command == "local":
                return LocalAgent.from_config(config, log, self._forward)
            if transport.command == "discard":
                return DiscardAgent.from_config(config, log)
            return ErrorAgent.from_config(config, log)
        except Exception as exc:
            log(f"warning: {transport.name}: cannot start the delivery agent: {exc}")
            return None

    async def close(self) -> None:
        for transport in self._known.values():
            if transport.agent is not None:
                await transport.agent.close()
                transport.agent = None
