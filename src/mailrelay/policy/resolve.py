"""Where an address goes, as smtpd asks trivial-rewrite: the relay-control half of routing.

Theory of operation.  Before judging a recipient, Postfix's smtpd has the address rewritten
to canonical form and *resolved*: trivial-rewrite strips this machine's own domains off the
right of the address, one at a time, and opens up what is left -- ``user%domain``
(``allow_percent_hack``), ``site!user`` (``swap_bangpath``) and a quoted local part with
``@``, ``%`` or ``!`` in it (``resolve_dequoted_address``) -- until the address names a
remote domain or none.  The outcome (:class:`Resolved`) is the final recipient, its *class*
(local, virtual alias, virtual mailbox, relay, default) and whether routing operators
(``@ ! %``) are still left in its local part (*routed*).  ``permit_auth_destination`` and
``reject_unauth_destination`` use exactly that: a destination is authorised when its class
is final (local or virtual) or relay, and not routed (unless ``allow_untrusted_routing``).

This is why every open-relay trick is refused from an untrusted client::

    user%foreign@relay       -> user@foreign            class default: refused
    "user@foreign"@relay     -> user@foreign            class default: refused
    foreign!user@relay       -> user@foreign            class default: refused
    user%foreign@relaydomain -> user%foreign@relaydomain  relay, but routed: refused

Addresses are in internal (unquoted) form; the local part is treated as a quoted string
when it would need quotes in external form, as Postfix's quote_822_local() + tok822 do, so
operators inside such a local part are only seen by the dequoting step.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Set
from dataclasses import dataclass

from mailrelay.mail.hostname import valid_hostname, valid_mailhost_addr
from mailrelay.maps.lookup import quote_localpart
from mailrelay.policy.networks import HostList

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Enough rounds for any address: each round removes a domain or an operator.
_MAX_ROUNDS = 100


class AddressClass(enum.Enum):
    LOCAL = "local"
    ALIAS = "virtual alias"
    VIRTUAL = "virtual mailbox"
    RELAY = "relay"
    DEFAULT = "default"

    @property
    def final(self) -> bool:
        """Delivered here (RESOLVE_CLASS_FINAL): local, virtual alias or virtual mailbox."""
        return self in (AddressClass.LOCAL, AddressClass.ALIAS, AddressClass.VIRTUAL)


@dataclass(frozen=True, slots=True)
class Site:
    """What trivial-rewrite knows about this machine (from the configuration)."""

    myhostname: str
    myorigin: str
    mydomain: str
    mydestination: HostList
    relay_domains: HostList
    virtual_alias_domains: HostList
    virtual_mailbox_domains: HostList
    #: inet_interfaces and proxy_interfaces addresses: ``user@[addr]`` is local for these.
    own_addresses: Set[_Address]
    append_at_myorigin: bool = True
    append_dot_mydomain: bool = False
    swap_bangpath: bool = True
    allow_percent_hack: bool = True
    resolve_dequoted_address: bool = True
    empty_address_recipient: str = "MAILER-DAEMON"


@dataclass(frozen=True, slots=True)
class Resolved:
    recipient: str
    address_class: AddressClass
    #: Routing operators remain in the local part (RESOLVE_FLAG_ROUTED).
    routed: bool
    #: The final domain is not a valid host name or address literal (RESOLVE_FLAG_ERROR).
    error: bool = False

    @property
    def domain(self) -> str:
        return self.recipient[self.recipient.rfind("@") + 1:]


def needs_quotes(local: str) -> bool:
    return quote_localpart(local, bare=True) != local


def split(address: str) -> tuple[str, str | None]:
    at = address.rfind("@")
    return (address, None) if at < 0 else (address[:at], address[at + 1:])


def resolve_local(site: Site, domain: str) -> bool:
    """Postfix's resolve_local(): mydestination, or a literal of one of our addresses."""
    if domain.endswith("."):
        domain = domain[:-1]
    if not domain or domain.endswith("."):
        return False
    if site.mydestination.match_string(domain):
        return True
    if domain.startswith("[") and domain.endswith("]"):
        bare = valid_mailhost_addr(domain[1:-1])
        if bare is not None:
            return ipaddress.ip_address(bare) in site.own_addresses
    return False


def canonical(site: Site, address: str) -> str:
    """rewrite_clnt in the local context: source route, bang path, percent hack, @myorigin."""
    if address in ("", "@"):
        return ""
    if address.startswith("@") and ":" in address[:-1]:
        address = address[address.index(":") + 1:]
    local, domain = split(address)
    if domain is None and not needs_quotes(local):
        if site.swap_bangpath and "!" in local:
            host, _, user = local.partition("!")
            local, domain = user, host
        elif site.allow_percent_hack and "%" in local:
            local, _, domain = local.rpartition("%")
    if domain is None and site.append_at_myorigin and site.myorigin:
        domain = site.myorigin
    if domain is None:
        return local
    if (site.append_dot_mydomain and site.mydomain and domain and "." not in domain
            and not domain.startswith("[")):
        domain = f"{domain}.{site.mydomain}"
    if len(domain) > 1 and domain.endswith(".") and not domain.endswith(".."):
        domain = domain[:-1]
    return f"{local}@{domain}"


def _dequote(site: Site, local: str) -> str | None:
    """The local part with its last routing operator opened up, when quoted and allowed."""
    if not site.resolve_dequoted_address or not needs_quotes(local):
        return None
    for operator, enabled in (("@", True), ("%", site.allow_percent_hack),
                              ("!", site.swap_bangpath)):
        if enabled and operator in local:
            cut = local.rfind(operator)
            return local[:cut] + ("@" if operator == "%" else operator) + local[cut + 1:]
    return None


def _has_operator(site: Site, local: str) -> bool:
    if needs_quotes(local):
        return False
    return (site.swap_bangpath and "!" in local) or (site.allow_percent_hack and "%" in local)


def resolve(site: Site, address: str) -> Resolved:
    """smtpd_resolve_addr(): canonicalize, then strip local domains and open up routing."""
    local, domain = split(canonical(site, address))
    saved: str | None = None
    for _ in range(_MAX_ROUNDS):
        if domain is not None and len(domain) > 1 and domain.endswith(".") \
                and not domain.endswith(".."):
            domain = domain[:-1]
        if domain == "":
            domain = None
        if domain is not None:
            if not resolve_local(site, domain):
                break
            saved, domain = domain, None
        opened = local if _has_operator(site, local) else _dequote(site, local)
        if opened is not None:
            local, domain = split(canonical(site, opened))
            continue
        break
    if domain is None:
        local = local or site.empty_address_recipient
        recipient = f"{local}@{saved or site.myhostname}"
        address_class = AddressClass.LOCAL
    else:
        recipient = f"{local}@{domain}"
        address_class = _remote_class(site, domain)
    return Resolved(recipient, address_class, _routed(recipient), _bad_domain(recipient))


def _remote_class(site: Site, domain: str) -> AddressClass:
    if site.virtual_alias_domains.match_string(domain):
        return AddressClass.ALIAS
    if site.virtual_mailbox_domains.match_string(domain):
        return AddressClass.VIRTUAL
    if site.relay_domains.match_domain(domain):
        return AddressClass.RELAY
    return AddressClass.DEFAULT


def _routed(recipient: str) -> bool:
    """True when an ``@``, ``!`` or ``%`` comes before the final ``@domain``."""
    at = recipient.rfind("@")
    first = min((i for i in (recipient.find(c) for c in "@!%") if i >= 0), default=at)
    return first != at


def _bad_domain(recipient: str) -> bool:
    domain = recipient[recipient.rfind("@") + 1:]
    if domain.startswith("["):
        return not (domain.endswith("]") and valid_mailhost_addr(domain[1:-1]) is not None)
    return not valid_hostname(domain)
