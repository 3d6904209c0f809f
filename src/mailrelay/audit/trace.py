"""``mailrelay trace``'s pure half: which restriction answered, and what cleanup rewrote.

Theory of operation.  The policy stages return a Verdict (decision and reply) but not the
restriction that produced it, and the daemon must not pay for bookkeeping it never logs.  So
the restriction is found afterwards, by asking the *same* stage function again with
shortened lists: the answering restriction is the first one whose prefix, with every list
evaluated after it emptied, already gives the decision.  A permit is looked for the same way
in the relay and recipient lists, with the list under test evaluated last (a permit in one
of them does not end the other).  Nothing here changes a decision; it only names its cause.
The rewriting follows cleanup(): qualify, canonical maps, masquerading, virtual aliases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from mailrelay.cleanup.canonical import AddressClass
from mailrelay.cleanup.qualify import qualify
from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.config.model import Config
from mailrelay.policy.dns import DnsAnswers
from mailrelay.policy.request import Request
from mailrelay.policy.settings import PolicySettings
from mailrelay.policy.stages import StageResult
from mailrelay.policy.steps import Step
from mailrelay.policy.verdict import Decision, Verdict

#: The restriction lists, by PolicySettings' name for them.
LIST_PARAMETERS = {
    "client": "smtpd_client_restrictions", "helo": "smtpd_helo_restrictions",
    "sender": "smtpd_sender_restrictions", "relay": "smtpd_relay_restrictions",
    "recipient": "smtpd_recipient_restrictions",
}

StageFunction = Callable[[PolicySettings, Request, DnsAnswers], StageResult]


@dataclass(frozen=True, slots=True)
class Finding:
    """One decision: ``stage: decision  [parameter (origin)]``."""

    stage: str
    decision: str
    parameter: str = ""
    origin: str = ""

    def __str__(self) -> str:
        if not self.parameter:
            return f"{self.stage}: {self.decision}"
        return f"{self.stage}: {self.decision}  [{self.parameter} ({self.origin})]"


def where(config: Config, name: str) -> str:
    """``/etc/mailrelay/main.cf:12``, or ``default`` for a parameter main.cf does not set."""
    origin = config.origin(name)
    return f"{origin.file}:{origin.line}" if origin.line else origin.file.strip("()")


def found(config: Config, stage: str, decision: str, parameter: str) -> Finding:
    return Finding(stage, decision, parameter, where(config, parameter))


# -- which restriction answered ---------------------------------------------------------------


def evaluated_lists(settings: PolicySettings, stage: str) -> tuple[str, ...]:
    """The lists *stage* evaluates, in Postfix's order (see policy.stages)."""
    if stage != "recipient":
        return (stage,)
    early = ("client", "helo", "sender") if settings.flags.delay_reject else ()
    late = ("relay", "recipient") if settings.flags.relay_before_recipient \
        else ("recipient", "relay")
    return early + late


def answerer(settings: PolicySettings, stage: str, function: StageFunction,
             request: Request, answers: DnsAnswers, verdict: Verdict) -> tuple[str, Step] | None:
    """(list name, restriction) that gave *verdict*; None when no list restriction did."""
    if stage == "recipient" and verdict.accepted:
        # A permit in the relay list leaves the stage at DUNNO when the recipient list is
        # empty, so the permit is looked for whatever the stage's own decision.
        return _permitter(settings, function, request, answers)
    if verdict.decision is Decision.DUNNO:
        return None
    names = evaluated_lists(settings, stage)
    for i, name in enumerate(names):
        for k, step in enumerate(settings.lists[name]):
            lists = dict(settings.lists)
            lists[name] = settings.lists[name][:k + 1]
            lists.update({later: () for later in names[i + 1:]})
            trial = function(replace(settings, lists=lists), request, answers)
            if isinstance(trial, Verdict) and trial.decision is verdict.decision:
                return name, step
    return None


def _permitter(settings: PolicySettings, function: StageFunction, request: Request,
               answers: DnsAnswers) -> tuple[str, Step] | None:
    for name in ("relay", "recipient"):
        # The unlisted-recipient check runs after both lists and would hide the permit.
        flags = replace(settings.flags, relay_before_recipient=name == "recipient",
                        reject_unlisted_recipient=False)
        for k, step in enumerate(settings.lists[name]):
            lists = {**settings.lists, name: settings.lists[name][:k + 1]}
            trial = function(replace(settings, lists=lists, flags=flags), request, answers)
            if isinstance(trial, Verdict) and trial.decision is Decision.PERMIT:
                return name, step
    return None


def policy_finding(config: Config, settings: PolicySettings, stage: str, verdict: Verdict,
                   cause: tuple[str, Step] | None) -> Finding:
    """The Finding of one stage's verdict, naming the restriction when one answered."""
    text = "accept" if verdict.accepted else verdict.decision.value
    if cause is not None:
        text += f" by {cause[1]}"
    if verdict.reply is not None:
        text += f": {verdict.reply}"
    if cause is not None:
        return found(config, stage, text, LIST_PARAMETERS[cause[0]])
    if verdict.decision is not Decision.DUNNO and stage == "recipient" and \
            settings.flags.reject_unlisted_recipient:
        return found(config, stage, text, "smtpd_reject_unlisted_recipient")
    if verdict.decision is Decision.DUNNO and stage in LIST_PARAMETERS:
        return found(config, stage, text + " (no restriction decided)", LIST_PARAMETERS[stage])
    return Finding(stage, text)


# -- what cleanup rewrites ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rewritten:
    sender: str
    recipients: tuple[str, ...]
    findings: tuple[Finding, ...]


def rewrite(config: Config, settings: CleanupSettings, sender: str,
            recipient: str) -> Rewritten:
    """The envelope as cleanup() would queue it; MapLookupError/CleanupDefer as cleanup."""
    out: list[Finding] = []
    new_sender = _step(out, config, "sender", sender, qualify(sender, settings),
                       _qualifier(sender))
    new_rcpt = _step(out, config, "recipient", recipient, qualify(recipient, settings),
                     _qualifier(recipient))
    if settings.canonical is not None:
        canonical = settings.canonical.open(lambda text: out.append(Finding("warning", text)))
        new_sender = _step(out, config, "sender", new_sender,
                           canonical.envelope_sender(new_sender),
                           _set_one(config, "sender_canonical_maps", "canonical_maps"))
        new_rcpt = _step(out, config, "recipient", new_rcpt,
                         canonical.envelope_recipient(new_rcpt),
                         _set_one(config, "recipient_canonical_maps", "canonical_maps"))
    recipients: tuple[str, ...] = (new_rcpt,)
    masquerade = settings.masquerade
    if masquerade is not None:
        if masquerade.applies(AddressClass.ENVELOPE_SENDER):
            new_sender = _step(out, config, "sender", new_sender,
                               masquerade.address(new_sender), "masquerade_domains")
        if masquerade.applies(AddressClass.ENVELOPE_RECIPIENT):
            recipients = (_step(out, config, "recipient", new_rcpt,
                                masquerade.address(new_rcpt), "masquerade_domains"),)
    if settings.virtual is not None:
        expanded = tuple(settings.virtual.expand(settings.virtual.tables(), recipients[0]))
        if expanded != recipients:
            out.append(found(config, "recipient", f"virtual alias {recipients[0]} -> "
                             + ", ".join(expanded or ("(nothing)",)), "virtual_alias_maps"))
        recipients = expanded
    return Rewritten(new_sender, recipients, tuple(out))


def _step(out: list[Finding], config: Config, stage: str, old: str, new: str,
          parameter: str) -> str:
    if new != old:
        out.append(found(config, stage, f"rewrite <{old}> -> <{new}>", parameter))
    return new


def _set_one(config: Config, specific: str, general: str) -> str:
    """The table parameter that can have rewritten: the specific one when set."""
    return specific if config.get_str(specific).strip() else general


def _qualifier(address: str) -> str:
    """append_at_myorigin adds @$myorigin to a bare name, append_dot_mydomain .$mydomain."""
    return "append_dot_mydomain" if "@" in address else "myorigin"
