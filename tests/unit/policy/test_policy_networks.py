"""mynetworks and other host lists; host name syntax as Postfix checks it."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_support import config

from mailrelay.mail.hostname import (
    dup_if_truncate,
    valid_hostaddr,
    valid_hostname,
    valid_mailhost_addr,
    valid_utf8_hostname,
)
from mailrelay.maps.base import MapError
from mailrelay.maps.registry import open_map
from mailrelay.policy.networks import HostList, ListKind
from mailrelay.policy.settings import PolicySettings


def hosts(*items: str, parent: bool = True) -> HostList:
    return HostList.parse("mynetworks", ListKind.HOST, items, open_map, parent_style=parent)


@pytest.mark.parametrize(("items", "name", "address", "match"), [
    (["127.0.0.0/8"], "x", "127.1.2.3", True),
    (["127.0.0.0/8"], "x", "128.0.0.1", False),
    (["192.0.2.1"], "x", "192.0.2.1", True),
    (["[192.0.2.1]"], "x", "192.0.2.1", True),
    (["[2001:db8::]/32"], "x", "2001:db8:1::1", True),
    (["[2001:db8::]/32"], "x", "2001:db9::1", False),
    (["[::1]"], "x", "0:0::1", True),
    (["10.0.0.0/8", "!10.1.0.0/16"], "x", "10.1.2.3", True),  # first match wins
    (["!10.1.0.0/16", "10.0.0.0/8"], "x", "10.1.2.3", False),
    (["!10.1.0.0/16", "10.0.0.0/8"], "x", "10.2.2.3", True),
    (["example.com"], "mail.example.com", "192.0.2.1", True),
    (["example.com"], "mail.example.org", "192.0.2.1", False),
    (["inline:{192.0.2.7=ok}"], "x", "192.0.2.7", True),
    (["inline:{192.0.2=ok}"], "x", "192.0.2.7", False),  # addresses: whole key only
    (["inline:{example.com=ok}"], "a.b.example.com", "192.0.2.7", True),
])
def test_host_lists_match_names_and_addresses(items: list[str], name: str, address: str,
                                              match: bool) -> None:
    assert hosts(*items).match_host(name, address) is match


def test_without_parent_style_only_dot_patterns_match_subdomains() -> None:
    assert not hosts("example.com", parent=False).match_host("a.example.com", "")
    assert hosts(".example.com", parent=False).match_host("a.example.com", "")
    assert not hosts(".example.com", parent=False).match_host("example.com", "")


def test_cidr_tables_match_client_addresses(tmp_path: Path) -> None:
    table = tmp_path / "nets.cidr"
    table.write_text("192.0.2.0/24 ok\n")
    assert hosts(f"cidr:{table}").match_host("x", "192.0.2.7")
    assert not hosts(f"cidr:{table}").match_host("x", "198.51.100.7")


def test_file_patterns_are_read_in_place_and_can_be_negated(tmp_path: Path) -> None:
    listed = tmp_path / "nets"
    listed.write_text("# trusted\n192.0.2.0/24, 198.51.100.0/24\n")
    assert hosts(str(listed)).match_host("x", "198.51.100.9")
    assert not hosts(f"!{listed}", "0.0.0.0/0").match_host("x", "198.51.100.9")
    assert hosts(f"!{listed}", "0.0.0.0/0").match_host("x", "203.0.113.9")


@pytest.mark.parametrize(("pattern", "error"), [
    ("10.1.2.3/8", 'non-null host address bits in "10.1.2.3/8", perhaps you should use '
                   '"10.0.0.0/8" instead'),
    ("10.0.0.0/33", 'bad net/mask pattern: "10.0.0.0/33"'),
    # IPv6 networks need brackets, as in Postfix: otherwise "2001:..." names a table type.
    ("2001:db8::/32", "unsupported dictionary type: 2001"),
])
def test_bad_network_patterns_are_configuration_errors(pattern: str, error: str) -> None:
    with pytest.raises(MapError, match=error.replace("(", r"\(").replace("[", r"\[")):
        hosts(pattern)


def test_string_lists_compare_whole_strings_without_case() -> None:
    domains = HostList.parse("mydestination", ListKind.STRING, ["Relay.Example"], open_map)
    assert domains.match_string("relay.example")
    assert not domains.match_string("sub.relay.example")


def test_mynetworks_defaults_to_the_computed_value_per_mynetworks_style() -> None:
    base = "compatibility_level = 3.6\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n" \
           "myhostname = relay.example\n"
    host = PolicySettings.from_config(config("mynetworks_style = host\n", base=base))
    subnet = PolicySettings.from_config(config("mynetworks_style = subnet\n", base=base))
    if not host.mynetworks.match_host("x", "127.0.0.1"):
        pytest.skip("this machine's interfaces cannot be read")
    assert not host.mynetworks.match_host("x", "127.0.0.2")
    assert subnet.mynetworks.match_host("x", "127.0.0.2")


@pytest.mark.parametrize(("name", "valid"), [
    ("mail.example.com", True), ("bad_name.example", True), ("x", True),
    ("bad!name", False), ("-lead.example", False), ("trail-.example", False),
    ("a..b.example", False), (".lead.example", False), ("trailing.", False), ("123", False),
    ("1.2.3.4", False), ("123.example", True), ("a" * 64 + ".example", False),
    ("a." * 127 + "b", True), ("a." * 128 + "b", False), ("", False),
])
def test_host_names(name: str, valid: bool) -> None:
    assert valid_hostname(name) is valid


@pytest.mark.parametrize(("addr", "valid"), [
    ("192.0.2.1", True), ("0.0.0.0", True), ("0.1.2.3", False), ("1.2.3", False),
    ("256.1.1.1", False), ("1.2.3.4.", False), ("::1", True), ("2001:db8::", True),
    ("1::2::3", False), ("::ffff:192.0.2.1", True), ("12345::1", False), ("", False),
])
def test_host_addresses(addr: str, valid: bool) -> None:
    assert valid_hostaddr(addr) is valid


def test_address_literals_and_trailing_dots() -> None:
    assert valid_mailhost_addr("IPv6:2001:db8::1") == "2001:db8::1"
    assert valid_mailhost_addr("ipv6:::1") == "::1"
    assert valid_mailhost_addr("1.2.3") is None
    assert dup_if_truncate("name.") == "name"
    assert dup_if_truncate("name..") == "name.."
    assert valid_utf8_hostname("bücher.example", smtputf8=True)
    assert not valid_utf8_hostname("bücher.example", smtputf8=False)
