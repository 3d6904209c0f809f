"""Which servers the smtp client tries, in which order: Postfix's smtp_addr.c rules, pure.

Theory of operation.  The DNS shell (:mod:`mailrelay.delivery.dns`) asks the questions and
hands the answers to this module, which decides as Postfix's smtp(8) does:

* every candidate is an :class:`Address` -- the server's host name, one IP address and the
  MX preference it inherits (0 for ``[host]`` and for the A/AAAA fallback);
* the MX hosts are visited in preference order and their addresses appended in that order;
  a lookup problem with one MX host is ignored when another one has an address (a soft
  problem then still decides the status when none has: "a soft error dominates");
* when this host is one of the MX hosts (its address is one of ``inet_interfaces`` or
  ``proxy_interfaces``), the list is cut before the first address with that preference;
  nothing left means "mail for X loops back to myself" (we are the best MX) or "unable to
  find primary relay for X" (better MX hosts have no address);
* then, when there is more than one address: shuffled (``smtp_randomize_addresses``), sorted
  by preference -- and by address family for ``smtp_address_preference = ipv4|ipv6`` --
  with a stable sort, so equal preferences stay shuffled; then the two families are
  balanced within ``smtp_mx_address_limit`` (``smtp_balance_inet_protocols``) so that one
  family cannot crowd out the other;
* finally the list is cut at ``smtp_mx_address_limit``.  ``smtp_mx_session_limit`` (how
  many of them get an SMTP session) is the smtp agent's business.

The texts and enhanced status codes are Postfix's (dns_lookup.c, smtp_addr.c): a failed
lookup says ``Host or domain name not found. Name service error for name=example.invalid
type=A: Host not found`` -- with the type of the *last* query asked, which for a domain
without MX records is the address query of the fallback, not MX.
"""

from __future__ import annotations

import enum
import ipaddress
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class DnsStatus(enum.IntEnum):
    """A lookup's outcome, ranked as Postfix ranks them when several queries are combined
    (A then AAAA): the highest wins, NOTFOUND only when every query said so."""

    NOTFOUND = -7
    NULLMX = -5
    FAIL = -4
    INVAL = -3
    RETRY = -2
    OK = 0


#: dns_strerror(): the resolver's h_errno texts.
HOST_NOT_FOUND = "Host not found"
TRY_AGAIN = "Host not found, try again"
NO_RECOVERY = "Non-recoverable error"
NO_DATA = "Host found but no data record of requested type"


def name_service_error(name: str, rrtype: str, error: str) -> str:
    return ("Host or domain name not found. "
            f"Name service error for name={name} type={rrtype}: {error}")


def malformed_reply(name: str, rrtype: str) -> str:
    return (f"Name service error for name={name} type={rrtype}: "
            "Malformed or unexpected name server reply")


def invalid_name(name: str) -> str:
    return f"Name service error for {name}: invalid host or domain name"


def null_mx(name: str) -> str:
    return f"Domain {name} does not accept mail (nullMX)"


def loops_back(name: str) -> str:
    return f"mail for {name} loops back to myself"


def no_primary_relay(name: str) -> str:
    return f"unable to find primary relay for {name}"


@dataclass(frozen=True, slots=True)
class Lookup:
    """One name's answer: the records (addresses, or ``(preference, host)`` text for MX)."""

    status: DnsStatus
    records: tuple[str, ...] = ()
    #: Postfix's text when status is not OK.
    reason: str = ""
    #: The name the answer is for after CNAMEs (for smtp_cname_overrides_servername).
    canonical: str = ""


def combine(lookups: Sequence[Lookup]) -> Lookup:
    """dns_lookup_rl(): several queries for one name (A, AAAA) as one answer."""
    records = tuple(r for lookup in lookups for r in lookup.records)
    if any(lookup.status is DnsStatus.OK for lookup in lookups):
        canonical = next(lk.canonical for lk in lookups if lk.status is DnsStatus.OK)
        return Lookup(DnsStatus.OK, records, canonical=canonical)
    best = lookups[-1]
    for lookup in lookups[:-1]:
        if lookup.status > best.status:
            best = lookup
    return best


@dataclass(frozen=True, slots=True)
class Address:
    hostname: str
    address: str
    preference: int

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.address).version


class AddressPreference(enum.Enum):
    ANY = "any"
    IPV4 = "ipv4"
    IPV6 = "ipv6"


@dataclass(frozen=True, slots=True)
class Ordering:
    """The parameters that order and cut the address list."""

    preference: AddressPreference = AddressPreference.ANY
    randomize: bool = True
    balance: bool = True
    #: smtp_mx_address_limit; 0 means no limit.
    address_limit: int = 5
    #: Both IPv4 and IPv6 are enabled (inet_protocols): only then is [host]'s list sorted.
    dual_stack: bool = False


@dataclass(frozen=True, slots=True)
class Failure:
    """Why there is no address: Postfix's text and enhanced status code."""

    reason: str
    dsn: str

    @property
    def permanent(self) -> bool:
        return self.dsn.startswith("5")


def parse_mx(records: Iterable[str]) -> list[tuple[int, str]]:
    """``"10 mx.example.com"`` texts as (preference, host), in preference order (stable)."""
    parsed = []
    for text in records:
        pref, _, host = text.partition(" ")
        parsed.append((int(pref), host.rstrip(".")))
    return sorted(parsed, key=lambda item: item[0])


def _family_rank(address: Address, preference: AddressPreference) -> int:
    if preference is AddressPreference.IPV4:
        return 0 if address.version == 4 else 1
    if preference is AddressPreference.IPV6:
        return 0 if address.version == 6 else 1
    return 0


def arrange(addresses: Sequence[Address], ordering: Ordering, rng: random.Random,
            *, sort: bool = True) -> list[Address]:
    """Shuffle, sort by preference (and family), balance the families, cut at the limit."""
    result = list(addresses)
    if len(result) > 1:
        if ordering.randomize:
            rng.shuffle(result)
        if sort:
            result.sort(key=lambda a: (a.preference, _family_rank(a, ordering.preference)))
        if ordering.address_limit > 0 and ordering.balance:
            result = balance(result, ordering.address_limit)
    if ordering.address_limit > 0:
        result = result[: ordering.address_limit]
    return result


def balance(addresses: Sequence[Address], limit: int) -> list[Address]:
    """smtp_balance_inet_protocols: keep both families within *limit*, order unchanged.

    When the list is longer than the limit and has both families: a family with at most
    half the limit keeps all its addresses and the other gets the rest; when both have more,
    each gets half (the odd one goes to the family of the first address).
    """
    v4 = sum(1 for a in addresses if a.version == 4)
    v6 = len(addresses) - v4
    if not v4 or not v6 or v4 + v6 <= limit:
        return list(addresses)
    if v6 <= limit // 2:
        keep6 = v6
        keep4 = limit - keep6
    elif v4 <= limit // 2:
        keep4 = v4
        keep6 = limit - keep4
    else:
        keep4 = (limit + (addresses[0].version == 4)) // 2
        keep6 = limit - keep4
    kept: list[Address] = []
    for address in addresses:
        if address.version == 4 and keep4 > 0:
            kept.append(address)
            keep4 -= 1
        elif address.version == 6 and keep6 > 0:
            kept.append(address)
            keep6 -= 1
    return kept


def find_self(addresses: Sequence[Address], own: frozenset[str]) -> Address | None:
    """The first candidate that is this host (an address of inet_/proxy_interfaces)."""
    for address in addresses:
        if _normal(address.address) in own:
            return address
    return None


def truncate_at_self(name: str, addresses: Sequence[Address], own: frozenset[str],
                     best_mx: int) -> list[Address] | Failure:
    """Drop this host and everything not better than it; a Failure when nothing is left.

    *best_mx* is the best preference among the MX records (with or without addresses).
    """
    me = find_self(addresses, own)
    if me is None:
        return list(addresses)
    kept = [a for a in addresses if a.preference < me.preference]
    if kept:
        return kept
    if addresses and addresses[0].preference != best_mx:
        return Failure(no_primary_relay(name), "4.4.4")
    return Failure(loops_back(name), "5.4.6")


def own_addresses(texts: Iterable[str]) -> frozenset[str]:
    """IP address literals (``[::1]``, ``127.0.0.1``) in normal form; names are skipped."""
    found = set()
    for text in texts:
        try:
            found.add(_normal(text.strip("[]")))
        except ValueError:
            continue
    return frozenset(found)


def _normal(address: str) -> str:
    return str(ipaddress.ip_address(address))
