"""smtpd's TLS settings: Postfix's protocol lists and cipher grades."""

import ssl

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.smtpd.tls import cipher_list, protocol_range
from mailrelay.util.diagnostic import Fatal


def config(text: str) -> Config:
    return Config(parse_main_cf(text, "main.cf"), "/etc/mailrelay")


def test_the_guides_protocol_exclusions_leave_tls_1_2_and_1_3():
    assert protocol_range(["!SSLv2", "!SSLv3", "!TLSv1", "!TLSv1.1"]) == (
        ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    assert protocol_range([">=TLSv1.3"]) == (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3)
    assert protocol_range(["TLSv1.2"]) == (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)


def test_cipher_grades_are_postfixs_lists_less_the_exclusions():
    assert cipher_list(config(""), mandatory=False) == "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH"
    c = config("smtpd_tls_mandatory_ciphers = high\n"
               "smtpd_tls_mandatory_exclude_ciphers = aNULL, MD5\n")
    assert cipher_list(c, mandatory=True) == "aNULL:-aNULL:HIGH:@STRENGTH:!aNULL:!MD5"
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(cipher_list(c, mandatory=True))


def test_an_unknown_grade_names_its_parameter_and_line():
    with pytest.raises(Fatal, match="invalid smtpd_tls_ciphers value") as e:
        cipher_list(config("smtpd_tls_ciphers = strong\n"), mandatory=False)
    assert str(e.value.origin) == "main.cf, line 1"
