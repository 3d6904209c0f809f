"""The smtp delivery agent's own parameters (the protocol's are ``ClientSettings``).

Read once per transport from its configuration (main.cf plus the master.cf ``-o`` settings
of the ``smtp`` or ``relay`` service), as Postfix's smtp(8) reads its ``smtp_*`` parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailrelay.config.model import Config
from mailrelay.route.nexthop import SERVICES
from mailrelay.smtp.client_settings import ClientSettings


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """The smtp_* parameters of the agent itself (the protocol's are in ClientSettings)."""

    client: ClientSettings
    default_port: int = 25
    bind_address: str = ""
    bind_address6: str = ""
    mx_address_limit: int = 5
    mx_session_limit: int = 2
    cache_on_demand: bool = True
    cache_destinations: frozenset[str] = frozenset()
    cache_time_limit: int = 2
    reuse_time_limit: int = 300
    reuse_count_limit: int = 0
    tls_connection_reuse: bool = False
    soft_bounce: bool = False
    relayhost: str = ""

    @classmethod
    def from_config(cls, config: Config) -> AgentSettings:
        port = config.get_str("smtp_tcp_port").strip()
        return cls(
            client=ClientSettings.from_config(config),
            default_port=int(port) if port.isdigit() else SERVICES.get(port.lower(), 25),
            bind_address=config.get_str("smtp_bind_address").strip().strip("[]"),
            bind_address6=config.get_str("smtp_bind_address6").strip().strip("[]"),
            mx_address_limit=config.get_int("smtp_mx_address_limit"),
            mx_session_limit=config.get_int("smtp_mx_session_limit"),
            cache_on_demand=config.get_bool("smtp_connection_cache_on_demand"),
            cache_destinations=frozenset(
                d.lower().strip("[]")
                for d in config.get_list("smtp_connection_cache_destinations")),
            cache_time_limit=config.get_time("smtp_connection_cache_time_limit"),
            reuse_time_limit=config.get_time("smtp_connection_reuse_time_limit"),
            reuse_count_limit=config.get_int("smtp_connection_reuse_count_limit"),
            tls_connection_reuse=config.get_bool("smtp_tls_connection_reuse"),
            soft_bounce=config.get_bool("soft_bounce"),
            relayhost=config.get_str("relayhost").strip(),
        )
