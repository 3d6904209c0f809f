"""Open-relay analysis of smtpd_relay_restrictions and smtpd_recipient_restrictions.

Postfix refuses to run unless one of the two lists holds a "working instance" of a relay
check; we report the same error, and go further: a check that a blanket ``permit`` (or an
access table that may answer OK) precedes is reachable by no untrusted client, so the relay
is open to anyone that list lets through.
"""

from __future__ import annotations

from mailrelay.audit.finding import Finding, error, warning
from mailrelay.config.model import Config

RELAY_CHECKS = ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")

#: Restrictions that stop an unauthorised relay attempt (Postfix's "working instance" list).
STOPPERS = frozenset({
    "reject_unauth_destination", "defer_unauth_destination", "reject", "defer",
    "defer_if_permit", "check_relay_domains",
})
#: Restrictions that can only permit trusted clients: an untrusted one passes them by.
TRUSTED_ONLY = frozenset({
    "permit_mynetworks", "permit_sasl_authenticated", "permit_tls_clientcerts",
    "permit_tls_all_clientcerts",
})
#: Restrictions that take the next list element as their argument.
WITH_ARGUMENT = frozenset({
    "check_client_access", "check_reverse_client_hostname_access", "check_helo_access",
    "check_sender_access", "check_recipient_access", "check_client_a_access",
    "check_client_mx_access", "check_client_ns_access", "check_helo_a_access",
    "check_helo_mx_access", "check_helo_ns_access", "check_sender_a_access",
    "check_sender_mx_access", "check_sender_ns_access", "check_recipient_a_access",
    "check_recipient_mx_access", "check_recipient_ns_access", "check_ccert_access",
    "check_sasl_access", "check_policy_service", "reject_rbl_client", "reject_rhsbl_client",
    "reject_rhsbl_sender", "reject_rhsbl_recipient", "reject_rhsbl_helo",
    "reject_rhsbl_reverse_client", "permit_dnswl_client", "permit_rhswl_client",
    "reject_dnsbl_client",
})

_WORKING = (
    "reject_unauth_destination, defer_unauth_destination, reject, defer, defer_if_permit "
    "or check_relay_domains"
)


def restriction_steps(value: list[str]) -> list[tuple[str, str | None]]:
    """Pair each restriction with its argument (``check_client_access hash:x``)."""
    steps: list[tuple[str, str | None]] = []
    items = iter(value)
    for item in items:
        name = item.lower()
        steps.append((name, next(items, None) if name in WITH_ARGUMENT else None))
    return steps


def _first_gate(steps: list[tuple[str, str | None]]) -> tuple[str, str | None] | None:
    """The first step that decides for an untrusted client (permits or stops it), if any."""
    for name, arg in steps:
        if name in STOPPERS or name == "permit" or name.startswith("check_"):
            return name, arg
    return None


def open_relay_findings(config: Config, context: str = "") -> list[Finding]:
    """Error when no list can refuse relaying; warning when both let untrusted clients by.

    Mail is relayed only when it passes both lists, so one list whose first deciding step
    refuses is enough.  A list that ends without deciding permits, as Postfix's do.
    """
    lists = {name: restriction_steps(config.get_list(name)) for name in RELAY_CHECKS}
    if not any(name in STOPPERS for steps in lists.values() for name, _ in steps):
        return [error(
            f"{context}in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, "
            f"specify at least one working instance of: {_WORKING}",
            config.origin("smtpd_recipient_restrictions"),
            "smtpd_recipient_restrictions",
        )]
    gates = {name: _first_gate(steps) for name, steps in lists.items()}
    if any(gate is not None and gate[0] in STOPPERS for gate in gates.values()):
        return []
    findings: list[Finding] = []
    for name, gate in gates.items():
        if gate is None or gate[0] == "permit":
            how = "permits" if gate else "ends without refusing"
            text = f"{name} {how} before any relay check"
        else:
            text = f"{name}: an OK from \"{gate[0]} {gate[1] or ''}\" comes before any relay check"
        findings.append(warning(
            f"{context}{text}: untrusted clients may relay mail through this server "
            "(open relay)",
            config.origin(name), name,
        ))
    return findings
