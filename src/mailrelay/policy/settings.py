"""Everything the restrictions read from the configuration, parsed and opened once.

:meth:`PolicySettings.from_config` reads the parameters below, parses the restriction lists
into steps, opens every table they name (as Postfix opens them before the first session)
and builds the host and domain lists.  The hot path then only looks things up.  A bad value
raises :class:`~mailrelay.util.diagnostic.Fatal` naming the parameter, as Postfix would
refuse to start.

Parameters read: the ``smtpd_*_restrictions`` lists, ``smtpd_restriction_classes`` and each
class, ``smtpd_delay_reject``, ``smtpd_helo_required``, ``smtpd_relay_before_recipient_
restrictions``, ``mynetworks``, ``parent_domain_matches_subdomains``, the ``*_code``
parameters, ``soft_bounce``, ``smtpd_null_access_lookup_key``, ``recipient_delimiter``,
``allow_untrusted_routing``, ``unknown_*_tempfail_action``, ``default_rbl_reply``,
``rbl_reply_maps``, ``smtpd_log_access_permit_actions``, ``smtpd_client_port_logging``,
``smtpd_expansion_filter``, ``smtpd_sasl_auth_enable``, ``smtpd_sender_login_maps``,
``smtpd_reject_unlisted_*``, the recipient tables (``local_recipient_maps``...), and what
trivial-rewrite needs (:class:`~mailrelay.policy.resolve.Site`).
"""

from __future__ import annotations

import ipaddress
import pwd
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from mailrelay.config.model import Config
from mailrelay.config.params import host_interfaces, select_interfaces
from mailrelay.maps.base import Map, MapError, Table
from mailrelay.maps.lookup import Maps
from mailrelay.maps.registry import open_map, split_spec
from mailrelay.policy import steps
from mailrelay.policy.networks import HostList, ListKind
from mailrelay.policy.resolve import Site
from mailrelay.util.diagnostic import Fatal

MapOpener = Callable[[str], Map]

_LISTS = {
    "client": "smtpd_client_restrictions", "helo": "smtpd_helo_restrictions",
    "sender": "smtpd_sender_restrictions", "relay": "smtpd_relay_restrictions",
    "recipient": "smtpd_recipient_restrictions", "data": "smtpd_data_restrictions",
    "end_of_data": "smtpd_end_of_data_restrictions",
}
_CODES = (
    "reject_code", "defer_code", "access_map_reject_code", "access_map_defer_code",
    "invalid_hostname_reject_code", "non_fqdn_reject_code", "relay_domains_reject_code",
    "unknown_address_reject_code", "unknown_client_reject_code",
    "unknown_hostname_reject_code", "maps_rbl_reject_code", "plaintext_reject_code",
    "multi_recipient_bounce_reject_code", "unknown_local_recipient_reject_code",
    "unknown_relay_recipient_reject_code", "unknown_virtual_alias_reject_code",
    "unknown_virtual_mailbox_reject_code",
)
_TEMPFAIL_ACTIONS = {"defer_if_permit": True, "defer": False}


class PasswdTable(Table):
    """``unix:passwd.byname`` (local_recipient_maps' default): the system's user names."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("unix", "passwd.byname", fold_case=False)

    def lookup(self, key: str) -> str | None:
        try:
            entry = pwd.getpwnam(key)
        except (KeyError, UnicodeError):
            return None
        return f"{entry.pw_name}:x:{entry.pw_uid}:{entry.pw_gid}:{entry.pw_gecos}:" \
               f"{entry.pw_dir}:{entry.pw_shell}"


class TableCache(Mapping[str, Map]):
    """Tables opened once by spec; ``proxy:`` is looked through as the registry does."""

    def __init__(self, opener: MapOpener = open_map) -> None:
        self._opener = opener
        self._tables: dict[str, Map] = {}

    def open(self, spec: str) -> Map:
        table = self._tables.get(spec)
        if table is None:
            type_, name = split_spec(spec)
            table = PasswdTable() if (type_, name) == ("unix", "passwd.byname") \
                else self._opener(spec)
            self._tables[spec] = table
        return table

    def __getitem__(self, spec: str) -> Map:
        return self._tables[spec]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)


@dataclass(frozen=True, slots=True)
class Codes:
    reject_code: int = 554
    defer_code: int = 450
    access_map_reject_code: int = 554
    access_map_defer_code: int = 450
    invalid_hostname_reject_code: int = 501
    non_fqdn_reject_code: int = 504
    relay_domains_reject_code: int = 554
    unknown_address_reject_code: int = 450
    unknown_client_reject_code: int = 450
    unknown_hostname_reject_code: int = 450
    maps_rbl_reject_code: int = 554
    plaintext_reject_code: int = 450
    multi_recipient_bounce_reject_code: int = 550
    unknown_local_recipient_reject_code: int = 550
    unknown_relay_recipient_reject_code: int = 550
    unknown_virtual_alias_reject_code: int = 550
    unknown_virtual_mailbox_reject_code: int = 550


@dataclass(frozen=True, slots=True)
class RecipientTables:
    """The tables that tell whether a recipient exists (check_rcpt_maps); None: not set."""

    local: Maps | None
    relay: Maps | None
    virtual_mailbox: Maps | None
    virtual_alias: Maps | None
    #: canonical, sender_canonical, recipient_canonical: a match means "known".
    canonical: Maps | None
    sender_canonical: Maps | None
    recipient_canonical: Maps | None


@dataclass(frozen=True, slots=True)
class Flags:
    null_access_lookup_key: str = "<>"
    recipient_delimiter: str = ""
    double_bounce_sender: str = "double-bounce"
    default_rbl_reply: str = ("$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked "
                              "using $rbl_domain${rbl_reason?; $rbl_reason}")
    expansion_filter: str = ""
    delay_reject: bool = True
    helo_required: bool = False
    relay_before_recipient: bool = True
    allow_untrusted_routing: bool = False
    soft_bounce: bool = False
    #: smtpd_access_maps is in parent_domain_matches_subdomains.
    access_parent_style: bool = True
    reject_unlisted_recipient: bool = True
    reject_unlisted_sender: bool = False
    #: unknown_helo_hostname_tempfail_action / unknown_address_tempfail_action are
    #: defer_if_permit (True) rather than defer.
    unknown_name_defer_if_permit: bool = True
    unknown_address_defer_if_permit: bool = True
    sasl_enabled: bool = False
    port_logging: bool = False
    show_unknown_table_name: bool = True
    smtputf8_enable: bool = True

    @classmethod
    def from_config(cls, config: Config) -> Flags:
        parents = {p.lower() for p in config.get_list("parent_domain_matches_subdomains")}
        return cls(
            null_access_lookup_key=config.get_str("smtpd_null_access_lookup_key"),
            recipient_delimiter=config.get_str("recipient_delimiter"),
            double_bounce_sender=config.get_str("double_bounce_sender"),
            default_rbl_reply=config.get_str("default_rbl_reply"),
            expansion_filter=config.get_str("smtpd_expansion_filter"),
            delay_reject=config.get_bool("smtpd_delay_reject"),
            helo_required=config.get_bool("smtpd_helo_required"),
            relay_before_recipient=config.get_bool(
                "smtpd_relay_before_recipient_restrictions"),
            allow_untrusted_routing=config.get_bool("allow_untrusted_routing"),
            soft_bounce=config.get_bool("soft_bounce"),
            access_parent_style="smtpd_access_maps" in parents,
            reject_unlisted_recipient=config.get_bool("smtpd_reject_unlisted_recipient"),
            reject_unlisted_sender=config.get_bool("smtpd_reject_unlisted_sender"),
            unknown_name_defer_if_permit=_tempfail(
                config, "unknown_helo_hostname_tempfail_action"),
            unknown_address_defer_if_permit=_tempfail(
                config, "unknown_address_tempfail_action"),
            sasl_enabled=config.get_bool("smtpd_sasl_auth_enable"),
            port_logging=config.get_bool("smtpd_client_port_logging"),
            show_unknown_table_name=config.get_bool("show_user_unknown_table_name"),
            smtputf8_enable=config.get_bool("smtputf8_enable"),
        )


@dataclass(frozen=True, slots=True)
class PolicySettings:
    lists: Mapping[str, tuple[steps.Step, ...]]
    classes: Mapping[str, tuple[steps.Step, ...]]
    tables: Mapping[str, Map]
    site: Site
    mynetworks: HostList
    event_limit_exceptions: HostList
    permit_log_actions: HostList
    recipients: RecipientTables
    rbl_reply_maps: Maps | None = None
    sender_login_maps: Maps | None = None
    codes: Codes = Codes()
    flags: Flags = Flags()
    #: Problems found while building that do not stop the server (for the log).
    warnings: tuple[str, ...] = ()

    def list(self, name: str) -> tuple[steps.Step, ...]:
        return self.lists[name]

    @classmethod
    def from_config(cls, config: Config, opener: MapOpener = open_map) -> PolicySettings:
        cache = TableCache(opener)
        parents = {p.lower() for p in config.get_list("parent_domain_matches_subdomains")}
        lists = {key: steps.parse(config.get_list(param)) for key, param in _LISTS.items()}
        classes = _classes(config)
        for spec in _named_tables([*lists.values(), *classes.values()]):
            _open(cache, spec, "smtpd restrictions")
        warnings: list[str] = []
        return cls(
            lists=lists, classes=classes, tables=cache,
            site=build_site(config, cache, parents),
            mynetworks=_host_list(config, "mynetworks", cache, ListKind.HOST, parents),
            event_limit_exceptions=_host_list(
                config, "smtpd_client_event_limit_exceptions", cache, ListKind.HOST, parents),
            permit_log_actions=_host_list(
                config, "smtpd_log_access_permit_actions", cache, ListKind.STRING, parents),
            recipients=_recipient_tables(config, cache, warnings),
            rbl_reply_maps=_maps(config, "rbl_reply_maps", cache),
            sender_login_maps=_maps(config, "smtpd_sender_login_maps", cache),
            codes=Codes(**{name: config.get_int(name) for name in _CODES}),
            flags=Flags.from_config(config),
            warnings=tuple(warnings),
        )


def _tempfail(config: Config, name: str) -> bool:
    value = config.get_str(name).strip().lower()
    if value not in _TEMPFAIL_ACTIONS:
        raise Fatal(f"bad configuration: {name} = {value}", config.origin(name), name)
    return _TEMPFAIL_ACTIONS[value]


def _classes(config: Config) -> dict[str, tuple[steps.Step, ...]]:
    classes: dict[str, tuple[steps.Step, ...]] = {}
    for name in config.get_list("smtpd_restriction_classes"):
        setting = config.setting(name)
        value = config.expanded(name) if setting is not None else ""
        if not value.strip():
            raise Fatal(f"restriction class `{name}' needs a definition",
                        config.origin("smtpd_restriction_classes"), name)
        classes[name] = steps.parse(value)
    # Postfix's built-in class.
    classes["reject_sender_login_mismatch"] = steps.parse(
        "reject_authenticated_sender_login_mismatch, "
        "reject_unauthenticated_sender_login_mismatch")
    return classes


def _named_tables(lists: list[tuple[steps.Step, ...]]) -> list[str]:
    return [spec for s in lists for spec in steps.tables(s)]


def _open(cache: TableCache, spec: str, what: str) -> Map:
    try:
        return cache.open(spec)
    except MapError as e:
        raise Fatal(f"{what}: {e.text}", e.origin) from None


def _maps(config: Config, name: str, cache: TableCache) -> Maps | None:
    specs = config.get_list(name)
    if not specs:
        return None
    return Maps(name, tuple(_open(cache, s, name) for s in specs))


def _host_list(config: Config, name: str, cache: TableCache, kind: ListKind,
               parents: set[str]) -> HostList:
    try:
        return HostList.parse(name, kind, config.get_list(name), cache.open,
                              parent_style=name in parents)
    except MapError as e:
        raise Fatal(f"parameter {name}: {e.text}", config.origin(name), name) from None


def _lenient_maps(config: Config, name: str, cache: TableCache,
                  warnings: list[str]) -> Maps | None:
    """A recipient table that cannot be opened turns its check off, with a warning: the
    default local_recipient_maps names NIS, which mailrelay does not have."""
    try:
        return _maps(config, name, cache)
    except Fatal as e:
        warnings.append(f"{e.text}; unknown recipients are not rejected with this table")
        return None


def _recipient_tables(config: Config, cache: TableCache,
                      warnings: list[str]) -> RecipientTables:
    def lenient(name: str) -> Maps | None:
        return _lenient_maps(config, name, cache, warnings)

    return RecipientTables(
        local=lenient("local_recipient_maps"),
        relay=lenient("relay_recipient_maps"),
        virtual_mailbox=lenient("virtual_mailbox_maps"),
        virtual_alias=lenient("virtual_alias_maps"),
        canonical=lenient("canonical_maps"),
        sender_canonical=lenient("sender_canonical_maps"),
        recipient_canonical=lenient("recipient_canonical_maps"),
    )


def own_addresses(config: Config) -> frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """inet_interfaces (``all``: every interface of this host) plus proxy_interfaces."""
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    chosen = select_interfaces(host_interfaces(), config.get_str("inet_interfaces"),
                               config.get_str("inet_protocols"))
    found.update(iface.ip for iface in chosen)
    words = config.get_list("inet_interfaces") + config.get_list("proxy_interfaces")
    for word in words:
        try:
            found.add(ipaddress.ip_address(word.strip("[]")))
        except ValueError:
            continue  # "all", "loopback-only", or a host name (not resolved here)
    if {w.lower() for w in config.get_list("inet_interfaces")} & {"loopback-only"}:
        found.update({ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")})
    return frozenset(found)


def build_site(config: Config, cache: TableCache, parents: set[str]) -> Site:
    def string_list(name: str) -> HostList:
        return _host_list(config, name, cache, ListKind.STRING, parents)

    return Site(
        myhostname=config.get_str("myhostname"),
        myorigin=config.get_str("myorigin"),
        mydomain=config.get_str("mydomain"),
        mydestination=string_list("mydestination"),
        relay_domains=_host_list(config, "relay_domains", cache, ListKind.DOMAIN, parents),
        virtual_alias_domains=string_list("virtual_alias_domains"),
        virtual_mailbox_domains=string_list("virtual_mailbox_domains"),
        own_addresses=own_addresses(config),
        append_at_myorigin=config.get_bool("append_at_myorigin"),
        append_dot_mydomain=config.get_bool("append_dot_mydomain"),
        swap_bangpath=config.get_bool("swap_bangpath"),
        allow_percent_hack=config.get_bool("allow_percent_hack"),
        resolve_dequoted_address=config.get_bool("resolve_dequoted_address"),
        empty_address_recipient=config.get_str("empty_address_recipient"),
    )


__all__ = ["Codes", "Flags", "PolicySettings", "RecipientTables", "TableCache"]
