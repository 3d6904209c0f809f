"""Open-relay analysis of smtpd_relay_restrictions and smtpd_recipient_restrictions.

Postfix refuses to run unless one of the two lists holds a "working instance" of a relay
check; we report the same error, and go further: a check that a blanket ``permit`` (or an
access table that may answer OK) precedes is reachable by no untrusted client, so the relay
is open to anyone that list lets through.
"""

from __future__ import annotations

from mailrelay.audit.finding import Finding, error, warning
from mailrelay.config.model import Config
from mailrelay.policy.steps import Step, parse

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
_WORKING = (
    "reject_unauth_destination, defer_unauth_destination, reject, defer, defer_if_permit "
    "or check_relay_domains"
)


def _first_gate(steps: tuple[Step, ...]) -> Step | None:
    """The first step that decides for an untrusted client (permits or stops it), if any.

    An access table (``check_*_access``, or a bare ``type:table``) may answer OK."""
    for step in steps:
        if step.key in STOPPERS or step.key == "permit" or step.key.startswith("check_") \
                or not step.key:
            return step
    return None


def open_relay_findings(config: Config, context: str = "") -> list[Finding]:
    """Error when no list can refuse relaying; warning when both let untrusted clients by.

    Mail is relayed only when it passes both lists, so one list whose first deciding step
    refuses is enough.  A list that ends without deciding permits, as Postfix's do.
    """
    lists = {name: parse(config.get_list(name)) for name in RELAY_CHECKS}
    if not any(step.key in STOPPERS for steps in lists.values() for step in steps):
        return [error(
            f"{context}in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, "
            f"specify at least one working instance of: {_WORKING}",
            config.origin("smtpd_recipient_restrictions"),
            "smtpd_recipient_restrictions",
        )]
    gates = {name: _first_gate(steps) for name, steps in lists.items()}
    if any(gate is not None and gate.key in STOPPERS for gate in gates.values()):
        return []
    findings: list[Finding] = []
    for name, gate in gates.items():
        if gate is None or gate.key == "permit":
            how = "permits" if gate else "ends without refusing"
            text = f"{name} {how} before any relay check"
        else:
            text = f"{name}: an OK from \"{gate}\" comes before any relay check"
        findings.append(warning(
            f"{context}{text}: untrusted clients may relay mail through this server "
            "(open relay)",
            config.origin(name), name,
        ))
    return findings
