"""Postfix protocol lists as the version range OpenSSL negotiates; cipher grades."""

from __future__ import annotations

import ssl

import pytest

from mailrelay.tlspolicy.protocols import (
    CipherError,
    ProtocolError,
    ProtocolRange,
    cipher_list,
    protocol_range,
)


@pytest.mark.parametrize(("text", "minimum", "maximum"), [
    ("", "TLSv1", "TLSv1.3"),
    (">=TLSv1", "TLSv1", "TLSv1.3"),
    (">=TLSv1.2", "TLSv1.2", "TLSv1.3"),
    (">=TLSv1.2, <=TLSv1.3", "TLSv1.2", "TLSv1.3"),
    ("<=TLSv1.2", "TLSv1", "TLSv1.2"),
    (">=0x0303", "TLSv1.2", "TLSv1.3"),
    (">=303", "TLSv1.2", "TLSv1.3"),
    # A bound OpenSSL does not know is left unset (postconf(5)'s "<=0305" example).
    (">=TLSv1.2, <=0305", "TLSv1.2", "TLSv1.3"),
    ("!SSLv2, !SSLv3", "TLSv1", "TLSv1.3"),
    ("!SSLv2:!SSLv3:!TLSv1:!TLSv1.1", "TLSv1.2", "TLSv1.3"),
    ("!TLSv1.3", "TLSv1", "TLSv1.2"),
    # postconf(5): a hole leaves only what is below it.
    ("!SSLv2, !SSLv3, !TLSv1.1", "TLSv1", "TLSv1"),
    ("TLSv1.2:TLSv1.3", "TLSv1.2", "TLSv1.3"),
    ("TLSv1.2", "TLSv1.2", "TLSv1.2"),
    ("tlsv1.2 TLSV1.3", "TLSv1.2", "TLSv1.3"),
])
def test_protocol_lists(text: str, minimum: str, maximum: str) -> None:
    assert protocol_range(text) == ProtocolRange(minimum, maximum)


@pytest.mark.parametrize("text", ["bogus", "!TLSv9", ">=zz", ">=0x10000"])
def test_a_bad_protocol_list_aborts_the_session_with_postfixs_words(text: str) -> None:
    with pytest.raises(ProtocolError) as e:
        protocol_range(text)
    assert str(e.value) == f'Invalid TLS protocol list "{text}": aborting TLS session'


def test_a_list_with_nothing_left_is_refused() -> None:
    with pytest.raises(ProtocolError, match="no TLS protocol left"):
        protocol_range(">=TLSv1.3, <=TLSv1.2")


LISTS = {"export": "aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH",
         "low": "aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH",
         "medium": "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH",
         "high": "aNULL:-aNULL:HIGH:@STRENGTH", "null": "eNULL:!aNULL"}


def test_cipher_grades_are_the_tls_cipherlists_less_the_exclusions() -> None:
    assert cipher_list("medium", "", LISTS) == LISTS["medium"]
    assert cipher_list("HIGH", "aNULL MD5:kEDH+aRSA, RC4", LISTS) == (
        "aNULL:-aNULL:HIGH:@STRENGTH:!aNULL:!MD5:!kEDH+aRSA:!RC4")
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).set_ciphers(cipher_list("high", "aNULL", LISTS))


def test_bad_grades_and_exclusions_use_postfixs_words() -> None:
    with pytest.raises(CipherError) as e:
        cipher_list("bogus", "", LISTS)
    assert str(e.value) == 'invalid cipher grade: "bogus"'
    with pytest.raises(CipherError) as e:
        cipher_list("high", "+RC4", LISTS)
    assert str(e.value) == "invalid unary '!+-@' in cipher exclusion: \"+RC4\""
