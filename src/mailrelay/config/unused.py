"""Which settings of main.cf and master.cf nothing uses: Postfix's "unused parameter" logic.

A name is known when it is (postconf_user.c, postconf_service.c, postconf_unused.c):

- built in: a parameter of the table (here: mailrelay's table, so a genuine Postfix parameter
  that mailrelay does not implement *is* reported unused — it would have no effect);
- a service parameter: ``SERVICE_SUFFIX`` for a master.cf service whose command is a delivery
  agent (``relay_destination_concurrency_limit`` for ``relay ... smtp``), here only when the
  parameter it defaults to is in the table;
- a legacy name that a default refers to (``$virtual_maps``), when it is set;
- user-defined and used: it has a ``name = value`` and its name appears as ``$name`` in a value
  of main.cf, of a master.cf ``-o``, or of a default, or in ``smtpd_restriction_classes``.
  A ``$name`` in main.cf validates a ``-o name=value`` of any service; a ``$name`` in a ``-o``
  validates the same service's ``-o name=value`` or main.cf's ``name = value``.

A ``$name`` that has no value anywhere and is not known is an "undefined parameter".  Postfix
prints these warnings in its hash tables' order; here they come in file order, each once per
reference as in Postfix.  Not done: Postfix's legacy database parameters (``mysql:name``
making ``name_hosts``... valid) and its deprecation notices (Postfix 3.9+).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mailrelay.config.expand import MacroError, expand, scan
from mailrelay.config.maincf import Setting
from mailrelay.config.mastercf import MasterCf, service_config
from mailrelay.config.model import RAW_PARAMETERS, READ_ONLY_PARAMETERS, Config
from mailrelay.config.params import PARAMETERS, Param
from mailrelay.util.diagnostic import Origin

_DELIVERY = (
    ("_recipient_limit", "default_recipient_limit"),
    ("_extra_recipient_limit", "default_extra_recipient_limit"),
    ("_recipient_refill_limit", "default_recipient_refill_limit"),
    ("_recipient_refill_delay", "default_recipient_refill_delay"),
    ("_delivery_slot_cost", "default_delivery_slot_cost"),
    ("_delivery_slot_loan", "default_delivery_slot_loan"),
    ("_delivery_slot_discount", "default_delivery_slot_discount"),
    ("_minimum_delivery_slots", "default_minimum_delivery_slots"),
    ("_initial_destination_concurrency", "initial_destination_concurrency"),
    ("_destination_concurrency_limit", "default_destination_concurrency_limit"),
    ("_destination_recipient_limit", "default_destination_recipient_limit"),
    ("_destination_concurrency_positive_feedback",
     "default_destination_concurrency_positive_feedback"),
    ("_destination_concurrency_negative_feedback",
     "default_destination_concurrency_negative_feedback"),
    ("_destination_concurrency_failed_cohort_limit",
     "default_destination_concurrency_failed_cohort_limit"),
    ("_destination_rate_delay", "default_destination_rate_delay"),
    ("_transport_rate_delay", "default_transport_rate_delay"),
)
_TIME_LIMIT = (("_time_limit", "command_time_limit"),)
#: Command → (suffix, parameter giving the default) of its per-service parameters.
SERVICE_SUFFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "local": _DELIVERY, "error": _DELIVERY, "virtual": _DELIVERY, "smtp": _DELIVERY,
    "lmtp": _DELIVERY, "pipe": _TIME_LIMIT + _DELIVERY, "spawn": _TIME_LIMIT,
}
#: Postfix's CHARS_COMMA_SP: how smtpd_restriction_classes is split.
_COMMA_SPACE = " \t\r\n,"


def service_parameters(
    master: MasterCf, table: Mapping[str, Param] = PARAMETERS
) -> dict[str, str]:
    """``name -> default`` (``$default_...``) of the per-service parameters of *master*."""
    found: dict[str, str] = {}
    for service in master.services:
        for suffix, default in SERVICE_SUFFIXES.get(service.command, ()):
            name = service.name + suffix
            if default in table and name not in table:
                found.setdefault(name, "$" + default)
    return found


@dataclass(frozen=True, slots=True)
class Reference:
    """A ``$name`` with no value anywhere, and the setting that holds it."""

    name: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class Usage:
    unused: tuple[Setting, ...]
    undefined: tuple[Reference, ...]
    #: Macro syntax errors met while scanning values (Postfix's warning texts).
    syntax: tuple[str, ...]
    #: Assignments of parameters each program sets itself; ignored.
    read_only: tuple[Setting, ...]
    #: User-defined and legacy parameters that are set and used (``postconf -n`` shows them).
    user: frozenset[str]


@dataclass(slots=True)
class _Analysis:
    master: MasterCf
    known: set[str]
    main: dict[str, Setting]
    valid: set[str] = field(default_factory=set)
    local: dict[int, set[str]] = field(default_factory=dict)
    undefined: list[Reference] = field(default_factory=list)
    syntax: list[str] = field(default_factory=list)

    def flag(self, name: str, origin: Origin, scope: int | None) -> None:
        """pcf_flag_user_parameter(): *name* appears in a value (or restriction classes)."""
        services = self.master.services
        supplied = False
        if scope is not None and name in services[scope].overrides:
            supplied = True
            self.local[scope].add(name)
        elif name in self.main:
            supplied = True
            if name not in self.known:
                self.valid.add(name)
        if scope is None:
            for index, service in enumerate(services):
                if name in service.overrides:
                    supplied = True
                    self.local[index].add(name)
        if not supplied and name not in self.known:
            self.undefined.append(Reference(name, origin))

    def scan_value(self, value: str, origin: Origin, scope: int | None) -> None:
        found = scan(value)
        for name in found.names:
            self.flag(name, origin, scope)
        if found.error is not None:
            self.syntax.append(found.error)

    def scan_settings(self, settings: Mapping[str, Setting], scope: int | None) -> None:
        classes = settings.get("smtpd_restriction_classes")
        if classes is not None:
            lookup = {n: s.value for n, s in settings.items()}.get
            try:
                text = expand(classes.value, lookup)
            except MacroError:
                text = classes.value
            for name in _split(text):
                self.flag(name, classes.origin, scope)
        for name, setting in settings.items():
            # Raw values are expanded by their daemon, per session, with its own names.
            if name not in READ_ONLY_PARAMETERS and name not in RAW_PARAMETERS:
                self.scan_value(setting.value, setting.origin, scope)


def _split(text: str) -> list[str]:
    return "".join(" " if ch in _COMMA_SPACE else ch for ch in text).split()


def analyse(config: Config, master: MasterCf, table: Mapping[str, Param] = PARAMETERS) -> Usage:
    """Postfix's registration of user-defined parameters, then its unused check."""
    explicit = config.settings()
    service_params = service_parameters(master, table)
    read_only = [s for n, s in explicit.items() if n in READ_ONLY_PARAMETERS]
    read_only += [s for svc in master.services for n, s in svc.overrides.items()
                  if n in READ_ONLY_PARAMETERS]
    main = {n: s for n, s in explicit.items() if n not in READ_ONLY_PARAMETERS}
    # Raw defaults hold names of their daemon's own (``$rbl_code``), not parameters.
    defaults = {n: p.default for n, p in table.items()
                if p.compute is None and n not in RAW_PARAMETERS}
    defaults.update(service_params)
    legacy = legacy_names(defaults.values(), table)
    # Read-only parameters are always defined: each program sets them for itself.
    known = set(table) | set(service_params) | legacy | READ_ONLY_PARAMETERS
    run = _Analysis(master, known, main)
    run.local = {i: set() for i in range(len(master.services))}
    # Postfix's order: master.cf name spaces, defaults, then main.cf.
    for index, service in enumerate(master.services):
        run.scan_settings(service.overrides, index)
    main_cf = Origin(config.main.path)
    for name, default in defaults.items():
        if name not in main:
            run.scan_value(default, main_cf, None)
    run.scan_settings(main, None)
    unused = [s for n, s in main.items() if n not in run.known and n not in run.valid]
    for index, service in enumerate(master.services):
        unused += [s for n, s in service.overrides.items()
                   if n not in READ_ONLY_PARAMETERS and n not in run.known
                   and n not in run.valid and n not in run.local[index]]
    return Usage(tuple(unused), tuple(run.undefined), tuple(run.syntax), tuple(read_only),
                 frozenset(run.valid | (legacy & main.keys())))


def legacy_names(defaults: Iterable[str], table: Mapping[str, Param]) -> set[str]:
    """Old names that defaults still refer to (``virtual_alias_maps = $virtual_maps``): Postfix
    knows them without showing them, so setting one is neither unused nor undefined."""
    return {n for text in defaults for n in scan(text).names if n not in table}


def unused_settings(config: Config, master: MasterCf) -> list[Setting]:
    """The settings of main.cf and master.cf ``-o`` that nothing uses, in file order."""
    return list(analyse(config, master).unused)


def expansion_error(
    config: Config, master: MasterCf, table: Mapping[str, Param] = PARAMETERS
) -> MacroError | None:
    """The first value of a known parameter that does not expand (master.cf first, as
    postconf meets them); Postfix's postconf stops with "macro processing error" on it."""
    known = set(table) | set(service_parameters(master, table))
    scopes: list[tuple[Config, Mapping[str, Setting]]] = [
        (service_config(config, s), s.overrides) for s in master.services
    ]
    scopes.append((config, config.settings()))
    for scope_config, settings in scopes:
        for name, setting in settings.items():
            if name in known and name not in RAW_PARAMETERS | READ_ONLY_PARAMETERS:
                try:
                    expand(setting.value, scope_config.raw)
                except MacroError as e:
                    return e
    return None

