"""Restriction lists, parsed once: ``permit_mynetworks, check_client_access hash:x`` → Steps.

A restriction list is split like any Postfix list (commas and/or white space, ``{...}`` kept
whole).  Restrictions that take an argument (a table for ``check_*_access``, a domain for
``reject_rbl_client``...) consume the next word.  A bare ``type:table`` stands for the
access check of the list it is in (``check_client_access`` in smtpd_client_restrictions),
which is decided when the list is evaluated, because a restriction class can be used from
any list.  Names are not validated here: Postfix reports an unknown restriction when it is
reached ("451 4.3.5 Server configuration error"), and so does mailrelay.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailrelay.util.tokens import split_list

#: Restrictions whose argument is a lookup table.
TABLE_ARGUMENT = frozenset({
    "check_client_access", "check_reverse_client_hostname_access", "check_helo_access",
    "check_sender_access", "check_recipient_access", "check_etrn_access",
    "check_sasl_access", "check_ccert_access",
    "check_client_ns_access", "check_client_mx_access", "check_client_a_access",
    "check_reverse_client_hostname_ns_access", "check_reverse_client_hostname_mx_access",
    "check_reverse_client_hostname_a_access",
    "check_helo_ns_access", "check_helo_mx_access", "check_helo_a_access",
    "check_sender_ns_access", "check_sender_mx_access", "check_sender_a_access",
    "check_recipient_ns_access", "check_recipient_mx_access", "check_recipient_a_access",
})
#: Restrictions whose argument is a DNS list domain (or a policy server, a number).
WORD_ARGUMENT = frozenset({
    "reject_rbl_client", "reject_rbl", "permit_dnswl_client", "reject_rhsbl_client",
    "permit_rhswl_client", "reject_rhsbl_reverse_client", "reject_rhsbl_helo",
    "reject_rhsbl_sender", "reject_rhsbl_recipient", "check_policy_service", "sleep",
})
WARN_IF_REJECT = "warn_if_reject"


@dataclass(frozen=True, slots=True)
class Step:
    #: The restriction name as written; ``""`` for a bare ``type:table``.
    name: str
    arg: str | None = None

    @property
    def key(self) -> str:
        return self.name.lower()

    def __str__(self) -> str:
        if not self.name:
            return self.arg or ""
        return f"{self.name} {self.arg}" if self.arg else self.name


def is_table(word: str) -> bool:
    """Postfix's test in generic_checks(): a word with a ``:`` names a table."""
    return ":" in word


def parse(value: str | list[str]) -> tuple[Step, ...]:
    """The steps of a restriction list value (or of its already split words)."""
    words = split_list(value) if isinstance(value, str) else list(value)
    steps: list[Step] = []
    i = 0
    while i < len(words):
        word = words[i]
        lowered = word.lower()
        if lowered in TABLE_ARGUMENT or lowered in WORD_ARGUMENT:
            arg = words[i + 1] if i + 1 < len(words) else None
            steps.append(Step(word, arg))
            i += 2
            continue
        steps.append(Step("", word) if is_table(word) else Step(word))
        i += 1
    return tuple(steps)


def tables(steps: tuple[Step, ...]) -> list[str]:
    """The table specs a list names (to open them before the first session)."""
    return [s.arg for s in steps
            if s.arg is not None and (not s.name or s.key in TABLE_ARGUMENT) and is_table(s.arg)]
