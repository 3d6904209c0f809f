"""DNS-based restrictions with a fake resolver: replies (from smtpd_check.c), queries asked.

The stage stops with NeedsDns for each answer it lacks; FakeDns.settle answers and runs it
again, recording the rounds, which shows that only the queries Postfix would send are sent.
"""

from __future__ import annotations

import pytest
from policy_support import UNTRUSTED, FakeDns, rcpt, settings

from mailrelay.policy import DnsQuery, DnsResult, DnsStatus, NeedsDns, PeerStatus, Verdict
from mailrelay.policy import recipient_stage as stage
from mailrelay.policy.dns import (
    Lookup,
    RRType,
    ip_matches,
    lookup_any,
    parse_ip_match,
    reversed_address,
)
from mailrelay.policy.peer import client_names, ptr_query
from mailrelay.policy.template import expand

A, AAAA, MX, TXT, PTR = RRType.A, RRType.AAAA, RRType.MX, RRType.TXT, RRType.PTR
RETRY, NXDOMAIN, NODATA = DnsStatus.RETRY, DnsStatus.NXDOMAIN, DnsStatus.NODATA
OK_RCPT = "root@relay.corp.local"


def run(dns: FakeDns, extra: dict[str, str], **changes: object) -> Verdict:
    s = settings({**UNTRUSTED, **extra})
    changes.setdefault("recipient", OK_RCPT)
    req = rcpt(**changes)  # type: ignore[arg-type]
    return dns.settle(lambda answers: stage(s, req, answers))


def reply(dns: FakeDns, extra: dict[str, str], **changes: object) -> str | None:
    v = run(dns, extra, **changes)
    return None if v.reply is None else str(v.reply)


# -- blocklists ----------------------------------------------------------------------------

RBL = {"smtpd_client_restrictions": "reject_rbl_client zen.example"}
LISTED = "1.0.0.127.zen.example"


def test_a_listed_client_is_refused_with_the_default_rbl_reply_and_txt_reason() -> None:
    dns = FakeDns().add(LISTED, A, "127.0.0.2").add(LISTED, TXT, "see http://zen.example/q")
    v = run(dns, RBL)
    assert str(v.reply) == ("554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked "
                            "using zen.example; see http://zen.example/q")
    assert str(v.log[0]) == (
        "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 Service unavailable; "
        "Client host [127.0.0.1] blocked using zen.example; see http://zen.example/q; "
        "from=<sender@example.com> to=<root@relay.corp.local> proto=ESMTP "
        "helo=<client.example>")
    assert dns.rounds == [{DnsQuery(LISTED, A)}, {DnsQuery(LISTED, TXT)}]


def test_without_txt_record_the_reason_is_left_out() -> None:
    dns = FakeDns().add(LISTED, A, "127.0.0.2")
    assert reply(dns, RBL) == ("554 5.7.1 Service unavailable; Client host [127.0.0.1] "
                               "blocked using zen.example")


def test_a_client_not_listed_costs_one_query() -> None:
    dns = FakeDns()
    assert reply(dns, RBL) is None
    assert dns.rounds == [{DnsQuery(LISTED, A)}]


def test_a_blocklist_that_does_not_answer_lets_the_client_through_with_a_warning() -> None:
    dns = FakeDns().add(LISTED, A, status=RETRY)
    v = run(dns, RBL)
    assert v.accepted
    assert any("1.0.0.127.zen.example: RBL lookup error" in str(x) for x in v.log)


@pytest.mark.parametrize(("answer", "listed"), [("127.0.0.2", True), ("127.0.0.11", True),
                                                ("127.0.0.12", False), ("127.0.1.2", False)])
def test_a_reply_pattern_restricts_which_answers_count(answer: str, listed: bool) -> None:
    dns = FakeDns().add(LISTED, A, answer)
    v = run(dns, {"smtpd_client_restrictions": "reject_rbl_client zen.example=127.0.0.[2..11]"})
    assert v.accepted is not listed


def test_rbl_reply_maps_give_a_reply_per_list() -> None:
    dns = FakeDns().add(LISTED, A, "127.0.0.2")
    # In main.cf an inline table is $-expanded like any value: "$$" keeps a "$" for later.
    extra = {**RBL, "rbl_reply_maps": "inline:{{zen.example=$$rbl_code 5.7.9 Go away "
                                      "$$client_address via $$rbl_domain}}"}
    assert reply(dns, extra) == "554 5.7.9 Go away 127.0.0.1 via zen.example"


def test_a_bad_reply_template_falls_back_to_a_generic_deferral() -> None:
    dns = FakeDns().add(LISTED, A, "127.0.0.2")
    extra = {**RBL, "rbl_reply_maps": "inline:{{zen.example=blocked}}"}
    assert reply(dns, extra) == "450 4.7.1 Service unavailable"


def test_ipv6_clients_are_looked_up_by_reversed_nibbles() -> None:
    assert reversed_address("2001:db8::1") == (
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2")
    dns = FakeDns()
    run(dns, RBL, client_address="2001:db8::1", client_name="unknown")
    assert dns.rounds[0] == {DnsQuery(reversed_address("2001:db8::1") + ".zen.example", A)}


@pytest.mark.parametrize(("restriction", "changes", "query", "what"), [
    ("reject_rhsbl_sender", {"sender": "user@bad.example"}, "bad.example.dbl.example",
     "Sender address [user@bad.example]"),
    ("reject_rhsbl_client", {"client_name": "mail.bad.example"},
     "mail.bad.example.dbl.example", "Client host [mail.bad.example]"),
    ("reject_rhsbl_reverse_client", {"reverse_client_name": "x.bad.example"},
     "x.bad.example.dbl.example", "Unverified Client host [x.bad.example]"),
    ("reject_rhsbl_helo", {"helo": "bad.example"}, "bad.example.dbl.example",
     "Helo command [bad.example]"),
    ("reject_rhsbl_recipient", {"recipient": "root@relay.corp.local"},
     "relay.corp.local.dbl.example", "Recipient address [root@relay.corp.local]"),
])
def test_domain_blocklists_check_the_domain_of_each_kind(
        restriction: str, changes: dict[str, str], query: str, what: str) -> None:
    dns = FakeDns().add(query, A, "127.0.1.2")
    v = run(dns, {"smtpd_client_restrictions": f"{restriction} dbl.example"}, **changes)
    assert str(v.reply) == f"554 5.7.1 Service unavailable; {what} blocked using dbl.example"


@pytest.mark.parametrize("sender", ["user@[192.0.2.1]", "user@host.123", ""])
def test_domain_blocklists_skip_literals_numeric_names_and_the_null_sender(
        sender: str) -> None:
    dns = FakeDns()
    assert reply(dns, {"smtpd_client_restrictions": "reject_rhsbl_sender dbl.example"},
                 sender=sender) is None
    assert dns.rounds == []


def test_an_unknown_client_name_is_not_looked_up_in_a_domain_blocklist() -> None:
    dns = FakeDns()
    assert reply(dns, {"smtpd_client_restrictions": "reject_rhsbl_client dbl.example"},
                 client_name="unknown") is None
    assert dns.rounds == []


def test_a_blocklist_restriction_without_domain_is_skipped_with_a_warning() -> None:
    v = run(FakeDns(), {"smtpd_client_restrictions": "reject_rbl_client"})
    assert v.accepted
    assert "warning: restriction reject_rbl_client requires domain name argument" in [
        str(x) for x in v.log]


# -- names that must exist ------------------------------------------------------------------

HELO = {"smtpd_helo_restrictions": "reject_unknown_helo_hostname"}


def test_a_helo_name_with_an_address_is_fine_after_one_query() -> None:
    dns = FakeDns().add("mail.example", A, "192.0.2.1")
    assert reply(dns, HELO, helo="mail.example") is None
    assert dns.rounds == [{DnsQuery("mail.example", A)}]


def test_a_helo_name_with_only_an_mx_is_fine() -> None:
    dns = FakeDns().add("mail.example", A, status=NODATA).add(
        "mail.example", AAAA, status=NODATA).add("mail.example", MX, "10 mx.example")
    assert reply(dns, HELO, helo="mail.example") is None
    assert [q.rrtype for r in dns.rounds for q in r] == [A, AAAA, MX]


def test_a_helo_name_that_does_not_exist_is_refused_after_one_query() -> None:
    dns = FakeDns()
    assert reply(dns, HELO, helo="nx.example") == \
        "450 4.7.1 <nx.example>: Helo command rejected: Host not found"
    assert dns.rounds == [{DnsQuery("nx.example", A)}]


def test_a_helo_lookup_that_fails_defers_only_if_the_rest_would_permit() -> None:
    dns = FakeDns().add("slow.example", A, status=RETRY)
    assert reply(dns, HELO, helo="slow.example") == \
        "450 4.7.1 <slow.example>: Helo command rejected: Host not found"
    other_reject = {**HELO, "smtpd_recipient_restrictions": "reject"}
    dns = FakeDns().add("slow.example", A, status=RETRY)
    assert reply(dns, other_reject, helo="slow.example") == \
        "554 5.7.1 <root@relay.corp.local>: Recipient address rejected: Access denied"


def test_a_helo_literal_is_checked_for_syntax_not_dns() -> None:
    dns = FakeDns()
    assert reply(dns, HELO, helo="[192.0.2.1]") is None
    assert reply(dns, HELO, helo="[1.2]") == \
        "501 5.5.2 <[1.2]>: Helo command rejected: invalid ip address"
    assert dns.rounds == []


SENDER_DOMAIN = {"smtpd_sender_restrictions": "reject_unknown_sender_domain"}
RCPT_DOMAIN = {"smtpd_recipient_restrictions": "reject_unknown_recipient_domain",
               "mynetworks": "127.0.0.0/8"}


def test_a_sender_domain_with_mx_passes_after_one_query() -> None:
    dns = FakeDns().add("example.com", MX, "10 mx.example.com")
    assert reply(dns, SENDER_DOMAIN) is None
    assert dns.rounds == [{DnsQuery("example.com", MX)}]


def test_a_sender_domain_that_does_not_exist_is_refused() -> None:
    assert reply(FakeDns(), SENDER_DOMAIN) == \
        "450 4.1.8 <sender@example.com>: Sender address rejected: Domain not found"


def test_a_recipient_domain_that_does_not_exist_is_refused() -> None:
    assert reply(FakeDns(), RCPT_DOMAIN, recipient="u@nx.example") == \
        "450 4.1.2 <u@nx.example>: Recipient address rejected: Domain not found"


def test_a_null_mx_is_refused_with_its_own_reply() -> None:
    dns = FakeDns().add("example.com", MX, "0 .")
    assert reply(dns, SENDER_DOMAIN) == ("550 5.7.27 <sender@example.com>: Sender address "
                                         "rejected: Domain example.com does not accept mail "
                                         "(nullMX)")
    dns = FakeDns().add("nomail.example", MX, "0 .")
    assert reply(dns, RCPT_DOMAIN, recipient="u@nomail.example") == (
        "556 5.1.10 <u@nomail.example>: Recipient address rejected: Domain nomail.example "
        "does not accept mail (nullMX)")


def test_a_domain_with_only_an_address_passes() -> None:
    dns = FakeDns().add("example.com", MX, status=NODATA).add("example.com", A, "192.0.2.1")
    assert reply(dns, SENDER_DOMAIN) is None


def test_our_own_domains_and_literals_are_not_looked_up() -> None:
    dns = FakeDns()
    assert reply(dns, SENDER_DOMAIN, sender="root@relay.corp.local") is None
    assert reply(dns, SENDER_DOMAIN, sender="u@[192.0.2.1]") is None
    assert reply(dns, SENDER_DOMAIN, sender="") is None
    assert dns.rounds == []


def test_a_temporary_failure_can_defer_at_once() -> None:
    dns = FakeDns().add("example.com", MX, status=RETRY)
    extra = {**SENDER_DOMAIN, "unknown_address_tempfail_action": "defer",
             "smtpd_recipient_restrictions": "reject"}
    assert reply(dns, extra) == \
        "450 4.1.8 <sender@example.com>: Sender address rejected: Domain not found"


@pytest.mark.parametrize(("status", "code", "restriction"), [
    (PeerStatus.TEMP, 450, "reject_unknown_client_hostname"),
    (PeerStatus.PERM, 550, "reject_unknown_client_hostname"),
    (PeerStatus.FORGED, 550, "reject_unknown_client_hostname"),
])
def test_unknown_client_names_get_postfix_codes(status: PeerStatus, code: int,
                                                restriction: str) -> None:
    v = run(FakeDns(), {"smtpd_client_restrictions": restriction,
                        "unknown_client_reject_code": "550"},
            client_name="unknown", name_status=status, client_address="192.0.2.9")
    assert str(v.reply) == (f"{code} {str(code)[0]}.7.25 Client host rejected: cannot find "
                            "your hostname, [192.0.2.9]")


def test_unknown_reverse_names_get_postfix_codes() -> None:
    for status, code in ((PeerStatus.TEMP, 450), (PeerStatus.PERM, 550)):
        v = run(FakeDns(), {"smtpd_client_restrictions":
                            "reject_unknown_reverse_client_hostname",
                            "unknown_client_reject_code": "550"},
                reverse_client_name="unknown", reverse_name_status=status,
                client_address="192.0.2.9", client_name="unknown")
        assert str(v.reply) == (f"{code} {str(code)[0]}.7.1 Client host rejected: cannot find "
                                "your reverse hostname, [192.0.2.9]")


def test_a_stage_returns_needs_dns_until_it_has_its_answers() -> None:
    s = settings({**UNTRUSTED, **RBL})
    first = stage(s, rcpt(OK_RCPT))
    assert first == NeedsDns(frozenset({DnsQuery(LISTED, A)}))
    answered = stage(s, rcpt(OK_RCPT), {DnsQuery(LISTED, A): DnsResult(NXDOMAIN)})
    assert isinstance(answered, Verdict) and answered.accepted


# -- the client's names ---------------------------------------------------------------------


def names(dns: FakeDns, address: str = "192.0.2.9"):  # type: ignore[no-untyped-def]
    return dns.settle(lambda answers: client_names(address, answers))


def test_a_forward_confirmed_name_is_the_client_name() -> None:
    dns = FakeDns().add("9.2.0.192.in-addr.arpa", PTR, "mail.example.").add(
        "mail.example", A, "192.0.2.8", "192.0.2.9")
    result = names(dns)
    assert (result.name, result.reverse_name, result.name_status) == (
        "mail.example", "mail.example", PeerStatus.OK)


def test_a_name_that_does_not_point_back_is_forged() -> None:
    dns = FakeDns().add("9.2.0.192.in-addr.arpa", PTR, "mail.example").add(
        "mail.example", A, "192.0.2.8")
    result = names(dns)
    assert (result.name, result.reverse_name) == ("unknown", "mail.example")
    assert (result.name_status, result.reverse_name_status) == (PeerStatus.FORGED,
                                                                PeerStatus.OK)


@pytest.mark.parametrize(("ptr_status", "expected"), [(NXDOMAIN, PeerStatus.PERM),
                                                       (RETRY, PeerStatus.TEMP)])
def test_without_ptr_both_names_are_unknown(ptr_status: DnsStatus,
                                            expected: PeerStatus) -> None:
    dns = FakeDns().add("9.2.0.192.in-addr.arpa", PTR, status=ptr_status)
    result = names(dns)
    assert (result.name, result.reverse_name) == ("unknown", "unknown")
    assert result.name_status is result.reverse_name_status is expected


def test_a_ptr_name_that_does_not_resolve_keeps_only_the_reverse_name() -> None:
    dns = FakeDns().add("9.2.0.192.in-addr.arpa", PTR, "mail.example").add(
        "mail.example", A, status=RETRY)
    result = names(dns)
    assert (result.name, result.name_status, result.reverse_name) == (
        "unknown", PeerStatus.TEMP, "mail.example")


def test_ipv6_clients_use_ip6_arpa_and_aaaa() -> None:
    assert ptr_query("2001:db8::1").name.endswith(".ip6.arpa")
    dns = FakeDns().add(ptr_query("2001:db8::1").name, PTR, "v6.example").add(
        "v6.example", AAAA, "2001:db8:0::1")
    assert names(dns, "2001:db8::1").name == "v6.example"


# -- helpers --------------------------------------------------------------------------------


def test_lookup_any_returns_the_best_result_and_stops_at_nxdomain() -> None:
    answers = {DnsQuery("x", A): DnsResult(RETRY), DnsQuery("x", AAAA): DnsResult(NODATA),
               DnsQuery("x", MX): DnsResult(NODATA)}
    assert lookup_any(answers, "x", (A, AAAA, MX)) is Lookup.RETRY
    answers = {DnsQuery("y", A): DnsResult(NXDOMAIN)}
    assert lookup_any(answers, "y", (A, AAAA, MX)) is Lookup.NOTFOUND


@pytest.mark.parametrize(("pattern", "address", "matches"), [
    ("127.0.0.2", "127.0.0.2", True), ("127.0.0.[2..4]", "127.0.0.4", True),
    ("127.0.0.[2..4]", "127.0.0.5", False), ("127.0.[0;1].[2;9]", "127.0.1.9", True),
    ("127.0.[0;1].[2;9]", "127.0.1.8", False),
])
def test_rbl_reply_patterns(pattern: str, address: str, matches: bool) -> None:
    allowed = parse_ip_match(pattern)
    assert allowed is not None
    assert ip_matches(allowed, address) is matches


@pytest.mark.parametrize("pattern", ["127.0.0", "127.0.0.[5..2]", "127.0.0.x", "1.2.3.256"])
def test_bad_rbl_reply_patterns(pattern: str) -> None:
    assert parse_ip_match(pattern) is None


def test_templates_do_not_expand_the_values_they_insert() -> None:
    values = {"a": "$b", "b": "no"}
    assert expand("[$a] [${a}] [$(a)] [${a?yes}] [${c:none}] [$$]", values.get) == \
        "[$b] [$b] [$b] [yes] [none] [$]"
