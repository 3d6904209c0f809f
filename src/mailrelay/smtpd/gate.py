"""Asking the access policy, with DNS answered on the way (the policy itself is pure).

SECURITY: performs DNS lookups that the restrictions ask for.
"""

from __future__ import annotations

from collections.abc import Callable

from mailrelay.maillog.writer import Logger
from mailrelay.policy.dns import DnsQuery, DnsResult, Resolver
from mailrelay.policy.request import Request
from mailrelay.policy.settings import PolicySettings
from mailrelay.policy.stages import StageResult
from mailrelay.policy.verdict import Verdict
from mailrelay.smtpd.resolver import settle

Stage = Callable[..., StageResult]


class Gate:
    """One session's questions to the policy; DNS answers are kept for the session."""

    def __init__(self, settings: PolicySettings, resolver: Resolver, log: Logger) -> None:
        self.settings = settings
        self.resolver = resolver
        self.log = log
        self.answers: dict[DnsQuery, DnsResult] = {}

    async def ask(self, stage: Stage, request: Request) -> Verdict:
        verdict, self.answers = await settle(
            lambda answers: stage(self.settings, request, answers), self.resolver, self.answers)
        for line in verdict.log:
            self.log(str(line))
        return verdict
