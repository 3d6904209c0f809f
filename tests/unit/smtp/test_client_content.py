from __future__ import annotations

from mailrelay.smtp.client_content import encode_content, fold


def test_lines_starting_with_a_dot_get_another_dot():
    assert encode_content(b"a\r\n.b\r\n..c\r\n.\r\n") == b"a\r\n..b\r\n...c\r\n..\r\n"


def test_a_missing_final_line_end_is_added():
    assert encode_content(b"a\r\nlast") == b"a\r\nlast\r\n"


def test_empty_content_sends_nothing_before_the_dot():
    assert encode_content(b"") == b""


def test_long_lines_are_folded_with_a_leading_space_as_postfix_does():
    assert list(fold(b"x" * 10, 4)) == [b"xxxx", b" xxx", b" xxx"]
    assert list(fold(b"x" * 4, 4)) == [b"xxxx"]
    assert list(fold(b"x" * 5, 4)) == [b"xxxx", b" x"]
    assert list(fold(b"x" * 5000, 0)) == [b"x" * 5000]


def test_the_default_limit_is_998_and_the_stuffed_dot_does_not_count():
    line = b"." + b"y" * 2000
    assert encode_content(line + b"\r\n") == (
        b"." + line[:998] + b"\r\n " + line[998:1995] + b"\r\n " + line[1995:] + b"\r\n")


def test_downgrading_converts_8bit_text_to_quoted_printable():
    content = (b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
               b"Gr\xc3\xbc\xc3\x9fe\r\n.\r\n")
    assert encode_content(content, downgrade=True) == (
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Gr=C3=BC=C3=9Fe\r\n..\r\n")
