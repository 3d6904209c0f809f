"""When each restriction list runs: smtpd_delay_reject, HELO required, list order, carries."""

from __future__ import annotations

from dataclasses import replace

from policy_support import UNTRUSTED, rcpt, request, settings

from mailrelay.policy import (
    Decision,
    Deferrals,
    Verdict,
    client_stage,
    data_stage,
    end_of_data_stage,
    helo_stage,
    recipient_stage,
    sender_stage,
)

REJECT_ALL = {"smtpd_client_restrictions": "reject", "smtpd_helo_restrictions": "reject",
              "smtpd_sender_restrictions": "reject"}
CLIENT_REJECT = "554 5.7.1 <localhost[127.0.0.1]>: Client host rejected: Access denied"


def verdict(result: object) -> Verdict:
    assert isinstance(result, Verdict)
    return result


def test_with_delay_reject_nothing_is_refused_before_rcpt() -> None:
    s = settings({**UNTRUSTED, **REJECT_ALL})
    for stage in (client_stage, helo_stage, sender_stage):
        assert verdict(stage(s, request())).decision is Decision.DUNNO
    assert str(verdict(recipient_stage(s, rcpt("root@relay.corp.local"))).reply) == \
        CLIENT_REJECT


def test_with_delay_reject_client_helo_sender_run_in_that_order_at_rcpt() -> None:
    s = settings({**UNTRUSTED, "smtpd_helo_restrictions": "reject_non_fqdn_helo_hostname",
                  "smtpd_sender_restrictions": "reject_non_fqdn_sender"})
    both_bad = rcpt("root@relay.corp.local", helo="foo", sender="user@host")
    assert "Helo command rejected" in str(verdict(recipient_stage(s, both_bad)).reply)
    sender_bad = replace(both_bad, helo="foo.example")
    assert "Sender address rejected" in str(verdict(recipient_stage(s, sender_bad)).reply)


def test_without_delay_reject_each_list_runs_at_its_own_command() -> None:
    s = settings({**UNTRUSTED, **REJECT_ALL, "smtpd_delay_reject": "no"})
    connect = verdict(client_stage(s, request(helo=None, sender=None, protocol="SMTP")))
    assert str(connect.reply) == CLIENT_REJECT
    assert [str(x) for x in connect.log] == [
        f"NOQUEUE: reject: CONNECT from localhost[127.0.0.1]: {CLIENT_REJECT}; proto=SMTP"]
    helo = verdict(helo_stage(s, request(sender=None, command="EHLO")))
    assert str(helo.reply) == "554 5.7.1 <client.example>: Helo command rejected: " \
                              "Access denied"
    assert str(helo.log[0]).startswith("NOQUEUE: reject: EHLO from localhost[127.0.0.1]")
    mail = verdict(sender_stage(s, request()))
    assert str(mail.reply) == "554 5.7.1 <sender@example.com>: Sender address rejected: " \
                              "Access denied"
    # ...and RCPT does not run them again.
    assert verdict(recipient_stage(s, rcpt("root@relay.corp.local"))).accepted


def test_a_client_without_helo_skips_the_helo_restrictions() -> None:
    s = settings({**UNTRUSTED, "smtpd_helo_restrictions": "reject"})
    assert verdict(recipient_stage(s, rcpt("root@relay.corp.local", helo=None))).accepted


def test_helo_required_refuses_mail_before_helo() -> None:
    s = settings({**UNTRUSTED, "smtpd_helo_required": "yes"})
    refused = verdict(sender_stage(s, request(helo=None)))
    assert str(refused.reply) == "503 5.5.1 Error: send HELO/EHLO first"
    assert refused.log == ()
    assert verdict(sender_stage(s, request())).accepted


def test_relay_restrictions_come_first_unless_told_otherwise() -> None:
    lists = {**UNTRUSTED, "smtpd_recipient_restrictions":
             "check_recipient_access inline:{x@foreign.example=REJECT}"}
    first = verdict(recipient_stage(settings(lists), rcpt("x@foreign.example")))
    assert str(first.reply) == "454 4.7.1 <x@foreign.example>: Relay access denied"
    later = verdict(recipient_stage(
        settings({**lists, "smtpd_relay_before_recipient_restrictions": "no"}),
        rcpt("x@foreign.example")))
    assert str(later.reply) == "554 5.7.1 <x@foreign.example>: Recipient address rejected: " \
                               "Access denied"


def test_postmaster_is_always_accepted() -> None:
    s = settings({**UNTRUSTED, **REJECT_ALL})
    assert verdict(recipient_stage(s, rcpt("PostMaster"))).accepted


def test_a_defer_if_permit_is_carried_to_rcpt_without_delay_reject() -> None:
    s = settings({**UNTRUSTED, "smtpd_delay_reject": "no",
                  "smtpd_client_restrictions": "defer_if_permit"})
    connect = verdict(client_stage(s, request(sender=None, helo=None)))
    assert connect.accepted and connect.deferred is not None
    helo = verdict(helo_stage(s, request(sender=None,
                                         deferrals=Deferrals(client=connect.deferred))))
    mail = verdict(sender_stage(s, request(deferrals=Deferrals(client=connect.deferred,
                                                               helo=helo.deferred))))
    assert mail.deferred == connect.deferred
    at_rcpt = verdict(recipient_stage(s, rcpt("root@relay.corp.local",
                                              deferrals=Deferrals(sender=mail.deferred))))
    assert str(at_rcpt.reply) == "450 4.7.0 <localhost[127.0.0.1]>: Client host rejected: " \
                                 "defer_if_permit requested"
    # Without the carry the same recipient is accepted.
    assert verdict(recipient_stage(s, rcpt("root@relay.corp.local"))).accepted


def test_data_and_end_of_data_restrictions_name_their_stage() -> None:
    s = settings({**UNTRUSTED, "smtpd_data_restrictions": "reject",
                  "smtpd_end_of_data_restrictions": "reject"})
    data = verdict(data_stage(s, rcpt("root@relay.corp.local", rcpt_count=1,
                                      queue_id="4AB12C3D")))
    assert str(data.reply) == "554 5.7.1 <DATA>: Data command rejected: Access denied"
    assert str(data.log[0]).startswith("4AB12C3D: reject: DATA from localhost[127.0.0.1]")
    eod = verdict(end_of_data_stage(s, rcpt("root@relay.corp.local", rcpt_count=2,
                                            command="BDAT")))
    assert str(eod.reply) == "554 5.7.1 <END-OF-MESSAGE>: End-of-data rejected: Access denied"
    assert " to=<" not in str(eod.log[0])
    assert "END-OF-MESSAGE from" in str(eod.log[0])


def test_message_actions_are_returned_to_the_caller() -> None:
    s = settings({**UNTRUSTED, "smtpd_recipient_restrictions":
                  "check_recipient_access inline:{{root@relay.corp.local=FILTER smtp:[x]:25}},"
                  " check_sender_access inline:{{sender@example.com=PREPEND X-Tag: 1}}"})
    v = verdict(recipient_stage(s, rcpt("root@relay.corp.local")))
    assert v.accepted
    assert [(a.kind.value, a.value) for a in v.actions] == [
        ("FILTER", "smtp:[x]:25"), ("PREPEND", "X-Tag: 1")]


def test_discard_stops_the_evaluation_and_accepts() -> None:
    s = settings({**UNTRUSTED, "smtpd_relay_restrictions":
                  "check_recipient_access inline:{x@foreign.example=DISCARD}, "
                  "reject_unauth_destination"})
    v = verdict(recipient_stage(s, rcpt("x@foreign.example")))
    assert v.accepted and v.discard


def test_after_a_discard_the_transaction_accepts_every_recipient_unchecked() -> None:
    s = settings({**UNTRUSTED, "smtpd_relay_restrictions": "reject_unauth_destination"})
    refused = verdict(recipient_stage(s, rcpt("x@foreign.example")))
    assert not refused.accepted
    discarded = verdict(recipient_stage(s, rcpt("x@foreign.example", discard=True)))
    assert discarded.accepted and discarded.log == ()


def test_hold_is_logged_once_per_transaction() -> None:
    s = settings({**UNTRUSTED, "smtpd_client_restrictions":
                  "check_client_access inline:{localhost=HOLD}"})
    first = verdict(recipient_stage(s, rcpt("root@relay.corp.local")))
    assert [a.kind.value for a in first.actions] == ["HOLD"] and len(first.log) == 1
    later = verdict(recipient_stage(s, rcpt("root@relay.corp.local", hold=True)))
    assert later.actions == () and later.log == ()
