"""Configurations for the routing tests, classified by relay control's own resolver."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.policy.resolve import resolve
from mailrelay.policy.settings import TableCache, build_site
from mailrelay.route import Classify, Routes

#: The oracle's main.cf (tools/postfix-oracle init), as far as routing cares.
BASE_MAIN_CF = """\
compatibility_level = 3.6
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.corp.local
mydomain = corp.local
myorigin = $mydomain
mydestination = $myhostname, localhost.$mydomain, localhost
alias_maps =
alias_database =
"""


def config(settings: Mapping[str, str]) -> Config:
    text = BASE_MAIN_CF + "".join(f"{k} = {v}\n" for k, v in settings.items())
    return Config(parse_main_cf(text, "main.cf"), "/etc/postfix")


def classifier(cfg: Config) -> Classify:
    parents = {p.lower() for p in cfg.get_list("parent_domain_matches_subdomains")}
    site = build_site(cfg, TableCache(), parents)

    def classify(address: str) -> tuple[str, str]:
        resolved = resolve(site, address)
        return resolved.recipient, resolved.address_class.value

    return classify


def table(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return f"texthash:{path}"


def routes(settings: Mapping[str, str]) -> Routes:
    cfg = config(settings)
    return Routes.from_config(cfg, classifier(cfg))
