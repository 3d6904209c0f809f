"""One table row per restriction (or behaviour of the evaluator): settings, request, reply.

The replies of restrictions that Postfix could be asked without DNS are also checked against
the captured dialogues (test_policy_oracle.py); these rows add the cases the oracle did not
cover (SASL, TLS, reply validation, classes, errors).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from policy_support import UNTRUSTED, rcpt, request, settings

from mailrelay.policy import Decision, Verdict, recipient_stage
from mailrelay.policy.restrictions import HANDLERS, known
from mailrelay.policy.stages import data_stage

OK_RCPT = "root@relay.corp.local"


def verdict(extra: dict[str, str], **changes: object) -> Verdict:
    values = {**UNTRUSTED, **extra}
    changes.setdefault("recipient", OK_RCPT)
    result = recipient_stage(settings(values), request(**changes))
    assert isinstance(result, Verdict)
    return result


def reply(extra: dict[str, str], **changes: object) -> str | None:
    result = verdict(extra, **changes)
    return None if result.reply is None else str(result.reply)


CLIENT = "<localhost[127.0.0.1]>: Client host rejected:"
ROWS: list[tuple[str, dict[str, str], dict[str, object], str | None]] = [
    ("permit accepts", {"smtpd_client_restrictions": "permit, reject"}, {}, None),
    ("reject", {"smtpd_client_restrictions": "reject"}, {},
     f"554 5.7.1 {CLIENT} Access denied"),
    ("defer", {"smtpd_client_restrictions": "defer"}, {},
     f"450 4.3.2 {CLIENT} Try again later"),
    ("names are case-insensitive", {"smtpd_client_restrictions": "REJECT"}, {},
     f"554 5.7.1 {CLIENT} Access denied"),
    ("plaintext session", {"smtpd_client_restrictions": "reject_plaintext_session"}, {},
     "450 4.7.1 Session encryption is required"),
    ("TLS session", {"smtpd_client_restrictions": "reject_plaintext_session"},
     {"tls": True}, None),
    ("SASL user permitted",
     {"smtpd_sasl_auth_enable": "yes", "smtpd_relay_restrictions":
      "permit_sasl_authenticated, reject_unauth_destination",
      "smtpd_recipient_restrictions": ""},
     {"sasl_username": "alice", "recipient": "x@foreign.example"}, None),
    ("a permit in the relay list does not skip the recipient list",
     {"smtpd_sasl_auth_enable": "yes", "smtpd_relay_restrictions":
      "permit_sasl_authenticated, reject_unauth_destination"},
     {"sasl_username": "alice", "recipient": "x@foreign.example"},
     "554 5.7.1 <x@foreign.example>: Relay access denied"),
    ("SASL off: not permitted",
     {"smtpd_relay_restrictions": "permit_sasl_authenticated, reject_unauth_destination"},
     {"sasl_username": "alice", "recipient": "x@foreign.example"},
     "554 5.7.1 <x@foreign.example>: Relay access denied"),
    ("no SASL user: not permitted",
     {"smtpd_sasl_auth_enable": "yes", "smtpd_relay_restrictions":
      "permit_sasl_authenticated, reject_unauth_destination"},
     {"recipient": "x@foreign.example"}, "554 5.7.1 <x@foreign.example>: Relay access denied"),
    ("check_sasl_access",
     {"smtpd_sasl_auth_enable": "yes",
      "smtpd_client_restrictions": "check_sasl_access inline:{alice=REJECT}"},
     {"sasl_username": "alice"}, "554 5.7.1 <alice>: SASL login name rejected: Access denied"),
    ("permit_inet_interfaces", {"smtpd_client_restrictions": "permit_inet_interfaces, reject"},
     {}, None),
    ("not our interface", {"smtpd_client_restrictions": "permit_inet_interfaces, reject"},
     {"client_address": "192.0.2.9", "client_name": "unknown"},
     "554 5.7.1 <unknown[192.0.2.9]>: Client host rejected: Access denied"),
    ("unknown restriction", {"smtpd_client_restrictions": "no_such_thing"}, {},
     "451 4.3.5 Server configuration error"),
    ("not supported restriction", {"smtpd_client_restrictions": "check_policy_service x:y"},
     {}, "451 4.3.5 Server configuration error"),
    ("access check without a table", {"smtpd_client_restrictions": "check_client_access"},
     {}, "451 4.3.5 Server configuration error"),
    ("bad argument", {"smtpd_client_restrictions": "check_client_access notatable"}, {},
     "451 4.3.5 Server configuration error"),
    ("table lookup failure", {"smtpd_client_restrictions": "check_client_access fail:down"},
     {}, f"451 4.3.5 {CLIENT} Server configuration error"),
    ("mynetworks lookup failure",
     {"mynetworks": "fail:down", "smtpd_client_restrictions": "permit_mynetworks"}, {},
     "451 4.3.0 <localhost[127.0.0.1]>: Temporary lookup failure"),
    ("table in a table answer",
     {"smtpd_client_restrictions": "check_client_access inline:{localhost=hash:/x}"}, {},
     "451 4.3.5 Server configuration error"),
    ("class in a table answer",
     {"smtpd_restriction_classes": "strict", "strict": "reject",
      "smtpd_client_restrictions": "check_client_access inline:{localhost=strict}"}, {},
     f"554 5.7.1 {CLIENT} Access denied"),
    ("class names are case-sensitive",
     {"smtpd_restriction_classes": "strict", "strict": "reject",
      "smtpd_client_restrictions": "STRICT"}, {}, "451 4.3.5 Server configuration error"),
    ("empty answer is OK", {"smtpd_client_restrictions":
                            "check_client_access inline:{{localhost=}}, reject"}, {}, None),
    ("reverse name may not allowlist",
     {"smtpd_client_restrictions":
      "check_reverse_client_hostname_access inline:{localhost=OK}"}, {},
     "451 4.3.5 Server configuration error"),
    ("bad DSN code is replaced",
     {"smtpd_client_restrictions": "reject", "reject_code": "350"}, {},
     "450 4.7.1 Service unavailable"),
    ("unauthorised pipelining", {"smtpd_client_restrictions": "reject_unauth_pipelining"},
     {"improper_pipelining": True},
     f"503 5.5.0 {CLIENT} Improper use of SMTP command pipelining"),
    ("multi-recipient bounce",
     {"smtpd_recipient_restrictions": "reject_multi_recipient_bounce"},
     {"sender": "", "rcpt_count": 1},
     "550 5.5.3 <root@relay.corp.local>: Recipient address rejected: Multi-recipient bounce"),
    ("single-recipient bounce",
     {"smtpd_recipient_restrictions": "reject_multi_recipient_bounce"},
     {"sender": "", "rcpt_count": 0}, None),
    ("login mismatch: not owned",
     {"smtpd_sasl_auth_enable": "yes", "smtpd_sender_login_maps":
      "inline:{sender@example.com=bob}",
      "smtpd_sender_restrictions": "reject_sender_login_mismatch"},
     {"sasl_username": "alice"},
     "553 5.7.1 <sender@example.com>: Sender address rejected: not owned by user alice"),
    ("login mismatch: owner",
     {"smtpd_sasl_auth_enable": "yes", "smtpd_sender_login_maps":
      "inline:{sender@example.com=alice}",
      "smtpd_sender_restrictions": "reject_sender_login_mismatch"},
     {"sasl_username": "ALICE"}, None),
    ("login mismatch: not logged in",
     {"smtpd_sasl_auth_enable": "yes", "smtpd_sender_login_maps":
      "inline:{sender@example.com=alice}",
      "smtpd_sender_restrictions": "reject_unauthenticated_sender_login_mismatch"}, {},
     "553 5.7.1 <sender@example.com>: Sender address rejected: not logged in"),
    ("known sender mismatch: unknown sender is fine",
     {"smtpd_sasl_auth_enable": "yes", "smtpd_sender_login_maps":
      "inline:{other@example.com=alice}",
      "smtpd_sender_restrictions": "reject_known_sender_login_mismatch"},
     {"sasl_username": "bob"}, None),
]


@pytest.mark.parametrize(("about", "extra", "changes", "expected"), ROWS,
                         ids=[r[0] for r in ROWS])
def test_each_restriction_gives_postfix_reply(about: str, extra: dict[str, str],
                                              changes: dict[str, object],
                                              expected: str | None) -> None:
    assert reply(extra, **changes) == expected


def test_a_bad_reply_code_from_a_table_is_a_warning_and_a_generic_deferral() -> None:
    v = verdict({"smtpd_client_restrictions": "check_client_access inline:{{localhost=399 x}}"})
    # "399 x" is not a reply: the value is taken as restriction names, "399" is unknown.
    assert str(v.reply) == "451 4.3.5 Server configuration error"
    assert 'warning: unknown smtpd restriction: "399"' in [str(x) for x in v.log]


def test_a_bad_configured_code_is_logged_and_replaced() -> None:
    v = verdict({"smtpd_client_restrictions": "reject", "reject_code": "250"})
    assert str(v.reply) == "450 4.7.1 Service unavailable"
    assert any("SMTP reply code configuration error: 250 5.7.1" in str(x) for x in v.log)


def test_warn_if_reject_covers_a_whole_restriction_class() -> None:
    v = verdict({"smtpd_restriction_classes": "strict", "strict": "reject_non_fqdn_sender",
                 "smtpd_client_restrictions": "warn_if_reject, strict"}, sender="user@host")
    assert v.accepted
    assert [str(x).split(": ", 3)[1] for x in v.log] == ["reject_warning"]


def test_warn_if_reject_applies_only_to_the_next_restriction() -> None:
    v = verdict({"smtpd_client_restrictions": "warn_if_reject, permit_mynetworks, reject"})
    assert v.decision is Decision.REJECT


def test_defer_if_reject_turns_a_later_reject_into_its_deferral() -> None:
    v = verdict({"smtpd_client_restrictions": "defer_if_reject, defer_if_reject, reject"})
    assert str(v.reply) == f"450 4.7.0 {CLIENT} defer_if_reject requested"


def test_a_defer_if_permit_still_lets_a_reject_through() -> None:
    v = verdict({"smtpd_client_restrictions": "defer_if_permit",
                 "smtpd_recipient_restrictions": "reject"})
    assert str(v.reply) == "554 5.7.1 <root@relay.corp.local>: Recipient address rejected: " \
                           "Access denied"


def test_defer_if_permit_becomes_the_reply_when_all_else_accepts() -> None:
    v = verdict({"smtpd_sender_restrictions": "defer_if_permit"})
    assert str(v.reply) == "450 4.7.0 <sender@example.com>: Sender address rejected: " \
                           "defer_if_permit requested"


def test_soft_bounce_turns_every_5xx_into_4xx() -> None:
    v = verdict({"smtpd_recipient_restrictions": "reject_unauth_destination",
                 "soft_bounce": "yes"}, recipient="x@foreign.example")
    assert str(v.reply) == "454 4.7.1 <x@foreign.example>: Relay access denied"


def test_reply_text_is_cut_at_510_characters_and_made_printable() -> None:
    long_text = "x" * 600
    v = verdict({"smtpd_client_restrictions":
                 f"check_client_access inline:{{{{localhost=REJECT a\tb {long_text}}}}}"})
    assert v.reply is not None
    line = str(v.reply)
    assert len(line) == 510
    assert "a b" in line


def test_permit_actions_are_logged_when_asked() -> None:
    v = verdict({"smtpd_log_access_permit_actions": "static:all",
                 "smtpd_client_restrictions": "check_client_access inline:{localhost=OK}"})
    assert v.accepted  # the client list's OK ends that list; RCPT still has its own lists
    assert [str(x) for x in v.log] == [
        "NOQUEUE: permit: RCPT from localhost[127.0.0.1]: action=OK for Client host="
        "localhost[127.0.0.1] from inline:{localhost=OK}; from=<sender@example.com> "
        "to=<root@relay.corp.local> proto=ESMTP helo=<client.example>"]


def test_data_restrictions_see_no_recipient_when_there_are_several() -> None:
    s = settings({**UNTRUSTED, "smtpd_data_restrictions": "check_recipient_access "
                  "inline:{root@relay.corp.local=REJECT}"})
    one = data_stage(s, rcpt(OK_RCPT, rcpt_count=1))
    two = data_stage(s, rcpt(OK_RCPT, rcpt_count=2))
    assert isinstance(one, Verdict) and isinstance(two, Verdict)
    assert str(one.reply) == "554 5.7.1 <root@relay.corp.local>: Recipient address " \
                             "rejected: Access denied"
    assert two.accepted


BRIEF = (
    "permit", "reject", "defer", "defer_if_permit", "defer_if_reject", "warn_if_reject",
    "permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination",
    "defer_unauth_destination", "permit_auth_destination", "reject_unauth_pipelining",
    "reject_rbl_client", "reject_rhsbl_sender", "reject_rhsbl_client", "reject_rhsbl_helo",
    "reject_rhsbl_recipient", "reject_unknown_client_hostname",
    "reject_unknown_reverse_client_hostname", "reject_invalid_helo_hostname",
    "reject_non_fqdn_helo_hostname", "reject_unknown_helo_hostname", "reject_non_fqdn_sender",
    "reject_non_fqdn_recipient", "reject_unknown_sender_domain",
    "reject_unknown_recipient_domain", "reject_unlisted_recipient", "reject_unlisted_sender",
    "check_client_access", "check_reverse_client_hostname_access", "check_helo_access",
    "check_sender_access", "check_recipient_access",
)


def test_every_restriction_of_the_brief_is_known() -> None:
    for name in BRIEF:
        assert known(name), name
    assert not known("reject_everything_bad")
    assert all(name == name.lower() for name in HANDLERS)


def test_the_request_is_not_changed_by_evaluation() -> None:
    req = rcpt(OK_RCPT)
    before = replace(req)
    recipient_stage(settings(UNTRUSTED), req)
    assert req == before
