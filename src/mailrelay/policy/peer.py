"""The client's names, as Postfix's smtpd_peer derives them from DNS.

The *reverse* name is what the PTR record says; the *verified* name (``client_name``) is the
reverse name only if that name resolves back to the client's address (forward-confirmed
reverse DNS), else ``unknown``.  Each carries how its lookup went, which is what
``reject_unknown_client_hostname`` (verified name) and
``reject_unknown_reverse_client_hostname`` (PTR only) test:

* no PTR record: both ``unknown``; status TEMP when the lookup failed temporarily, else PERM;
* a PTR name that is numeric (an address): both ``unknown``, PERM;
* the name does not resolve: ``client_name`` is ``unknown``, TEMP or PERM as the lookup went;
* it resolves, but not to the client address: ``unknown``, FORGED.

Like the stages, :func:`client_names` takes the DNS answers known so far and returns
:class:`~mailrelay.policy.dns.NeedsDns` for the next query it needs (PTR, then A or AAAA).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mailrelay.mail.hostname import valid_hostaddr
from mailrelay.policy.dns import (
    DnsAnswers,
    DnsNeeded,
    DnsQuery,
    DnsStatus,
    NeedsDns,
    RRType,
    answer,
    reversed_address,
)
from mailrelay.policy.request import UNKNOWN, PeerStatus


@dataclass(frozen=True, slots=True)
class ClientNames:
    name: str
    reverse_name: str
    name_status: PeerStatus
    reverse_name_status: PeerStatus
    #: What smtpd logs as warnings (``hostname x does not resolve to address y``).
    warnings: tuple[str, ...] = ()


def ptr_query(address: str) -> DnsQuery:
    suffix = "ip6.arpa" if ":" in address else "in-addr.arpa"
    return DnsQuery(f"{reversed_address(address)}.{suffix}", RRType.PTR)


def _status(result_status: DnsStatus) -> PeerStatus:
    return PeerStatus.TEMP if result_status is DnsStatus.RETRY else PeerStatus.PERM


def client_names(address: str, answers: DnsAnswers) -> ClientNames | NeedsDns:
    try:
        return _names(address, answers)
    except DnsNeeded as e:
        return NeedsDns(e.queries)


def _names(address: str, answers: DnsAnswers) -> ClientNames:
    ptr = answer(answers, ptr_query(address))
    if ptr.status is not DnsStatus.OK or not ptr.records:
        status = _status(ptr.status) if ptr.status is not DnsStatus.OK else PeerStatus.PERM
        return ClientNames(UNKNOWN, UNKNOWN, status, status)
    name = ptr.records[0].rstrip(".")
    if valid_hostaddr(name):
        return ClientNames(UNKNOWN, UNKNOWN, PeerStatus.PERM, PeerStatus.PERM,
                           (f"numeric hostname: {name}",))
    rrtype = RRType.AAAA if ":" in address else RRType.A
    forward = answer(answers, DnsQuery(name, rrtype))
    if forward.status is not DnsStatus.OK:
        warning = f"hostname {name} does not resolve to address {address}: " \
                  f"{forward.reason or forward.status.value}"
        return ClientNames(UNKNOWN, name, _status(forward.status), PeerStatus.OK, (warning,))
    client = ipaddress.ip_address(address)
    for record in forward.records:
        try:
            if ipaddress.ip_address(record) == client:
                return ClientNames(name, name, PeerStatus.OK, PeerStatus.OK)
        except ValueError:
            continue
    return ClientNames(UNKNOWN, name, PeerStatus.FORGED, PeerStatus.OK,
                       (f"hostname {name} does not resolve to address {address}",))
