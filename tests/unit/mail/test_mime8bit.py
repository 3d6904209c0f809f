"""The 8BITMIME downgrade, checked byte for byte against Postfix 3.7's output.

``tests/golden/smtp_client/mime8bit/*.in`` is what Postfix had queued (as relayed to a
server announcing 8BITMIME), ``*.ref`` what it sent to one that does not; see the README.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrelay.mail.mime8bit import (
    MimeLimits,
    MimeNestingError,
    downgrade,
    header_name_length,
    quoted_printable,
    split_lines,
)

GOLDEN = Path(__file__).parents[2] / "golden" / "smtp_client" / "mime8bit"
CASES = sorted(p.stem for p in GOLDEN.glob("*.in"))


def test_there_are_golden_cases():
    assert len(CASES) >= 6


@pytest.mark.parametrize("case", CASES)
def test_the_conversion_matches_postfix(case: str):
    source = (GOLDEN / f"{case}.in").read_bytes()
    assert downgrade(source) == (GOLDEN / f"{case}.ref").read_bytes()


def test_a_leaf_part_declared_8bit_becomes_quoted_printable():
    message = (b"Subject: x\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
               b"caf\xc3\xa9 = ok\r\n")
    assert downgrade(message) == (b"Subject: x\r\nContent-Transfer-Encoding: quoted-printable"
                                  b"\r\n\r\ncaf=C3=A9 =3D ok\r\n")


def test_content_without_an_8bit_declaration_is_left_alone_even_with_8bit_bytes():
    message = b"Subject: x\r\n\r\ncaf\xc3\xa9\r\n"
    assert downgrade(message) == message


def test_multipart_and_message_entities_are_relabelled_7bit_not_encoded():
    message = (b"Content-Type: multipart/mixed; boundary=b\r\n"
               b"Content-Transfer-Encoding: 8bit\r\n\r\npre \xc3\xa9\r\n--b\r\n"
               b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: binary\r\n\r\n"
               b"Subject: inner\r\n\r\nbody\r\n--b--\r\n")
    assert downgrade(message) == (
        b"Content-Type: multipart/mixed; boundary=b\r\n"
        b"Content-Transfer-Encoding: 7bit\r\n\r\npre \xc3\xa9\r\n--b\r\n"
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        b"Subject: inner\r\n\r\nbody\r\n--b--\r\n")


def test_quoted_printable_breaks_soft_after_more_than_72_characters():
    lines = list(quoted_printable(b"a" * 80))
    assert lines == [b"a" * 73 + b"=", b"a" * 7]
    assert list(quoted_printable(b"end \t")) == [b"end =09"]
    assert list(quoted_printable(b"x ")) == [b"x=20"]
    assert list(quoted_printable(b"")) == [b""]


def test_header_names_follow_postfix_is_header():
    assert header_name_length(b"Subject: x") == 7
    assert header_name_length(b"Content-Type : x") == 12
    assert header_name_length(b"Not a header") == 0
    assert header_name_length(b" folded: x") == 0
    assert header_name_length(b"x:") == 1


def test_folded_headers_are_kept_line_by_line_and_spacing_before_the_colon_goes():
    message = b"Subject : one\r\n two\r\nContent-Transfer-Encoding:\r\n 8bit\r\n\r\nz\r\n"
    assert downgrade(message) == (b"Subject: one\r\n two\r\n"
                                  b"Content-Transfer-Encoding: quoted-printable\r\n\r\nz\r\n")


def test_too_deep_multipart_nesting_is_the_error_postfix_bounces_with():
    parts = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                     for i in range(5))
    with pytest.raises(MimeNestingError) as error:
        downgrade(b"Content-Transfer-Encoding: 8bit\r\n" + parts,
                  MimeLimits(nesting_limit=2))
    assert (error.value.dsn, error.value.text) == ("5.6.0", "MIME nesting exceeds safety limit")


def test_split_lines_accepts_crlf_lf_and_a_missing_last_line_end():
    assert split_lines(b"a\r\nb\nc") == [b"a", b"b", b"c"]
    assert split_lines(b"") == []
