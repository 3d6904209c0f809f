"""Shared helpers for the policy tests: settings from main.cf text, requests, fake DNS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TypeVar

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.policy import (
    DnsQuery,
    DnsResult,
    DnsStatus,
    NeedsDns,
    PeerStatus,
    PolicySettings,
    Request,
)
from mailrelay.policy.dns import RRType

T = TypeVar("T")

#: The oracle's main.cf (tools/postfix-oracle init) as far as the restrictions care.
ORACLE_MAIN_CF = """\
compatibility_level = 3.6
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.corp.local
mydomain = corp.local
myorigin = $mydomain
mynetworks = 127.0.0.0/8
mydestination = $myhostname, localhost.$mydomain, localhost
alias_maps =
alias_database =
relayhost = [127.0.0.1]:2646
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
"""
UNTRUSTED = {"mynetworks": "192.0.2.0/24"}


def config(extra: Mapping[str, str] | str = "", base: str = ORACLE_MAIN_CF,
           config_directory: str = "/etc/postfix") -> Config:
    if isinstance(extra, str):
        text = base + extra
    else:
        text = base + "".join(f"{k} = {v}\n" for k, v in extra.items())
    return Config(parse_main_cf(text, "main.cf"), config_directory)


def settings(extra: Mapping[str, str] | str = "", **kwargs: str) -> PolicySettings:
    return PolicySettings.from_config(config(extra, **kwargs))


def untrusted(extra: Mapping[str, str] | None = None) -> PolicySettings:
    return settings({**UNTRUSTED, **(extra or {})})


LOCALHOST = Request(
    "127.0.0.1", "localhost", "localhost", PeerStatus.OK, PeerStatus.OK,
    helo="client.example", protocol="ESMTP", sender="sender@example.com",
)


def request(**changes: object) -> Request:
    return replace(LOCALHOST, **changes)  # type: ignore[arg-type]


def rcpt(recipient: str, **changes: object) -> Request:
    return request(recipient=recipient, **changes)


class FakeDns:
    """Answers from a dict; anything else is NXDOMAIN.  Records what was asked, in rounds."""

    def __init__(self, answers: Mapping[DnsQuery, DnsResult] | None = None) -> None:
        self.answers = dict(answers or {})
        self.rounds: list[set[DnsQuery]] = []

    def add(self, name: str, rrtype: RRType, *records: str,
            status: DnsStatus = DnsStatus.OK) -> FakeDns:
        self.answers[DnsQuery(name, rrtype)] = DnsResult(status, tuple(records))
        return self

    def lookup(self, query: DnsQuery) -> DnsResult:
        return self.answers.get(query, DnsResult(DnsStatus.NXDOMAIN))

    async def resolve(self, query: DnsQuery) -> DnsResult:
        return self.lookup(query)

    def settle(self, step: Callable[[Mapping[DnsQuery, DnsResult]], T | NeedsDns]) -> T:
        """Run a pure step to the end, answering its DNS questions synchronously."""
        known: dict[DnsQuery, DnsResult] = {}
        for _ in range(20):
            result = step(known)
            if not isinstance(result, NeedsDns):
                return result
            self.rounds.append(set(result.queries))
            for query in result.queries:
                known[query] = self.lookup(query)
        raise AssertionError("step never settled")
