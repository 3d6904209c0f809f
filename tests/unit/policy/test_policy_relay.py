"""Relay authorisation: where addresses resolve, and every open-relay trick refused."""

from __future__ import annotations

import pytest
from policy_support import UNTRUSTED, rcpt, settings

from mailrelay.policy import Verdict, recipient_stage
from mailrelay.policy.resolve import AddressClass, canonical, resolve

DOMAINS = {"relay_domains": "relaydom.example", "virtual_alias_domains": "valias.example",
           "virtual_mailbox_domains": "vmbox.example", "proxy_interfaces": "192.0.2.25"}


def site(**extra: str):  # type: ignore[no-untyped-def]
    return settings({**DOMAINS, **extra}).site


@pytest.mark.parametrize(("address", "recipient", "cls", "routed"), [
    ("user@foreign.example", "user@foreign.example", AddressClass.DEFAULT, False),
    ("user%foreign.example@relay.corp.local", "user@foreign.example",
     AddressClass.DEFAULT, False),
    ("@relay.corp.local:user@foreign.example", "user@foreign.example",
     AddressClass.DEFAULT, False),
    ("user@foreign.example@relay.corp.local", "user@foreign.example",
     AddressClass.DEFAULT, False),
    ("foreign.example!user@relay.corp.local", "user@foreign.example",
     AddressClass.DEFAULT, False),
    ("a.example!b.example!user@relay.corp.local", "b.example!user@a.example",
     AddressClass.DEFAULT, True),
    ("user%foreign.example@relaydom.example", "user%foreign.example@relaydom.example",
     AddressClass.RELAY, True),
    ("user@relaydom.example", "user@relaydom.example", AddressClass.RELAY, False),
    ("user@sub.relaydom.example", "user@sub.relaydom.example", AddressClass.RELAY, False),
    ("root@relay.corp.local", "root@relay.corp.local", AddressClass.LOCAL, False),
    ("root@RELAY.corp.local.", "root@RELAY.corp.local", AddressClass.LOCAL, False),
    ("root@[127.0.0.1]", "root@[127.0.0.1]", AddressClass.LOCAL, False),
    ("root@[192.0.2.25]", "root@[192.0.2.25]", AddressClass.LOCAL, False),
    ("root@[192.0.2.26]", "root@[192.0.2.26]", AddressClass.DEFAULT, False),
    ("user@valias.example", "user@valias.example", AddressClass.ALIAS, False),
    ("user@vmbox.example", "user@vmbox.example", AddressClass.VIRTUAL, False),
    ("user", "user@corp.local", AddressClass.DEFAULT, False),
    ("a b%foreign.example@relay.corp.local", "a b@foreign.example",
     AddressClass.DEFAULT, False),
    ("@relay.corp.local", "MAILER-DAEMON@relay.corp.local", AddressClass.LOCAL, False),
])
def test_addresses_resolve_as_trivial_rewrite_resolves_them(
        address: str, recipient: str, cls: AddressClass, routed: bool) -> None:
    resolved = resolve(site(), address)
    assert (resolved.recipient, resolved.address_class, resolved.routed) == (
        recipient, cls, routed)


def test_without_the_percent_hack_and_bang_paths_the_operators_stay_and_route() -> None:
    s = site(allow_percent_hack="no", swap_bangpath="no")
    for address in ("user%foreign.example@relay.corp.local",
                    "foreign.example!user@relay.corp.local"):
        resolved = resolve(s, address)
        assert resolved.address_class is AddressClass.LOCAL
        assert resolved.routed
        assert resolved.recipient == address


def test_without_dequoting_a_quoted_at_stays_in_the_local_part_and_routes() -> None:
    resolved = resolve(site(resolve_dequoted_address="no"),
                       "user@foreign.example@relay.corp.local")
    assert resolved.address_class is AddressClass.LOCAL
    assert resolved.routed


def test_canonical_form_appends_myorigin_and_optionally_mydomain() -> None:
    assert canonical(site(), "user") == "user@corp.local"
    assert canonical(site(), "user@host") == "user@host"
    assert canonical(site(append_dot_mydomain="yes"), "user@host") == "user@host.corp.local"
    assert canonical(site(append_dot_mydomain="yes"), "user@[1.2.3.4]") == "user@[1.2.3.4]"
    assert canonical(site(), "") == ""


def test_mydestination_may_be_a_table_and_relay_domains_may_use_dot_style() -> None:
    s = site(mydestination="inline:{relay.corp.local=x}", relay_domains=".relaydom.example",
             parent_domain_matches_subdomains="")
    assert resolve(s, "root@relay.corp.local").address_class is AddressClass.LOCAL
    assert resolve(s, "u@sub.relaydom.example").address_class is AddressClass.RELAY
    assert resolve(s, "u@relaydom.example").address_class is AddressClass.DEFAULT


VECTORS = [
    "user@foreign.example",
    "user%foreign.example@relay.corp.local",
    "user@foreign.example",  # @relay.corp.local:user@foreign.example, route removed by smtpd
    "user@foreign.example@relay.corp.local",  # "user@foreign.example"@relay.corp.local
    "foreign.example!user@relay.corp.local",
    "@relay.corp.local:user@foreign.example",  # in case the route reaches the policy
    "user%foreign.example@relaydom.example",
    "foreign.example!user@relaydom.example",
    "user@foreign.example@relaydom.example",
]


@pytest.mark.parametrize("recipient", VECTORS)
@pytest.mark.parametrize(("relay_list", "code"), [
    ({}, "454 4.7.1"),  # the default smtpd_relay_restrictions: defer_unauth_destination
    ({"smtpd_relay_restrictions": ""}, "554 5.7.1"),  # reject_unauth_destination decides
])
def test_every_open_relay_vector_is_refused_from_an_untrusted_client(
        recipient: str, relay_list: dict[str, str], code: str) -> None:
    result = recipient_stage(settings({**UNTRUSTED, **DOMAINS, **relay_list}), rcpt(recipient))
    assert isinstance(result, Verdict)
    assert result.reply is not None
    assert str(result.reply) == f"{code} <{recipient}>: Relay access denied"


@pytest.mark.parametrize("recipient", VECTORS)
def test_the_same_addresses_are_relayed_for_mynetworks(recipient: str) -> None:
    result = recipient_stage(settings(DOMAINS), rcpt(recipient))
    assert isinstance(result, Verdict) and result.accepted


def test_allow_untrusted_routing_lets_routed_relay_domain_addresses_through() -> None:
    s = settings({**UNTRUSTED, **DOMAINS, "allow_untrusted_routing": "yes"})
    ok = recipient_stage(s, rcpt("user%foreign.example@relaydom.example"))
    refused = recipient_stage(s, rcpt("user%foreign.example@relay.corp.local"))
    assert isinstance(ok, Verdict) and ok.accepted
    assert isinstance(refused, Verdict) and not refused.accepted
