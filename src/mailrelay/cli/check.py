"""``mailrelay check``: Postfix's ``postfix check``, plus the guide's checklist.

Validates main.cf, master.cf and every lookup table the configuration names, and reports
risky settings, each with the file and line that set the value.  Unlike Postfix, which stops
at the first fatal error and logs its warnings, all findings go to the terminal; the exit
status is 1 when there is an error, 0 otherwise (warnings alone do not fail).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from mailrelay.audit.checks_tables import CHECKS_PARAMETERS, action_findings
from mailrelay.audit.files import secret_file_findings, stale_finding
from mailrelay.audit.finding import Finding, Severity, error, note, warning
from mailrelay.audit.networks import mynetworks_findings
from mailrelay.audit.relay import open_relay_findings
from mailrelay.audit.risks import (
    banner_findings,
    bare_newline_findings,
    size_limit_findings,
    tls_with_credentials_findings,
)
from mailrelay.cli.context import Context
from mailrelay.config.locate import load_main
from mailrelay.config.maincf import Setting
from mailrelay.config.mastercf import load_master_cf
from mailrelay.config.model import Config
from mailrelay.config.params import PARAMETERS
from mailrelay.config.unused import unused_settings
from mailrelay.maps.base import MapError, MapLookupError
from mailrelay.maps.registry import map_files, map_type_names, open_map
from mailrelay.route.nexthop import NexthopError, parse_nexthops
from mailrelay.util.diagnostic import Fatal
from mailrelay.util.tokens import TokenError, split_list

USAGE = "usage: mailrelay check [-c config_dir]"

#: Tables that hold passwords or tokens: their files must be private.
SECRET_MAPS = ("smtp_sasl_password_maps",)


def run(args: list[str], ctx: Context) -> int:
    while args:
        opt = args.pop(0)
        if opt == "-c" and args:
            ctx.config_option = args.pop(0)
        elif opt.startswith("-c") and len(opt) > 2:
            ctx.config_option = opt[2:]
        else:
            print(USAGE, file=ctx.stderr)
            return 2
    # The same problem seen from main.cf and from a service's -o scope is reported once.
    findings = list(dict.fromkeys(audit(ctx)))
    for f in findings:
        print(f.render(ctx.program), file=ctx.stderr)
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = sum(f.severity is Severity.WARNING for f in findings)
    if errors or warnings:
        print(f"{ctx.program}: {errors} error(s), {warnings} warning(s)", file=ctx.stderr)
    return 1 if errors else 0


def audit(ctx: Context) -> Iterator[Finding]:
    source = ctx.source()
    try:
        config = load_main(source)
    except Fatal as e:
        yield error(str(e))
        return
    for text in config.main.warnings:
        yield warning(text)
    try:
        master = load_master_cf(source.master_cf, config)
    except Fatal as e:
        yield error(str(e))
        return
    for service in master.services:
        if not service.is_smtpd_inet:
            yield note(
                f"service {service.name}/{service.type} ({service.command}) is not used by "
                "mailrelay", service.origin,
            )
    for setting in unused_settings(config, master):
        yield warning(f"unused parameter: {setting.name}={setting.value}", setting.origin)
    contexts = [Scope(config, "", config.main.settings)]
    contexts += [Scope(config.with_overrides(s.overrides), f"service {s.name}: ", s.overrides)
                 for s in master.services if s.is_smtpd_inet and s.overrides]
    checked: set[str] = set()
    for scope in contexts:
        yield from _values(scope)
        yield from _tables(scope, checked)
    for scope in contexts:
        yield from _rules(scope)


@dataclass(frozen=True, slots=True)
class Scope:
    """A configuration as one smtpd service sees it, and the settings made at that level."""

    config: Config
    prefix: str
    settings: Mapping[str, Setting]


def _values(scope: Scope) -> Iterator[Finding]:
    """Every explicitly set parameter must expand and have a value of its kind."""
    for name in scope.settings:
        try:
            scope.config.expanded(name)
            if name in PARAMETERS:
                getattr(scope.config, name)
        except Fatal as e:
            yield error(scope.prefix + e.text, e.origin, name)


def table_specs(value: str) -> list[str]:
    """The ``type:name`` lookup tables named in a parameter value."""
    types = map_type_names()
    try:
        items = split_list(value)
    except TokenError:
        return []
    return [item for item in items if ":" in item and item.split(":", 1)[0] in types]


def _tables(scope: Scope, checked: set[str]) -> Iterator[Finding]:
    for name, setting in scope.settings.items():
        try:
            value = scope.config.expanded(name)
        except Fatal:
            continue  # reported by _values
        for spec in table_specs(value):
            if spec not in checked:
                checked.add(spec)
                yield from _table(spec, setting)


def _table(spec: str, setting: Setting) -> Iterator[Finding]:
    try:
        table = open_map(spec)
    except MapError as e:
        yield error(f"{setting.name}: {e}", setting.origin, setting.name)
        return
    except MapLookupError as e:
        yield error(f"{setting.name}: {spec}: {e}", setting.origin, setting.name)
        return
    # A skipped rule (broken regexp) leaves a table that silently matches less: say so.
    for text in table.warnings:
        if "is older than source file" not in text:  # reported below, with the fix
            yield warning(f"{setting.name}: {text}", setting.origin, setting.name)
    if setting.name in CHECKS_PARAMETERS:
        yield from action_findings(setting.name, table, setting.origin)
    table.close()
    files = map_files(spec)
    if files.source and files.compiled:
        stale = stale_finding(files.source, files.compiled, setting.origin, setting.name)
        if stale is not None:
            yield stale
    if setting.name in SECRET_MAPS:
        paths = [p for p in (files.source, files.compiled) if p and os.path.exists(p)]
        yield from secret_file_findings(paths, setting.name, setting.origin)


def _rules(scope: Scope) -> Iterator[Finding]:
    config, prefix = scope.config, scope.prefix
    try:
        yield from open_relay_findings(config, prefix)
        yield from mynetworks_findings(config, _read_lines)
        yield from banner_findings(config)
        yield from size_limit_findings(config)
        yield from bare_newline_findings(config)
        yield from tls_with_credentials_findings(config, _relayhost_has_credentials(config))
    except Fatal as e:
        yield error(prefix + e.text, e.origin, e.parameter)


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [w for line in f if not line.lstrip().startswith("#")
                    for w in split_list(line)]
    except OSError:
        return []


def _relayhost_has_credentials(config: Config) -> bool:
    """Does smtp_sasl_password_maps give the relayhost a login (the keys Postfix tries)?"""
    relayhost = config.get_str("relayhost").strip()
    if not relayhost or not config.get_bool("smtp_sasl_auth_enable"):
        return False
    try:
        first = parse_nexthops(relayhost)[0]
    except (NexthopError, IndexError):
        return False  # a broken relayhost is the router's error to report, not this rule's
    keys = [str(first), f"[{first.host}]", first.host]
    for spec in table_specs(config.get_str("smtp_sasl_password_maps")):
        try:
            table = open_map(spec)
            if any(table.lookup(k.lower() if table.fold_case else k) for k in keys):
                return True
        except (MapError, MapLookupError):
            continue
    return False

