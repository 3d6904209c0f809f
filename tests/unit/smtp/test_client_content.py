from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

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


def _line_by_line(content: bytes, limit: int) -> bytes:
    from mailrelay.mail.mime8bit import split_lines
    from mailrelay.smtp.client_content import wire_lines
    return b"".join(wire_lines(split_lines(content), limit))


@given(st.lists(st.sampled_from([b"a", b"b" * 7, b".", b"\r", b"\n", b"\r\n", b" ", b"\x00",
                                 b"\xc3\xa9", b"\r\r\n", b"\n.\r\n"]), max_size=40),
       st.sampled_from([0, 1, 3, 5, 998]))
def test_content_sent_as_it_is_queued_equals_the_line_by_line_encoding(
        pieces: list[bytes], limit: int) -> None:
    content = b"".join(pieces)
    assert encode_content(content, line_limit=limit) == _line_by_line(content, limit)


def test_a_clean_message_is_sent_without_a_copy():
    content = b"Subject: x\r\n\r\n" + b"y" * 70 + b"\r\n" * 2
    assert encode_content(content) is content
    # the checks that send it through the line-by-line path
    for other in (b"." + content, content + b".\r\n", content[:-1], b"a\nb\r\n",
                  b"z" * 999 + b"\r\n"):
        assert encode_content(other) is not other
        assert encode_content(other) == _line_by_line(other, 998)
    assert encode_content(b"z" * 998 + b"\r\n") == b"z" * 998 + b"\r\n"
