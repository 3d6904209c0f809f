"""The frozen Config over main.cf, a service's -o and the table (a small stand-in table)."""

import pytest

from mailrelay.config.maincf import Setting, parse_main_cf
from mailrelay.config.model import Config
from mailrelay.config.params import Kind, Param
from mailrelay.util.diagnostic import Fatal, Origin

TABLE = {p.name: p for p in (
    Param("myhostname", "host.localdomain", Kind.STR, ""),
    Param("mydomain", "", Kind.STR, "",
          compute=lambda explicit=None: ((explicit and explicit("myhostname")) or "x.d")
          .split(".", 1)[1]),
    Param("smtpd_banner", "$myhostname ESMTP", Kind.STR, ""),
    Param("smtpd_reject_footer", "", Kind.STR, ""),
    Param("mynetworks", "127.0.0.0/8", Kind.LIST, ""),
    Param("message_size_limit", "10240000", Kind.SIZE, ""),
    Param("smtpd_helo_required", "no", Kind.BOOL, ""),
)}
MAIN = "/etc/mailrelay/main.cf"


def config(text: str) -> Config:
    return Config(parse_main_cf(text, MAIN), "/etc/mailrelay", table=TABLE)


def test_values_come_from_main_cf_then_the_table():
    c = config("myhostname = relay.corp.local\n")
    assert c.raw("myhostname") == "relay.corp.local"
    assert c.expanded("smtpd_banner") == "relay.corp.local ESMTP"
    assert c.origin("myhostname") == Origin(MAIN, 1)
    assert not c.is_explicit("smtpd_banner")


def test_a_computed_default_sees_the_explicit_settings():
    assert config("myhostname = relay.corp.local\n").raw("mydomain") == "corp.local"
    assert config("").raw("mydomain") == "d"


def test_user_defined_names_expand_and_unknown_ones_are_empty():
    c = config("mua = permit_sasl_authenticated\nsmtpd_banner = $mua $nosuch!\n")
    assert c.expanded("smtpd_banner") == "permit_sasl_authenticated !"


def test_braced_text_keeps_its_white_space_in_the_expanded_value():
    assert config("smtpd_banner = ${myhostname?{ sp }}|\n").expanded("smtpd_banner") == " sp |"


def test_raw_parameters_are_not_expanded():
    c = config("smtpd_reject_footer = call $client_address\n")
    assert c.expanded("smtpd_reject_footer") == "call $client_address"


def test_a_value_that_does_not_expand_is_fatal_with_its_line():
    with pytest.raises(Fatal) as caught:
        config("x = 1\nsmtpd_banner = a$\n").expanded("smtpd_banner")
    assert str(caught.value) == f'{MAIN}, line 2: parameter smtpd_banner: empty macro name: "a$"'


def test_overrides_sit_on_top_and_settings_lists_both():
    c = config("myhostname = a.b\nmynetworks = 10.0.0.0/8\n")
    service = c.with_overrides({"mynetworks": Setting("mynetworks", "127.0.0.0/8", Origin("m", 3))})
    assert service.get_list("mynetworks") == ["127.0.0.0/8"]
    assert c.get_list("mynetworks") == ["10.0.0.0/8"]
    assert {n: s.value for n, s in service.settings().items()} == {
        "myhostname": "a.b", "mynetworks": "127.0.0.0/8"}


def test_typed_values_and_unknown_names():
    c = config("message_size_limit = 52428800\nsmtpd_helo_required = yes\n")
    assert c.message_size_limit == 52428800
    assert c.smtpd_helo_required is True
    with pytest.raises(AttributeError):
        _ = c.relayhost
    with pytest.raises(Fatal, match="line 1: bad numerical configuration"):
        _ = config("message_size_limit = 10x\n").message_size_limit


def test_config_directory_is_the_directory_in_use():
    assert config("").raw("config_directory") == "/etc/mailrelay"
