"""smtpd's access policy as pure functions: restriction lists in, a Verdict out (layer 3).

How the SMTP shell uses it::

    settings = PolicySettings.from_config(config)          # once per (re)load
    result = recipient_stage(settings, request, answers)   # at each RCPT TO
    while isinstance(result, NeedsDns):                     # a restriction needs DNS
        answers = {**answers, **await resolve_all(resolver, result.queries)}
        result = recipient_stage(settings, request, answers)
    if not result.accepted:
        send(result.reply)
    log(result.log); keep(result.actions)

(``mailrelay.smtpd.resolver.settle`` is that loop.)  The modules, from the outside in:

* :mod:`.stages` -- client_stage, helo_stage, sender_stage, recipient_stage, data_stage,
  end_of_data_stage, with Postfix's evaluation order and smtpd_delay_reject;
* :mod:`.evaluator` -- the restriction loop (warn_if_reject, defer_if_permit/_reject,
  restriction classes, reply checks and log lines);
* :mod:`.restrictions` -- the table from restriction name to handler, with the handlers in
  :mod:`.checks_client`, :mod:`.checks_address` and :mod:`.checks_dns`;
* :mod:`.tables` and :mod:`.access` -- access(5) lookups and actions;
* :mod:`.resolve` -- where an address goes (relay authorisation, open-relay tricks);
* :mod:`.networks` -- mynetworks, relay_domains and other host lists;
* :mod:`.dns`, :mod:`.peer` -- DNS answers as inputs, the client's verified name;
* :mod:`.anvil` -- connection and rate limits over an injected clock;
* :mod:`.request`, :mod:`.verdict`, :mod:`.settings` -- the values passed in and out.

Nothing here does I/O beyond opening the configured tables when the settings are built.
"""

from mailrelay.policy.dns import DnsAnswers, DnsQuery, DnsResult, DnsStatus, NeedsDns, Resolver
from mailrelay.policy.request import Deferrals, PeerStatus, Request, Stage
from mailrelay.policy.settings import PolicySettings
from mailrelay.policy.stages import (
    StageResult,
    client_stage,
    data_stage,
    end_of_data_stage,
    helo_stage,
    recipient_stage,
    sender_stage,
)
from mailrelay.policy.verdict import Action, ActionKind, Decision, LogLine, Verdict

__all__ = [
    "Action",
    "ActionKind",
    "Decision",
    "Deferrals",
    "DnsAnswers",
    "DnsQuery",
    "DnsResult",
    "DnsStatus",
    "LogLine",
    "NeedsDns",
    "PeerStatus",
    "PolicySettings",
    "Request",
    "Resolver",
    "Stage",
    "StageResult",
    "Verdict",
    "client_stage",
    "data_stage",
    "end_of_data_stage",
    "helo_stage",
    "recipient_stage",
    "sender_stage",
]
