"""The smtp client's server lookup: nexthop -> the addresses to try, as Postfix's smtp(8).

SECURITY: this module talks to the network: DNS queries to the servers of /etc/resolv.conf,
or to the one server named by the environment variable ``MAILRELAY_DNS_SERVER`` (``IP:PORT``,
e.g. ``127.0.0.1:5353``; the tests point it at a DNS server of their own on loopback).  With
``smtp_host_lookup = native`` (or DNS disabled) it also asks the system's resolver
(getaddrinfo: /etc/hosts, nsswitch).  It sends no other traffic.

Theory of operation.  :meth:`MxResolver.targets` answers one nexthop:

* ``[192.0.2.1]`` (an address literal) needs no DNS;
* ``[mail.example.com]`` is looked up as a host: A and/or AAAA records (``inet_protocols``);
* ``example.com`` is looked up as a mail domain: its MX records, each MX host's addresses;
  without MX records (NXDOMAIN, or none of that type) the domain's own addresses
  (``smtp_host_lookup = dns``); a null MX (RFC 7505, ``MX 0 .``) refuses mail for good.

Ordering, loop detection and the texts are in the pure :mod:`mailrelay.route.mx`.  A failure
raises :class:`LookupFailure` carrying Postfix's text and enhanced status code; the caller
defers (``4.x.x``) or bounces (``5.x.x``).  Names are asked as given, never with the search
list of resolv.conf (Postfix's smtp does not append domains either).

``smtp_mx_session_limit`` (how many of the returned addresses get an SMTP session) is
enforced by the caller, the smtp agent; this module applies ``smtp_mx_address_limit``.
DNSSEC (``smtp_dns_support_level = dnssec``) is treated as ``enabled``: no validation.
Loop detection uses this host's addresses (``inet_interfaces``, and the address literals of
``proxy_interfaces``), as Postfix does; host names in those parameters are not resolved.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rcode
import dns.resolver

from mailrelay.config.model import Config
from mailrelay.config.params import host_interfaces, select_interfaces
from mailrelay.mail.hostname import valid_hostaddr, valid_hostname
from mailrelay.route import mx
from mailrelay.route.mx import Address, DnsStatus, Failure, Lookup, Ordering
from mailrelay.route.nexthop import Nexthop

#: ``IP:PORT`` of the one DNS server to use instead of /etc/resolv.conf's.
DNS_SERVER_ENV = "MAILRELAY_DNS_SERVER"
SMTP_PORT = 25
_PERMANENT_RCODES = frozenset({dns.rcode.REFUSED, dns.rcode.NOTIMP, dns.rcode.FORMERR})


@dataclass(frozen=True, slots=True)
class Target:
    #: MX host name, or the bracketed nexthop's host: for logs and TLS names.
    hostname: str
    #: IP address literal.
    address: str
    port: int
    #: MX preference; 0 for [host] and for the A/AAAA fallback.
    preference: int


class LookupFailure(Exception):
    """No address to try: ``reason`` is Postfix's text, ``dsn`` its enhanced status code."""

    def __init__(self, reason: str, dsn: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.dsn = dsn

    @property
    def permanent(self) -> bool:
        return self.dsn.startswith("5")


@dataclass(frozen=True, slots=True)
class LookupSettings:
    """The parameters the lookup reads, once per configuration."""

    ordering: Ordering
    #: Address record types to ask, in Postfix's order (A before AAAA).
    rrtypes: tuple[str, ...]
    #: MX lookups at all (smtp_dns_support_level / disable_dns_lookups).
    dns: bool
    #: smtp_host_lookup: ask DNS and/or the system resolver for host addresses.
    host_dns: bool
    host_native: bool
    #: This host's addresses, normal form: MX lists that contain them are cut there.
    own: frozenset[str]
    defer_if_no_mx_address: bool
    cname_overrides_servername: bool

    @classmethod
    def from_config(cls, config: Config) -> LookupSettings:
        protocols = {p.lower() for p in config.get_list("inet_protocols")}
        if not protocols or protocols & {"all", "both"}:
            protocols = {"ipv4", "ipv6"}
        rrtypes = tuple(t for p, t in (("ipv4", "A"), ("ipv6", "AAAA")) if p in protocols)
        level = config.get_str("smtp_dns_support_level").strip().lower()
        dns_on = level != "disabled" and not (not level and config.get_bool("disable_dns_lookups"))
        lookup = {w.lower() for w in config.get_list("smtp_host_lookup")}
        preference = config.get_str("smtp_address_preference").strip().lower()
        ordering = Ordering(
            preference=mx.AddressPreference(preference)
            if preference in ("ipv4", "ipv6") else mx.AddressPreference.ANY,
            randomize=config.get_bool("smtp_randomize_addresses"),
            balance=config.get_bool("smtp_balance_inet_protocols"),
            address_limit=config.get_int("smtp_mx_address_limit"),
            dual_stack=len(rrtypes) == 2,
        )
        return cls(ordering, rrtypes, dns_on, host_dns=dns_on and "dns" in lookup,
                   host_native=not dns_on or "native" in lookup,
                   own=_own_addresses(config),
                   defer_if_no_mx_address=config.get_bool("smtp_defer_if_no_mx_address_found"),
                   cname_overrides_servername=config.get_bool(
                       "smtp_cname_overrides_servername"))


def _own_addresses(config: Config) -> frozenset[str]:
    """Postfix's own_inet_addr_list() plus proxy_inet_addr_list() (address literals)."""
    interfaces = " ".join(config.get_list("inet_interfaces"))
    protocols = " ".join(config.get_list("inet_protocols"))
    chosen = select_interfaces(host_interfaces(), interfaces, protocols)
    literals = config.get_list("inet_interfaces") + config.get_list("proxy_interfaces")
    return mx.own_addresses([str(i.ip) for i in chosen] + literals)


def dns_server_from_environment() -> tuple[str, int] | None:
    """``MAILRELAY_DNS_SERVER=IP:PORT`` (``[::1]:53`` for IPv6), or None when unset."""
    value = os.environ.get(DNS_SERVER_ENV, "").strip()
    if not value:
        return None
    host, colon, port = value.rpartition(":")
    if not colon or not port.isdigit():
        raise ValueError(f"{DNS_SERVER_ENV}={value}: expected IP:PORT")
    return host.strip("[]"), int(port)


class MxResolver:
    """Nexthop -> targets, over dnspython's asyncio resolver."""

    def __init__(self, settings: LookupSettings, server: tuple[str, int] | None = None, *,
                 timeout: float = 5.0, lifetime: float = 10.0,
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        if server is None:
            self._resolver = dns.asyncresolver.Resolver()
        else:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [server[0]]
            self._resolver.port = server[1]
        self._resolver.timeout = timeout
        self._resolver.lifetime = lifetime
        self._rng = rng or random.Random()

    @classmethod
    def from_config(cls, config: Config) -> MxResolver:
        return cls(LookupSettings.from_config(config), dns_server_from_environment())

    async def targets(self, nexthop: Nexthop, default_port: int) -> list[Target]:
        """The addresses to try, best first; LookupFailure when there are none."""
        port = nexthop.port if nexthop.port is not None else default_port
        loop_detect = port == SMTP_PORT
        host = _ascii(nexthop.host)
        if nexthop.mx and self.settings.dns:
            result = await self._domain(host, loop_detect)
        else:
            result = await self._host(host, loop_detect)
        if isinstance(result, Failure):
            raise LookupFailure(result.reason, result.dsn)
        return [Target(a.hostname, a.address, port, a.preference) for a in result]

    # -- smtp_domain_addr(): MX hosts ----------------------------------------------------------

    async def _domain(self, name: str, loop_detect: bool) -> list[Address] | Failure:
        answer = await self._query(name, "MX")
        if answer.status is DnsStatus.NOTFOUND:
            return await self._host(name, loop_detect)
        if answer.status is not DnsStatus.OK:
            dsn = {DnsStatus.NULLMX: "5.1.0", DnsStatus.FAIL: "5.4.3",
                   DnsStatus.INVAL: "5.4.4"}.get(answer.status, "4.4.3")
            return Failure(answer.reason, dsn)
        exchangers = mx.parse_mx(answer.records)
        addresses, failure = await self._exchanger_addresses(exchangers)
        if not addresses:
            assert failure is not None
            if self.settings.defer_if_no_mx_address and failure.permanent:
                failure = Failure(failure.reason, "4" + failure.dsn[1:])
            return failure
        if loop_detect:
            kept = mx.truncate_at_self(name, addresses, self.settings.own, exchangers[0][0])
            if isinstance(kept, Failure):
                return kept
            addresses = kept
        return mx.arrange(addresses, self.settings.ordering, self._rng)

    async def _exchanger_addresses(self, exchangers: list[tuple[int, str]],
                                   ) -> tuple[list[Address], Failure | None]:
        """Every MX host's addresses in MX order; the failure that counts if none has one."""
        lookups = await asyncio.gather(*(self._addresses(host, pref)
                                         for pref, host in exchangers))
        addresses: list[Address] = []
        failure: Failure | None = None
        for found in lookups:
            if isinstance(found, Failure):
                # A soft error dominates past and future hard errors; the text is the last.
                soft = failure is not None and not failure.permanent
                failure = Failure(found.reason, "4" + found.dsn[1:]) if soft else found
            else:
                addresses.extend(found)
        return addresses, failure

    # -- smtp_host_addr(): one host ------------------------------------------------------------

    async def _host(self, name: str, loop_detect: bool) -> list[Address] | Failure:
        found = await self._addresses(name, 0)
        if isinstance(found, Failure):
            return found
        if loop_detect and mx.find_self(found, self.settings.own) is not None:
            return Failure(mx.loops_back(name), "5.4.6")
        ordering = self.settings.ordering
        return mx.arrange(found, ordering, self._rng, sort=ordering.dual_stack)

    async def _addresses(self, host: str, preference: int) -> list[Address] | Failure:
        """smtp_addr_one(): an address literal, else DNS, else (optionally) the system."""
        if valid_hostaddr(host):
            if _family_enabled(host, self.settings.rrtypes):
                return [Address(host, host, preference)]
            return Failure(mx.invalid_name(host), "5.4.4")
        failure = Failure(mx.invalid_name(host), "5.4.4")
        if self.settings.host_dns:
            answer = mx.combine([await self._query(host, t) for t in self.settings.rrtypes])
            if answer.status is DnsStatus.OK:
                name = answer.canonical if self.settings.cname_overrides_servername else host
                return [Address(name or host, a, preference) for a in answer.records]
            dsn = {DnsStatus.RETRY: "4.4.3", DnsStatus.FAIL: "5.4.3"}.get(answer.status,
                                                                          "5.4.4")
            failure = Failure(answer.reason, dsn)
            if answer.status is not DnsStatus.NOTFOUND:
                return failure
        if self.settings.host_native:
            return await self._native(host, preference)
        return failure

    async def _native(self, host: str, preference: int) -> list[Address] | Failure:
        """getaddrinfo(): /etc/hosts and whatever nsswitch.conf says."""
        families: dict[tuple[str, ...], int] = {("A",): socket.AF_INET,
                                                ("AAAA",): socket.AF_INET6}
        family = families.get(self.settings.rrtypes, socket.AF_UNSPEC)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, family=family, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            nohost = e.errno in (socket.EAI_AGAIN, socket.EAI_NONAME,
                                 getattr(socket, "EAI_NODATA", socket.EAI_NONAME))
            retry = e.errno in (socket.EAI_AGAIN, socket.EAI_MEMORY, socket.EAI_SYSTEM)
            dsn = ("4.4.4" if nohost else "4.3.0") if retry else ("5.4.4" if nohost else "5.3.0")
            return Failure(f"unable to look up host {host}: {e.strerror}", dsn)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            return Failure(f"{host}: host not found", "5.4.4")
        return [Address(host, a, preference) for a in addresses]

    # -- one query -----------------------------------------------------------------------------

    async def _query(self, name: str, rrtype: str) -> Lookup:
        if name != "." and not valid_hostname(name):
            return Lookup(DnsStatus.NOTFOUND, reason=mx.invalid_name(name))
        try:
            answer = await self._resolver.resolve(name, rrtype, search=False)
        except dns.resolver.NXDOMAIN:
            return _error(DnsStatus.NOTFOUND, name, rrtype, mx.HOST_NOT_FOUND)
        except dns.resolver.NoAnswer:
            return _error(DnsStatus.NOTFOUND, name, rrtype, mx.NO_DATA)
        except dns.resolver.NoNameservers as e:
            if _all_refused(e):
                return _error(DnsStatus.FAIL, name, rrtype, mx.NO_RECOVERY)
            return _error(DnsStatus.RETRY, name, rrtype, mx.TRY_AGAIN)
        except (dns.exception.FormError, dns.exception.SyntaxError):
            return Lookup(DnsStatus.RETRY, reason=mx.malformed_reply(name, rrtype))
        except dns.exception.DNSException:  # timeouts and the rest: try again later
            return _error(DnsStatus.RETRY, name, rrtype, mx.TRY_AGAIN)
        canonical = answer.canonical_name.to_text(omit_final_dot=True)
        if rrtype == "MX":
            records = []
            for rdata in answer:
                exchange = rdata.exchange
                if exchange == dns.name.root:
                    return Lookup(DnsStatus.NULLMX, reason=mx.null_mx(name))
                records.append(f"{rdata.preference} {exchange.to_text(omit_final_dot=True)}")
            return Lookup(DnsStatus.OK, tuple(records), canonical=canonical)
        return Lookup(DnsStatus.OK, tuple(str(rdata.address) for rdata in answer),
                      canonical=canonical)


def _error(status: DnsStatus, name: str, rrtype: str, error: str) -> Lookup:
    return Lookup(status, reason=mx.name_service_error(name, rrtype, error))


def _all_refused(error: dns.resolver.NoNameservers) -> bool:
    """Every server refused (REFUSED, NOTIMP, FORMERR): the resolver's NO_RECOVERY."""
    codes = set()
    for entry in error.kwargs.get("errors", []):
        message = entry[-1]
        codes.add(message.rcode() if hasattr(message, "rcode") else None)
    return bool(codes) and codes <= _PERMANENT_RCODES


def _ascii(name: str) -> str:
    """An internationalized domain name in its A-label form (as Postfix's midna_domain)."""
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name  # the query reports it as an invalid name


def _family_enabled(address: str, rrtypes: tuple[str, ...]) -> bool:
    return ("AAAA" if ":" in address else "A") in rrtypes
