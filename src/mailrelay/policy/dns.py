"""DNS as the restrictions see it: queries, results, and the :class:`Resolver` protocol.

Theory of operation.  Restrictions such as ``reject_rbl_client`` or
``reject_unknown_sender_domain`` depend on DNS, but the policy layer does no I/O and has no
event loop.  So DNS answers are *inputs*: every stage function takes a mapping of the answers
known so far (:data:`DnsAnswers`).  When a restriction needs an answer that is not in the
mapping, the stage stops and returns :class:`NeedsDns` with the queries it needs; the shell
resolves them (``mailrelay.smtpd.resolver``), adds the results to the mapping and calls the
stage again.  Evaluation is a pure function of its inputs, so the second run takes the same
path up to the point where it stopped and then goes further; a session keeps its answers, so
each name is asked once.  Queries are asked one DNS round at a time, in Postfix's order
(``A`` before ``AAAA`` before ``MX`` for a HELO name; the TXT record of a DNS blocklist only
when the client is listed), so mailrelay sends the queries Postfix would send, no more.

Results use Postfix's categories (dns_lookup): an answer, no such name (NXDOMAIN) or no data,
a temporary failure (SERVFAIL, timeout: "try again"), a permanent failure, or a malformed
reply.  :func:`lookup_any` combines the results of several record types as dns_lookup_l()
does, best result first (OK, RETRY, INVAL, FAIL, null MX, not found).
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


class RRType(enum.Enum):
    A = "A"
    AAAA = "AAAA"
    MX = "MX"
    PTR = "PTR"
    TXT = "TXT"


class DnsStatus(enum.Enum):
    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    #: Temporary failure: SERVFAIL, timeout, no server reachable.
    RETRY = "retry"
    #: Permanent failure other than "not found" (REFUSED, NOTIMP...).
    FAIL = "fail"
    #: A reply that could not be parsed.
    INVAL = "inval"


@dataclass(frozen=True, slots=True)
class DnsQuery:
    name: str
    rrtype: RRType

    def __str__(self) -> str:
        return f"{self.name}/{self.rrtype.value}"


@dataclass(frozen=True, slots=True)
class DnsResult:
    status: DnsStatus
    #: Record data as text: addresses for A/AAAA, names for PTR (no trailing dot),
    #: ``"PREFERENCE HOST"`` for MX, the joined strings of each TXT record.
    records: tuple[str, ...] = ()
    #: Why a lookup failed, for warnings (``Host not found, try again``).
    reason: str = ""


DnsAnswers = Mapping[DnsQuery, DnsResult]


@dataclass(frozen=True, slots=True)
class NeedsDns:
    """Returned by a stage that cannot finish without these answers."""

    queries: frozenset[DnsQuery]


class DnsNeeded(Exception):
    """Raised inside an evaluation; the stage function turns it into :class:`NeedsDns`."""

    def __init__(self, *queries: DnsQuery) -> None:
        super().__init__(", ".join(map(str, queries)))
        self.queries = frozenset(queries)


class Resolver(Protocol):
    """What the shell provides: one query in, one result out, never an exception."""

    async def resolve(self, query: DnsQuery) -> DnsResult: ...


def answer(answers: DnsAnswers, query: DnsQuery) -> DnsResult:
    """The known result of *query*, or :class:`DnsNeeded` to have the shell ask for it."""
    result = answers.get(query)
    if result is None:
        raise DnsNeeded(query)
    return result


# -- combining record types, as dns_lookup_l() does -------------------------------------------


class Lookup(enum.IntEnum):
    """Postfix's dns_lookup() statuses, ranked: a higher value is a better result."""

    NOTFOUND = 1
    NULLMX = 2
    FAIL = 3
    INVAL = 4
    RETRY = 5
    OK = 6


_CATEGORY = {
    DnsStatus.OK: Lookup.OK, DnsStatus.NXDOMAIN: Lookup.NOTFOUND,
    DnsStatus.NODATA: Lookup.NOTFOUND, DnsStatus.RETRY: Lookup.RETRY,
    DnsStatus.FAIL: Lookup.FAIL, DnsStatus.INVAL: Lookup.INVAL,
}


def is_null_mx(result: DnsResult) -> bool:
    """RFC 7505: a single MX record with an empty (root) exchange."""
    if len(result.records) != 1:
        return False
    host = result.records[0].split()[-1] if result.records[0].split() else ""
    return host in ("", ".")


def categorize(query: DnsQuery, result: DnsResult) -> Lookup:
    category = _CATEGORY[result.status]
    if category is Lookup.OK and query.rrtype is RRType.MX and is_null_mx(result):
        return Lookup.NULLMX
    return category


def lookup_any(answers: DnsAnswers, name: str, types: Sequence[RRType],
               stop: frozenset[Lookup] = frozenset({Lookup.OK})) -> Lookup:
    """dns_lookup_l(): try *types* in order until one gives a result in *stop*.

    A missing answer raises :class:`DnsNeeded` for that one record type only, so the shell
    asks exactly what Postfix would ask.  NXDOMAIN ends the search (the name does not exist
    for any type); otherwise the best result over the types tried is returned.
    """
    best: Lookup | None = None
    status = Lookup.NOTFOUND
    for i, rrtype in enumerate(types):
        query = DnsQuery(name, rrtype)
        result = answer(answers, query)
        status = categorize(query, result)
        if status in stop:
            return status
        if i == len(types) - 1 or result.status is DnsStatus.NXDOMAIN:
            break
        best = status if best is None else max(best, status)
    return status if best is None else max(best, status)


# -- DNS blocklist query names --------------------------------------------------------------


def reversed_address(address: str) -> str:
    """``4.3.2.1`` for 1.2.3.4; 32 reversed nibbles for an IPv6 address (RFC 5782)."""
    if ":" in address:
        packed = ipaddress.IPv6Address(address).packed
        return ".".join(f"{b & 0xF:x}.{b >> 4:x}" for b in reversed(packed))
    return ".".join(reversed(address.split(".")))


def parse_ip_match(pattern: str) -> tuple[frozenset[int], ...] | None:
    """Postfix's ip_match_parse(): ``127.0.0.2``, ``127.0.0.[2..11]``, ``127.0.[1;3].[2..4;9]``.

    Each of the four octets is a number or a bracketed list of numbers and ``lo..hi`` ranges
    separated by ``;``.  Returns the allowed values of each octet, or None if malformed.
    """
    octets = pattern.split(".") if "[" not in pattern else _split_octets(pattern)
    if octets is None or len(octets) != 4:
        return None
    allowed: list[frozenset[int]] = []
    for octet in octets:
        values = _octet_values(octet)
        if values is None:
            return None
        allowed.append(values)
    return tuple(allowed)


def _split_octets(pattern: str) -> list[str] | None:
    octets: list[str] = []
    current = ""
    depth = 0
    for ch in pattern:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "." and depth == 0:
            octets.append(current)
            current = ""
        else:
            current += ch
    octets.append(current)
    return octets if depth == 0 else None


def _octet_values(octet: str) -> frozenset[int] | None:
    body = octet[1:-1] if octet.startswith("[") and octet.endswith("]") else None
    items = body.split(";") if body is not None else [octet]
    values: set[int] = set()
    for item in items:
        low, dots, high = item.partition("..")
        if not low.isdigit() or (dots and not high.isdigit()):
            return None
        lo, hi = int(low), int(high) if dots else int(low)
        if lo > hi or hi > 255:
            return None
        values.update(range(lo, hi + 1))
    return frozenset(values)


def ip_matches(allowed: tuple[frozenset[int], ...], address: str) -> bool:
    octets = address.split(".")
    if len(octets) != 4 or not all(o.isdigit() for o in octets):
        return False
    return all(int(o) in values for o, values in zip(octets, allowed, strict=True))
