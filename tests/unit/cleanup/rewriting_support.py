"""Configurations for the rewriting tests: main.cf text on top of the oracle's base."""

from __future__ import annotations

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config

BASE = """\
myhostname = relay.corp.local
mydomain = corp.local
myorigin = $mydomain
mydestination = $myhostname, localhost.$mydomain, localhost
inet_interfaces = 127.0.0.1
"""


def config(extra: str = "") -> Config:
    return Config(parse_main_cf(BASE + extra, "main.cf"), "/etc/mailrelay")
