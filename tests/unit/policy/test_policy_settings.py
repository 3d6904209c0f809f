"""Building the policy settings: lists parsed, tables opened once, problems reported."""

from __future__ import annotations

import pytest
from policy_support import ORACLE_MAIN_CF, UNTRUSTED, config, rcpt, settings

from mailrelay.policy import PolicySettings, Verdict, recipient_stage
from mailrelay.policy.steps import Step, parse
from mailrelay.util.diagnostic import Fatal


def test_restriction_lists_are_parsed_with_their_arguments() -> None:
    assert parse("permit_mynetworks, check_client_access hash:/x reject_rbl_client zen.example,"
                 " inline:{a=b} reject") == (
        Step("permit_mynetworks"), Step("check_client_access", "hash:/x"),
        Step("reject_rbl_client", "zen.example"), Step("", "inline:{a=b}"), Step("reject"))
    assert parse("check_sender_access") == (Step("check_sender_access", None),)


def test_a_table_that_cannot_be_opened_stops_the_server() -> None:
    with pytest.raises(Fatal, match="unsupported dictionary type: nosuch"):
        settings({"smtpd_client_restrictions": "check_client_access nosuch:table"})


def test_a_restriction_class_needs_a_definition() -> None:
    with pytest.raises(Fatal, match="restriction class `strict' needs a definition"):
        settings({"smtpd_restriction_classes": "strict"})


def test_a_bad_tempfail_action_is_refused() -> None:
    with pytest.raises(Fatal, match="bad configuration: unknown_address_tempfail_action = x"):
        settings({"unknown_address_tempfail_action": "x"})


def test_an_unusable_recipient_table_turns_its_check_off_with_a_warning() -> None:
    base = ORACLE_MAIN_CF.replace("alias_maps =\n", "")  # the default names nis:mail.aliases
    s = PolicySettings.from_config(config(UNTRUSTED, base=base))
    assert s.recipients.local is None
    assert [w.split(":")[0] for w in s.warnings] == ["local_recipient_maps"]
    result = recipient_stage(s, rcpt("nosuchuser@relay.corp.local"))
    assert isinstance(result, Verdict) and result.accepted


def test_the_system_users_are_the_default_local_recipients() -> None:
    s = settings(UNTRUSTED)
    known = recipient_stage(s, rcpt("root@relay.corp.local"))
    unknown = recipient_stage(s, rcpt("nosuchuser@relay.corp.local"))
    assert isinstance(known, Verdict) and known.accepted
    assert isinstance(unknown, Verdict)
    assert str(unknown.reply) == ("550 5.1.1 <nosuchuser@relay.corp.local>: Recipient address "
                                  "rejected: User unknown in local recipient table")
