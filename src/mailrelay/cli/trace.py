"""``mailrelay trace SENDER RECIPIENT``: every decision a message would meet, nothing sent.

The command walks the daemon's own pure functions in the daemon's order -- smtpd's
restriction stages, cleanup's rewriting, qmgr's routing, the transport's master.cf ``-o``
settings, then the smtp client's smtp_generic_maps, TLS policy and SASL credentials, or the
local agent's alias_maps -- so that the trace and the log cannot disagree, and prints one line per
decision with the parameter and the file:line that made it.  Exit status: 0 when the mail
would be accepted and routed, 1 when it would be rejected (or bounced by the route), 2 when
the configuration is broken.

SECURITY: reads main.cf and the lookup tables it names; performs the DNS lookups that the
restrictions and the nexthop ask for (none with ``--no-dns`` but those of restrictions).
Never prints a SASL password, never connects to a mail server, never writes the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from mailrelay.audit.trace import (
    Finding,
    StageFunction,
    answerer,
    found,
    policy_finding,
    rewrite,
    where,
)
from mailrelay.cleanup.address_map import AddressMap, CleanupDefer
from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.cli.context import Context
from mailrelay.config.locate import load_main
from mailrelay.config.mastercf import MasterCf, read_master_or_default, service_config
from mailrelay.config.model import Config
from mailrelay.delivery.dns import LookupFailure, MxResolver
from mailrelay.delivery.local import Refused, alias_tables, alias_targets, find_alias
from mailrelay.mail.reply import Reply
from mailrelay.maps.base import MapError, MapLookupError
from mailrelay.maps.registry import MapCache
from mailrelay.policy import (
    Deferrals,
    DnsQuery,
    DnsResult,
    PolicySettings,
    Request,
    Verdict,
    client_stage,
    helo_stage,
    recipient_stage,
    sender_stage,
)
from mailrelay.policy.peer import client_names
from mailrelay.qmgr.service import classifier
from mailrelay.qmgr.transports import agent_services
from mailrelay.route.nexthop import NexthopError, parse_nexthop
from mailrelay.route.resolve import Route, RouteError, Routes
from mailrelay.sasl.settings import SaslClientSettings
from mailrelay.smtpd.resolver import DnsPythonResolver, settle
from mailrelay.tlspolicy.entry import TlsPolicyError
from mailrelay.tlspolicy.policy import TlsPolicies
from mailrelay.util.diagnostic import Fatal

ACCEPTED, REJECTED, BROKEN = 0, 1, 2
#: Transports that deliver here or nowhere: no nexthop host, TLS or SASL to show.
NOT_SMTP = frozenset({"local", "virtual", "error", "discard", "retry", "pipe"})
#: Postfix's reply to a MAIL FROM SIZE= over message_size_limit (smtpd.c).
TOO_BIG = Reply(552, "5.3.4", "Message size exceeds fixed limit")


class Broken(Exception):
    """The configuration or a table cannot answer: the trace stops with status 2."""


@dataclass(slots=True)
class Trace:
    findings: list[Finding] = field(default_factory=list)
    status: int = ACCEPTED

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailrelay trace", description=__doc__.split("\n")[0])
    p.add_argument("sender", help="envelope sender ('' for the null sender)")
    p.add_argument("recipient", help="envelope recipient")
    p.add_argument("--client", default="127.0.0.1", help="client IP address (127.0.0.1)")
    p.add_argument("--helo", default=None, help="HELO/EHLO name (none: not sent)")
    p.add_argument("--size", type=int, default=None, help="MAIL FROM SIZE= in bytes")
    p.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    p.add_argument("--no-dns", action="store_true",
                   help="no client name or nexthop lookups (restrictions still ask)")
    return p


def run(args: Sequence[str], ctx: Context) -> int:
    options = _parser().parse_args(list(args))
    trace = Trace()
    try:
        source = ctx.source()
        config = load_main(source)
        asyncio.run(_trace(config, read_master_or_default(source.master_cf), options, trace))
    except (Fatal, Broken, OSError) as e:
        trace.add(Finding("config", f"broken: {e}"))
        trace.status = BROKEN
    if options.json:
        print(json.dumps(_as_json(options, trace), indent=2), file=ctx.stdout)
    else:
        for finding in trace.findings:
            print(finding, file=ctx.stdout)
    return trace.status


def _as_json(options: argparse.Namespace, trace: Trace) -> dict[str, object]:
    return {
        "sender": options.sender, "recipient": options.recipient, "client": options.client,
        "status": trace.status,
        "result": ("accepted", "rejected", "broken")[trace.status],
        "decisions": [{"stage": f.stage, "decision": f.decision, "parameter": f.parameter,
                       "origin": f.origin} for f in trace.findings],
    }


async def _trace(config: Config, master: MasterCf, options: argparse.Namespace,
                 trace: Trace) -> None:
    cache = MapCache()
    if not await _policy(config, options, trace):
        trace.status = REJECTED
        return
    try:
        cleaned = rewrite(config, CleanupSettings.from_config(config, cache),
                          options.sender, options.recipient)
        for finding in cleaned.findings:
            trace.add(finding)
        routes = Routes.from_config(config, classifier(config), cache)
        for recipient in cleaned.recipients:
            route = routes.resolve(recipient, cleaned.sender)
            if not await _route(config, master, cache, route, cleaned.sender, options, trace):
                trace.status = REJECTED
    except (MapLookupError, MapError, CleanupDefer, RouteError, TlsPolicyError) as e:
        raise Broken(str(e)) from None


# -- smtpd ---------------------------------------------------------------------------------


async def _policy(config: Config, options: argparse.Namespace, trace: Trace) -> bool:
    """The four stages of one SMTP transaction; False when one refuses."""
    settings = PolicySettings.from_config(config)
    for text in settings.warnings:
        trace.add(Finding("warning", text))
    resolver = DnsPythonResolver()
    answers: dict[DnsQuery, DnsResult] = {}
    request = Request(client_address=options.client, protocol="ESMTP")
    if not options.no_dns:
        names, answers = await settle(lambda a: client_names(options.client, a), resolver)
        request = replace(request, client_name=names.name, reverse_client_name=names.reverse_name,
                          name_status=names.name_status,
                          reverse_name_status=names.reverse_name_status)
    trace.add(Finding("client", f"{request.namaddr()}"))
    deferrals = Deferrals()
    stages: tuple[tuple[str, StageFunction, Request], ...] = (
        ("client", client_stage, request),
        ("helo", helo_stage, replace(request, helo=options.helo)),
        ("sender", sender_stage, replace(request, helo=options.helo, sender=options.sender)),
        ("recipient", recipient_stage, replace(request, helo=options.helo,
                                               sender=options.sender,
                                               recipient=options.recipient)),
    )
    for name, function, req in stages:
        if name == "sender" and not _size_ok(config, options, trace):
            return False
        req = replace(req, deferrals=deferrals)
        verdict, answers = await _settled(function, settings, req, resolver, answers)
        trace.add(_stage_finding(config, settings, name, function, req, answers, verdict))
        if not verdict.accepted:
            return False
        deferrals = _carry(deferrals, name, verdict)
    return True


async def _settled(function: StageFunction, settings: PolicySettings, request: Request,
                   resolver: DnsPythonResolver, answers: dict[DnsQuery, DnsResult],
                   ) -> tuple[Verdict, dict[DnsQuery, DnsResult]]:
    """The daemon's loop (smtpd.gate): ask, resolve what the stage needs, ask again."""
    result, answers = await settle(lambda a: function(settings, request, a), resolver, answers)
    if not isinstance(result, Verdict):
        raise Broken(f"unexpected policy result {result!r}")
    return result, answers


def _stage_finding(config: Config, settings: PolicySettings, name: str,
                   function: StageFunction, request: Request, answers: dict[DnsQuery, DnsResult],
                   verdict: Verdict) -> Finding:
    if name != "recipient" and settings.flags.delay_reject:
        return found(config, name, "evaluated at RCPT TO", "smtpd_delay_reject")
    cause = answerer(settings, name, function, request, answers, verdict)
    return policy_finding(config, settings, name, verdict, cause)


def _carry(deferrals: Deferrals, name: str, verdict: Verdict) -> Deferrals:
    if verdict.deferred is None or name not in ("client", "helo", "sender"):
        return deferrals
    return replace(deferrals, **{name: verdict.deferred})


def _size_ok(config: Config, options: argparse.Namespace, trace: Trace) -> bool:
    limit = config.get_int("message_size_limit")
    if options.size is None or not limit or options.size <= limit:
        return True
    trace.add(found(config, "sender", f"reject: {TOO_BIG}", "message_size_limit"))
    return False


# -- qmgr and the delivery agents ---------------------------------------------------------


def _transport_config(config: Config, master: MasterCf, transport: str, trace: Trace) -> Config:
    """The configuration the transport's agent runs with: its master.cf ``-o`` settings on
    top of main.cf, as qmgr.transports builds it."""
    service = agent_services(master).get(transport)
    if service is None:
        return config
    for name, setting in service.overrides.items():
        trace.add(Finding("transport", f"{transport}: -o {name}={setting.value}",
                          "master.cf", f"{setting.origin.file}:{setting.origin.line}"))
    return service_config(config, service)


async def _route(main: Config, master: MasterCf, cache: MapCache, route: Route, sender: str,
                 options: argparse.Namespace, trace: Trace) -> bool:
    """One recipient's route, nexthop hosts, TLS and SASL; False when the route bounces."""
    trace.add(Finding("route", f"<{route.recipient}> ({route.address_class}) -> "
                      f"{route.transport}:{route.nexthop}"))
    for reason in route.why:
        trace.add(Finding("route", reason.detail, reason.parameter,
                          _origin(reason.origin)))
    config = _transport_config(main, master, route.transport, trace)
    if route.transport == "error":
        trace.add(Finding("route", f"bounce: {route.nexthop}"))
        return False
    if route.transport == "local" and not _aliases(config, cache, route.recipient, trace):
        return False
    if route.transport in NOT_SMTP:
        return True
    _generic(config, cache, sender, route.recipient, trace)
    try:
        nexthop = parse_nexthop(route.nexthop)
    except NexthopError as e:
        raise Broken(f"nexthop {route.nexthop!r}: {e}") from None
    if not options.no_dns:
        await _targets(config, route, trace)
    domain = route.recipient.rpartition("@")[2]
    tls = TlsPolicies.from_config(config, cache).lookup(route.nexthop, domain)
    trace.add(_tls_finding(tls.source, tls.level.value))
    _sasl(config, cache, nexthop.host, nexthop.port or 25, not nexthop.mx, sender,
          route.nexthop, trace)
    return True


async def _targets(config: Config, route: Route, trace: Trace) -> None:
    try:
        targets = await MxResolver.from_config(config).targets(parse_nexthop(route.nexthop), 25)
    except LookupFailure as e:
        trace.add(Finding("nexthop", f"no hosts ({e.dsn}): {e.reason}"))
        return
    for t in targets:
        trace.add(Finding("nexthop", f"{t.hostname}[{t.address}]:{t.port} "
                          f"preference {t.preference}"))


def _tls_finding(source: str, level: str) -> Finding:
    """TlsPolicy.source is ``name (origin): value...``: the value joins the decision."""
    name, _, rest = source.partition(" (")
    origin, _, value = rest.partition("): ")
    decision = f"level {level}" if value in ("", level) else f"level {level} ({value})"
    return Finding("tls", decision, name, origin)


def _origin(text: str) -> str:
    """Route reasons' Origin text (``file, line 3`` or ``(default)``) as ``file:3``."""
    return text.replace(", line ", ":").strip("()")


def _generic(config: Config, cache: MapCache, sender: str, recipient: str,
             trace: Trace) -> None:
    """smtp_generic_maps: the envelope as sent (the queue keeps the original)."""
    generic = AddressMap.from_config(config, "smtp_generic_maps", cache, "generic")
    if generic is None:
        return
    tables = generic.tables()
    for stage, address in (("sender", sender), ("recipient", recipient)):
        mapped = generic.lookup(tables, address)
        if mapped is not None and mapped.address != address:
            trace.add(found(config, "generic", f"{stage} <{address}> -> <{mapped.address}>",
                            "smtp_generic_maps"))


def _aliases(config: Config, cache: MapCache, recipient: str, trace: Trace) -> bool:
    """local(8)'s alias_maps: the addresses an alias forwards to, or the user's mailbox;
    False when the alias would bounce (a command or file mailrelay refuses)."""
    tables = alias_tables(config.get_str("alias_maps"), cache.get)
    alias = find_alias(tables, recipient, config.get_str("recipient_delimiter"))
    if alias.value is None:
        trace.add(found(config, "alias", f"none for {alias.name}: mailbox of {alias.user}",
                        "alias_maps"))
        return True
    try:
        targets = ", ".join(alias_targets(alias.value))
    except Refused as e:
        trace.add(found(config, "alias", f"{alias.name}: bounce: {e}", "alias_maps"))
        return False
    trace.add(found(config, "alias", f"{alias.name} -> {targets}", "alias_maps"))
    return True


def _sasl(config: Config, cache: MapCache, host: str, port: int, bracketed: bool,
          sender: str, nexthop: str, trace: Trace) -> None:
    settings = SaslClientSettings.from_config(config, cache)
    if not settings.enabled:
        trace.add(found(config, "sasl", "off", "smtp_sasl_auth_enable"))
        return
    credentials = settings.credentials(host, port, bracketed, sender, nexthop=nexthop)
    if credentials is None:
        trace.add(found(config, "sasl", f"no credentials for {nexthop}",
                        "smtp_sasl_password_maps"))
        return
    # The password stays in memory only: the key and the username are what an admin checks.
    trace.add(Finding("sasl", f"username {credentials.username} from key {credentials.key}",
                      "smtp_sasl_password_maps", where(config, "smtp_sasl_password_maps")))
