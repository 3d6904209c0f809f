"""access(5): the keys each check looks up, in order, and what table answers mean."""

from __future__ import annotations

import pytest
from policy_support import UNTRUSTED, config, request

from mailrelay.maps.registry import open_map
from mailrelay.policy import PolicySettings, Verdict, recipient_stage
from mailrelay.policy.access import (
    CLIENT,
    HELO,
    RECIPIENT,
    SENDER,
    Kind,
    dsn_fix,
    dsn_split,
    dsn_valid,
    parse_value,
)


class RecordingTable:
    """A table of fixed strings (or of patterns) that records every key it is asked."""

    fold_case = True

    def __init__(self, spec: str, answers: dict[str, str] | None = None,
                 is_pattern: bool = False) -> None:
        self.spec = spec
        self.is_pattern = is_pattern
        self.answers = answers or {}
        self.keys: list[str] = []

    def lookup(self, key: str) -> str | None:
        self.keys.append(key)
        return self.answers.get(key.lower())

    def is_stale(self) -> bool:
        return False


def keys_for(restriction: str, *, is_pattern: bool = False, parent: bool = True,
             answers: dict[str, str] | None = None, delimiter: str = "",
             **changes: object) -> list[str]:
    table = RecordingTable("test:map", answers, is_pattern)
    extra = {**UNTRUSTED, "smtpd_client_restrictions": f"{restriction} test:map",
             "recipient_delimiter": delimiter}
    if not parent:
        extra["parent_domain_matches_subdomains"] = "relay_domains"
    s = PolicySettings.from_config(
        config(extra), opener=lambda spec: table if spec == "test:map" else open_map(spec))
    changes.setdefault("recipient", "root@relay.corp.local")
    result = recipient_stage(s, request(**changes))
    assert isinstance(result, Verdict)
    return table.keys


def test_client_names_then_addresses_with_parent_domains() -> None:
    assert keys_for("check_client_access", client_name="mail.sub.example.com",
                    client_address="192.0.2.1") == [
        "mail.sub.example.com", "sub.example.com", "example.com", "com",
        "192.0.2.1", "192.0.2", "192.0", "192"]


def test_dot_parents_when_access_maps_do_not_match_subdomains() -> None:
    assert keys_for("check_client_access", parent=False, client_name="mail.example.com",
                    client_address="192.0.2.1")[:3] == [
        "mail.example.com", ".example.com", ".com"]


def test_an_unknown_client_name_is_looked_up_as_unknown() -> None:
    assert keys_for("check_client_access", client_name="unknown",
                    client_address="192.0.2.1")[0] == "unknown"


def test_ipv6_client_addresses_lose_one_field_at_a_time() -> None:
    assert keys_for("check_client_access", client_name="unknown",
                    client_address="2001:db8:1::5") == [
        "unknown", "2001:db8:1::5", "2001:db8:1:", "2001:db8:1", "2001:db8", "2001"]


def test_pattern_tables_see_only_the_whole_name_and_address() -> None:
    assert keys_for("check_client_access", is_pattern=True, client_name="a.example.com",
                    client_address="192.0.2.1") == ["a.example.com", "192.0.2.1"]


def test_the_first_key_found_decides_even_with_dunno() -> None:
    assert keys_for("check_client_access", answers={"sub.example.com": "DUNNO"},
                    client_name="mail.sub.example.com", client_address="192.0.2.1") == [
        "mail.sub.example.com", "sub.example.com"]


def test_a_numeric_helo_name_is_looked_up_once() -> None:
    assert keys_for("check_helo_access", helo="192.0.2.1") == ["192.0.2.1"]
    assert keys_for("check_helo_access", helo="a.b.example") == ["a.b.example", "b.example",
                                                                 "example"]


def test_sender_addresses_in_access_5_order_with_an_extension() -> None:
    assert keys_for("check_sender_access", delimiter="+",
                    sender="user+ext@sub.example.com") == [
        "user+ext@sub.example.com", "user@sub.example.com", "sub.example.com", "example.com",
        "com", "user+ext@", "user@"]


def test_pattern_tables_see_only_the_whole_sender_address() -> None:
    assert keys_for("check_sender_access", is_pattern=True, delimiter="+",
                    sender="user+ext@example.com") == ["user+ext@example.com"]


def test_the_null_sender_is_looked_up_with_the_null_access_lookup_key() -> None:
    assert keys_for("check_sender_access", sender="") == ["<>"]


def test_the_recipient_is_looked_up_after_resolving() -> None:
    assert keys_for("check_recipient_access",
                    recipient="user%other.example@relay.corp.local")[0] == "user@other.example"


@pytest.mark.parametrize(("value", "kind", "text"), [
    ("OK", Kind.OK, ""), ("ok trailing text", Kind.OK, "trailing text"),
    ("RELAY", Kind.OK, ""), ("12345", Kind.OK, ""), ("450", Kind.OK, ""),
    ("REJECT", Kind.REJECT, ""), ("reject Go away", Kind.REJECT, "Go away"),
    ("DEFER  later", Kind.DEFER, "later"), ("DUNNO", Kind.DUNNO, ""),
    ("550 5.7.1 No", Kind.NUMERIC, "5.7.1 No"), ("421 Bye", Kind.NUMERIC, "Bye"),
    ("650 No", Kind.RESTRICTIONS, "650 No"), ("permit_mynetworks reject",
                                              Kind.RESTRICTIONS, "permit_mynetworks reject"),
    ("DEFER_IF_PERMIT", Kind.DEFER_IF_PERMIT, ""), ("defer_if_reject x", Kind.DEFER_IF_REJECT,
                                                    "x"),
    ("HOLD", Kind.HOLD, ""), ("DISCARD x", Kind.DISCARD, "x"),
    ("FILTER smtp:[h]:25", Kind.FILTER, "smtp:[h]:25"), ("PREPEND X-A: b", Kind.PREPEND,
                                                        "X-A: b"),
    ("WARN w", Kind.WARN, "w"), ("INFO i", Kind.INFO, "i"), ("BCC a@b", Kind.BCC, "a@b"),
    ("REDIRECT a@b", Kind.REDIRECT, "a@b"),
])
def test_table_values_are_read_as_postfix_reads_them(value: str, kind: Kind,
                                                     text: str) -> None:
    parsed = parse_value(value)
    assert (parsed.kind, parsed.text) == (kind, text)


@pytest.mark.parametrize(("text", "length"), [
    ("5.7.1", 5), ("5.7.1 text", 5), ("4.123.456 x", 9), ("2.0.0", 5), ("3.0.0", 0),
    ("5.7", 0), ("5.7.1x", 0), ("5.1234.1", 0), ("5..1", 0), ("", 0),
])
def test_rfc3463_status_codes_are_recognised(text: str, length: int) -> None:
    assert dsn_valid(text) == length


def test_dsn_split_takes_the_status_from_the_text_or_the_default() -> None:
    assert dsn_split("5.7.1", " 5.1.1  User unknown") == ("5.1.1", "User unknown")
    assert dsn_split("5.7.1", "No thanks") == ("5.7.1", "No thanks")
    assert dsn_split("4.7.1", "") == ("4.7.1", "")


@pytest.mark.parametrize(("status", "reply_class", "fixed"), [
    ("5.1.1", SENDER, "4.1.7"), ("5.1.1", RECIPIENT, "4.1.1"), ("5.1.1", CLIENT, "4.0.0"),
    ("5.1.8", RECIPIENT, "4.1.2"), ("5.1.2", SENDER, "4.1.8"), ("5.1.9", SENDER, "4.1.0"),
    ("5.7.1", SENDER, "5.7.1"), ("4.2.0", HELO, "4.2.0"),
])
def test_address_statuses_are_adapted_to_what_is_refused(status: str, reply_class: str,
                                                        fixed: str) -> None:
    assert dsn_fix(status, reply_class)[0] == fixed


def test_a_changed_status_is_noted_as_postfix_logs_it() -> None:
    assert dsn_fix("5.1.1", CLIENT)[1] == \
        "mapping DSN status 5.1.1 into Client host status 5.0.0"
    assert dsn_fix("5.1.1", RECIPIENT)[1] is None
