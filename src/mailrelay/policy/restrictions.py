"""The table of restriction names: one entry per restriction, one handler function each.

Restriction lists are data (:mod:`mailrelay.policy.steps`) and restrictions are entries in
this table, as DESIGN.md asks ("transitions and commands are data"): the evaluator looks a
name up here, then in ``smtpd_restriction_classes``, and otherwise reports an unknown
restriction as Postfix does.  ``warn_if_reject`` is handled by the evaluator itself.

==========================================  =================================================
generic                                     permit, reject, defer, defer_if_permit,
                                            defer_if_reject, reject_unauth_pipelining,
                                            reject_plaintext_session
client                                      permit_mynetworks, permit_inet_interfaces,
                                            permit_sasl_authenticated, check_client_access,
                                            check_reverse_client_hostname_access,
                                            check_sasl_access, reject_unknown_client_hostname,
                                            reject_unknown_reverse_client_hostname,
                                            reject_rbl_client, permit_dnswl_client,
                                            reject_rhsbl_client, reject_rhsbl_reverse_client
HELO                                        check_helo_access, reject_invalid_helo_hostname,
                                            reject_non_fqdn_helo_hostname,
                                            reject_unknown_helo_hostname, reject_rhsbl_helo
sender                                      check_sender_access, reject_non_fqdn_sender,
                                            reject_unknown_sender_domain, reject_rhsbl_sender,
                                            reject_unlisted_sender,
                                            reject_*_sender_login_mismatch
recipient                                   check_recipient_access, permit_auth_destination,
                                            reject_unauth_destination,
                                            defer_unauth_destination,
                                            reject_non_fqdn_recipient,
                                            reject_unknown_recipient_domain,
                                            reject_rhsbl_recipient, reject_unlisted_recipient,
                                            reject_multi_recipient_bounce
==========================================  =================================================

Postfix's older names (reject_unknown_client, reject_invalid_hostname, reject_rbl...) are
aliases.  Restrictions Postfix has and mailrelay does not (check_policy_service, the
``*_ns/mx/a_access`` checks, permit_mx_backup, address verification, TLS client
certificates) are known by name: they log a warning and defer with "451 4.3.5 Server
configuration error" rather than silently let mail through.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mailrelay.policy import checks_address, checks_client, checks_dns
from mailrelay.policy.evaluator import Handler

HANDLERS: Mapping[str, Handler] = MappingProxyType({
    **checks_client.HANDLERS,
    **checks_address.HANDLERS,
    **checks_dns.HANDLERS,
})


def known(name: str) -> bool:
    """Is *name* a restriction mailrelay knows (``check`` uses this to flag typos)?"""
    return name.lower() in HANDLERS or name.lower() == "warn_if_reject"
