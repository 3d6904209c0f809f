"""Client names through the system resolver, with the policy's forward-confirmation logic."""

import asyncio

from mailrelay.policy.request import PeerStatus
from mailrelay.smtpd.peer import PeerNames, arpa_address, rfc_address


def test_arpa_names_give_back_the_address():
    assert arpa_address("9.2.0.192.in-addr.arpa") == "192.0.2.9"
    v6 = ".".join(reversed("20010db8000000000000000000000001")) + ".ip6.arpa"
    assert arpa_address(v6) == "2001:db8::1"


def test_ipv6_addresses_are_shown_with_their_tag():
    assert rfc_address("::1") == "IPv6:::1"
    assert rfc_address("127.0.0.1") == "127.0.0.1"


def test_localhost_is_named_from_etc_hosts_as_postfix_names_it():
    names = asyncio.run(PeerNames().lookup("127.0.0.1"))
    assert (names.name, names.name_status) == ("localhost", PeerStatus.OK)


def test_an_address_without_a_name_is_unknown():
    names = asyncio.run(PeerNames().lookup("127.0.0.2"))
    assert (names.name, names.reverse_name) == ("unknown", "unknown")
    assert names.name_status in (PeerStatus.PERM, PeerStatus.TEMP)
