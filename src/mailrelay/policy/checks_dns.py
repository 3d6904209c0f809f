"""Restrictions that ask DNS: blocklists and "does this name exist".

* ``reject_rbl_client D[=pattern]``: the client address reversed under D has an A record
  (matching the pattern, e.g. ``127.0.0.[2..11]``); the reply comes from rbl_reply_maps or
  default_rbl_reply, with the TXT record as ``$rbl_reason``.  A failed lookup is not a
  listing (Postfix gives the client the benefit of the doubt and logs a warning).
* ``reject_rhsbl_client/reverse_client/helo/sender/recipient D``: the same with a domain
  (the client name, the HELO name, the domain of the address).
* ``reject_unknown_helo_hostname``: no A, AAAA or MX record ("Host not found").
* ``reject_unknown_sender_domain`` / ``reject_unknown_recipient_domain``: no MX, A or AAAA
  record for a domain that is not ours ("Domain not found"); a null MX (RFC 7505) is
  refused with its own reply.  A temporary failure defers (defer_if_permit by default).

Each DNS answer comes from the stage's answers or stops the evaluation with DnsNeeded
(see :mod:`mailrelay.policy.dns`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from mailrelay.mail.hostname import valid_hostname
from mailrelay.maps.base import MapLookupError
from mailrelay.policy import access
from mailrelay.policy.access import dsn_fix, dsn_split
from mailrelay.policy.checks_address import auth_destination
from mailrelay.policy.checks_client import invalid_hostaddr, permit
from mailrelay.policy.dns import (
    DnsQuery,
    DnsStatus,
    Lookup,
    RRType,
    ip_matches,
    lookup_any,
    parse_ip_match,
    reversed_address,
)
from mailrelay.policy.evaluator import Context, ErrorClass, Handler, Run, Status
from mailrelay.policy.request import UNKNOWN
from mailrelay.policy.steps import Step
from mailrelay.policy.template import TemplateError, expand, filtered

_TXT_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Listing:
    txt: str


class _Soft:
    """A blocklist that could not be asked (Postfix's dnsxl_stat_soft)."""


SOFT = _Soft()


def find_dnsxl(run: Run, rbl: str, name: str) -> Listing | _Soft | None:
    """Look *name* up under the list ``domain[=pattern]``: a listing, SOFT, or None."""
    domain, _, pattern = rbl.partition("=")
    query = f"{name}.{domain}"
    result = run.dns(DnsQuery(query, RRType.A))
    if result.status not in (DnsStatus.OK, DnsStatus.NXDOMAIN, DnsStatus.NODATA):
        run.warn(f"{query}: RBL lookup error: {result.reason or result.status.value}")
        return SOFT
    if result.status is not DnsStatus.OK:
        return None
    if pattern:
        allowed = parse_ip_match(pattern)
        if allowed is None:
            run.warn(f'RBL reply error: bad pattern "{pattern}"')
            run.server_error()
        if allowed is None or not any(ip_matches(allowed, a) for a in result.records):
            return None
    txt = run.dns(DnsQuery(query, RRType.TXT))
    text = ""
    if txt.status is DnsStatus.OK:
        text = " / ".join(txt.records)[:_TXT_LIMIT]
    return Listing(text)


def rbl_reject_reply(run: Run, listing: Listing, rbl: str, what: str,
                     reply_class: str) -> Status:
    """The reply for a listed client or domain, from the templates."""
    template = run.settings.flags.default_rbl_reply
    maps = run.settings.rbl_reply_maps
    if maps is not None:
        try:
            template = maps.find(rbl) or template
        except MapLookupError:
            run.server_error()
    why = _expand_rbl(run, template, rbl.partition("=")[0], what, reply_class, listing.txt)
    if len(why) < 4 or why[0] not in "45" or not why[1:3].isdigit() or why[3] != " ":
        run.warn(f"rbl response code configuration error: {why}")
        return run.reject(ErrorClass.POLICY, 450, "4.7.1", "Service unavailable")
    dsn, text = dsn_split("4.7.1", why[4:])
    fixed, note = dsn_fix(dsn, reply_class)
    if note:
        run.info(note)
    return run.reject(ErrorClass.POLICY, int(why[:3]), fixed, text or "Service unavailable")


def _expand_rbl(run: Run, template: str, domain: str, what: str, reply_class: str,
                txt: str) -> str:
    req = run.request
    values = {
        "rbl_code": str(run.settings.codes.maps_rbl_reject_code), "rbl_domain": domain,
        "rbl_reason": txt, "rbl_txt": txt, "rbl_what": what, "rbl_class": reply_class,
        "client_address": req.client_address, "client_name": req.client_name,
        "reverse_client_name": req.reverse_client_name, "client_port": req.client_port,
        "helo_name": run.helo or "", "sender": run.sender or "",
        "recipient": run.recipient or "",
    }
    lookup = filtered(values, run.settings.flags.expansion_filter)
    try:
        return expand(template, lookup)
    except TemplateError:
        run.warn(f"rbl_reject_reply: bad rbl reply template for domain {domain}: {template}")
        return expand(run.settings.flags.default_rbl_reply, lookup)


def _domain_of(what: str) -> str | None:
    """The domain to look up in a right-hand side list, or None to skip (find_dnsxl_domain)."""
    at = what.rfind("@")
    domain = what[at + 1:] if at >= 0 else what
    if not domain or domain.startswith("["):
        return None
    last = domain.rsplit(".", 1)[-1]
    if last == "" or last.isdigit():
        return None  # "No IP queries": skip names ending in a numeric label
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return domain if valid_hostname(domain) else None


def _reject_rbl_domain(run: Run, rbl: str, what: str, reply_class: str) -> Status:
    domain = _domain_of(what)
    if domain is None:
        return Status.DUNNO
    found = find_dnsxl(run, rbl, domain)
    if not isinstance(found, Listing):
        return Status.DUNNO
    return rbl_reject_reply(run, found, rbl, what, reply_class)


def _list_arg(run: Run, step: Step) -> str | None:
    if step.arg is None:
        run.warn(f"restriction {step.name} requires domain name argument")
    return step.arg


def reject_rbl_client(run: Run, step: Step, ctx: Context) -> Status:
    rbl = _list_arg(run, step)
    if rbl is None:
        return Status.DUNNO
    address = run.request.client_address
    found = find_dnsxl(run, rbl, reversed_address(address))
    if not isinstance(found, Listing):
        return Status.DUNNO
    return rbl_reject_reply(run, found, rbl, address, access.CLIENT)


def permit_dnswl_client(run: Run, step: Step, ctx: Context) -> Status:
    rbl = _list_arg(run, step)
    if rbl is None:
        return Status.DUNNO
    # Never let an allow list authorise an unauthorised recipient.
    if run.where == "RCPT" and run.recipient is not None \
            and not auth_destination(run, run.recipient):
        return Status.DUNNO
    found = find_dnsxl(run, rbl, reversed_address(run.request.client_address))
    if found is SOFT:
        return run.defer_if("reject", ErrorClass.POLICY, 450, "4.7.1",
                            f"<{run.request.client_address}>: {access.CLIENT} rejected: "
                            "Service unavailable")
    if isinstance(found, Listing):
        return permit(run, step, Context(run.namaddr, access.CLIENT, ctx.default_check))
    return Status.DUNNO


def _rhsbl(target: str, reply_class: str) -> Handler:
    def handler(run: Run, step: Step, ctx: Context) -> Status:
        rbl = _list_arg(run, step)
        if rbl is None:
            return Status.DUNNO
        req = run.request
        what = {"client": req.client_name, "reverse": req.reverse_client_name,
                "helo": run.helo, "sender": run.sender, "recipient": run.recipient}[target]
        if not what or (target in ("client", "reverse") and what.lower() == UNKNOWN):
            return Status.DUNNO
        return _reject_rbl_domain(run, rbl, what, reply_class)
    return handler


def reject_unknown_helo_hostname(run: Run, step: Step, ctx: Context) -> Status:
    helo = run.helo
    if helo is None:
        return Status.DUNNO
    hctx = Context(helo, access.HELO, ctx.default_check)
    if helo.startswith("["):
        return invalid_hostaddr(run, helo, hctx)
    status = lookup_any(run.answers, helo, (RRType.A, RRType.AAAA, RRType.MX))
    if status in (Lookup.OK, Lookup.NULLMX):
        return Status.DUNNO
    if status is Lookup.RETRY:
        return run.defer_if_permit_or_reject(
            run.settings.flags.unknown_name_defer_if_permit, ErrorClass.POLICY, 450, "4.7.1",
            f"<{helo}>: {access.HELO} rejected: Host not found")
    reason = "Malformed DNS server reply" if status is Lookup.INVAL else "Host not found"
    return run.reject(ErrorClass.POLICY, run.settings.codes.unknown_hostname_reject_code,
                      "4.7.1", f"<{helo}>: {access.HELO} rejected: {reason}")


def reject_unknown_address(run: Run, address: str, reply_class: str) -> Status:
    """reject_unknown_{sender,recipient}_domain for one address."""
    resolved = run.resolve(address)
    if "@" not in resolved.recipient or resolved.address_class.final:
        return Status.DUNNO
    domain = resolved.domain
    if domain.startswith("[") and domain.endswith("]"):
        return Status.DUNNO
    if not domain.isascii():
        with contextlib.suppress(UnicodeError):  # Postfix too looks the name up as is
            domain = domain.encode("idna").decode("ascii")
    status = lookup_any(run.answers, domain, (RRType.MX, RRType.A, RRType.AAAA),
                        frozenset({Lookup.OK, Lookup.INVAL, Lookup.NULLMX}))
    return _mailhost_reply(run, status, address, domain, reply_class)


def _mailhost_reply(run: Run, status: Lookup, address: str, domain: str,
                    reply_class: str) -> Status:
    sender = reply_class == access.SENDER
    if status is Lookup.OK:
        return Status.DUNNO
    if status is Lookup.NULLMX:
        return run.reject(ErrorClass.POLICY, 550 if sender else 556,
                          "4.7.27" if sender else "4.1.10",
                          f"<{address}>: {reply_class} rejected: Domain {domain} "
                          "does not accept mail (nullMX)")
    dsn = "4.1.8" if sender else "4.1.2"
    if status is Lookup.RETRY:
        return run.defer_if_permit_or_reject(
            run.settings.flags.unknown_address_defer_if_permit, ErrorClass.POLICY, 450, dsn,
            f"<{address}>: {reply_class} rejected: Domain not found")
    reason = "Malformed DNS server reply" if status is Lookup.INVAL else "Domain not found"
    return run.reject(ErrorClass.POLICY, run.settings.codes.unknown_address_reject_code, dsn,
                      f"<{address}>: {reply_class} rejected: {reason}")


def reject_unknown_sender_domain(run: Run, step: Step, ctx: Context) -> Status:
    if not run.sender:
        return Status.DUNNO
    return reject_unknown_address(run, run.sender, access.SENDER)


def reject_unknown_recipient_domain(run: Run, step: Step, ctx: Context) -> Status:
    if run.recipient is None:
        return Status.DUNNO
    return reject_unknown_address(run, run.recipient, access.RECIPIENT)


HANDLERS: dict[str, Handler] = {
    "reject_rbl_client": reject_rbl_client,
    "reject_rbl": reject_rbl_client,
    "permit_dnswl_client": permit_dnswl_client,
    "reject_rhsbl_client": _rhsbl("client", access.CLIENT),
    "reject_rhsbl_reverse_client": _rhsbl("reverse", access.REVERSE_CLIENT),
    "reject_rhsbl_helo": _rhsbl("helo", access.HELO),
    "reject_rhsbl_sender": _rhsbl("sender", access.SENDER),
    "reject_rhsbl_recipient": _rhsbl("recipient", access.RECIPIENT),
    "reject_unknown_helo_hostname": reject_unknown_helo_hostname,
    "reject_unknown_hostname": reject_unknown_helo_hostname,
    "reject_unknown_sender_domain": reject_unknown_sender_domain,
    "reject_unknown_address": reject_unknown_sender_domain,
    "reject_unknown_recipient_domain": reject_unknown_recipient_domain,
}
