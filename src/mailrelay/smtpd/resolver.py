"""DNS for the SMTP server's policy checks: dnspython's asyncio resolver behind the Resolver
protocol of :mod:`mailrelay.policy.dns`, and the loop that feeds answers to a stage.

SECURITY: this module talks to the network (the DNS servers of /etc/resolv.conf, or those
given).  It only sends queries the policy asked for, and never raises: every failure becomes
a result (temporary or permanent), which the restrictions turn into Postfix's behaviour.

Usage, per connection (the answers are kept for the whole session, so each name is asked
once)::

    resolver = DnsPythonResolver()
    answers: dict[DnsQuery, DnsResult] = {}
    names, answers = await settle(lambda a: client_names(addr, a), resolver, answers)
    verdict, answers = await settle(lambda a: recipient_stage(settings, req, a), resolver,
                                    answers)

Results are classified as Postfix's dns_lookup() does: NXDOMAIN, no data, SERVFAIL or a
timeout ("try again"), REFUSED and other permanent errors, a malformed reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rcode
import dns.resolver

from mailrelay.policy.dns import DnsAnswers, DnsQuery, DnsResult, DnsStatus, NeedsDns, Resolver

T = TypeVar("T")
#: Rounds of queries one evaluation may need (PTR, A; then a blocklist's A and TXT...).
MAX_ROUNDS = 20
_PERMANENT = frozenset({dns.rcode.REFUSED, dns.rcode.NOTIMP, dns.rcode.FORMERR})


class DnsPythonResolver:
    """The policy's Resolver over ``dns.asyncresolver`` (no search list, as Postfix)."""

    def __init__(self, nameservers: Iterable[str] | None = None, port: int = 53,
                 timeout: float = 5.0, lifetime: float = 10.0) -> None:
        if nameservers is None:
            self._resolver = dns.asyncresolver.Resolver()
        else:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = list(nameservers)
            self._resolver.port = port
        self._resolver.timeout = timeout
        self._resolver.lifetime = lifetime

    async def resolve(self, query: DnsQuery) -> DnsResult:
        try:
            response = await self._resolver.resolve(query.name, query.rrtype.value,
                                                    search=False)
        except dns.resolver.NXDOMAIN:
            return DnsResult(DnsStatus.NXDOMAIN, reason="Host not found")
        except dns.resolver.NoAnswer:
            return DnsResult(DnsStatus.NODATA, reason="No address associated with name")
        except dns.resolver.NoNameservers as e:
            return _server_failure(e)
        except dns.exception.Timeout:
            return DnsResult(DnsStatus.RETRY, reason="Host not found, try again")
        except (dns.exception.FormError, dns.exception.SyntaxError) as e:
            return DnsResult(DnsStatus.INVAL, reason=str(e))
        except dns.exception.DNSException as e:
            return DnsResult(DnsStatus.RETRY, reason=str(e) or "Host not found, try again")
        return DnsResult(DnsStatus.OK, tuple(_text(rdata) for rdata in response))


def _server_failure(error: dns.resolver.NoNameservers) -> DnsResult:
    """Every server failed: permanent when each of them refused, else try again."""
    codes = set()
    for entry in error.kwargs.get("errors", []):
        message = entry[-1]
        codes.add(message.rcode() if hasattr(message, "rcode") else None)
    if codes and codes <= _PERMANENT:
        return DnsResult(DnsStatus.FAIL, reason="Non-recoverable name server error")
    return DnsResult(DnsStatus.RETRY, reason="Host not found, try again")


def _text(rdata: object) -> str:
    """Record data as the policy expects it (see DnsResult.records)."""
    exchange = getattr(rdata, "exchange", None)
    if isinstance(exchange, dns.name.Name):
        host = "." if exchange == dns.name.root else exchange.to_text(omit_final_dot=True)
        return f"{getattr(rdata, 'preference', 0)} {host}"
    target = getattr(rdata, "target", None)
    if isinstance(target, dns.name.Name):
        return str(target.to_text(omit_final_dot=True))
    strings = getattr(rdata, "strings", None)
    if strings is not None:
        return b"".join(strings).decode("utf-8", "replace")
    return str(getattr(rdata, "address", rdata))


async def resolve_all(resolver: Resolver, queries: Iterable[DnsQuery]) -> dict[DnsQuery, DnsResult]:
    """Ask several queries at once."""
    wanted = list(queries)
    results = await asyncio.gather(*(resolver.resolve(q) for q in wanted))
    return dict(zip(wanted, results, strict=True))


async def settle(step: Callable[[DnsAnswers], T | NeedsDns], resolver: Resolver,
                 answers: Mapping[DnsQuery, DnsResult] | None = None,
                 ) -> tuple[T, dict[DnsQuery, DnsResult]]:
    """Run a pure step until it no longer needs DNS; return its result and all answers."""
    known = dict(answers or {})
    for _ in range(MAX_ROUNDS):
        result = step(known)
        if not isinstance(result, NeedsDns):
            return result, known
        missing = [q for q in result.queries if q not in known]
        if not missing:
            raise RuntimeError(f"policy step asked again for {sorted(map(str, result.queries))}")
        known.update(await resolve_all(resolver, missing))
    raise RuntimeError(f"policy step still needs DNS after {MAX_ROUNDS} rounds")
