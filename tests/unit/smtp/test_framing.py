from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrelay.smtp.framing import BareNewline, CommandReader, ContentDecoder


def read_all(reader: CommandReader, data: bytes) -> list[tuple[bytes, bool, bool]]:
    buf = bytearray(data)
    out = []
    while (line := reader.read(buf)) is not None:
        out.append((line.data, line.bare_lf, line.truncated))
    return out


def test_command_lines_end_at_lf_with_or_without_cr():
    reader = CommandReader(2048, BareNewline.NORMALIZE)
    assert read_all(reader, b"NOOP\r\nQUIT\nRSET") == [
        (b"NOOP", False, False),
        (b"QUIT", True, False),
    ]


def test_only_one_cr_is_part_of_the_line_end_unless_bare_newline_is_no():
    assert read_all(CommandReader(100, BareNewline.NORMALIZE), b"A\r\r\n") == [
        (b"A\r", False, False)
    ]
    assert read_all(CommandReader(100, BareNewline.NO), b"A\r\r\n") == [(b"A", False, False)]


def test_a_long_command_line_is_cut_and_its_rest_skipped_even_across_reads():
    reader = CommandReader(10, BareNewline.NORMALIZE)
    buf = bytearray(b"NOOP " + b"x" * 20)
    assert reader.read(buf) is None
    assert buf == b""  # the excess is not kept
    buf += b"yyy\r\nQUIT\r\n"
    line = reader.read(buf)
    assert line is not None and (line.data, line.truncated) == (b"NOOP xxxxx", True)
    assert bytes(buf) == b"QUIT\r\n"


def test_a_line_end_split_by_the_limit_is_still_a_line_end():
    reader = CommandReader(5, BareNewline.NORMALIZE)
    assert read_all(reader, b"NOOP\r\nX\r\n") == [(b"NOOP", False, False), (b"X", False, False)]


def decode(data: bytes, **kw: object) -> tuple[bytes, bytes, ContentDecoder]:
    options = {
        "message_size_limit": 0,
        "line_length_limit": 2048,
        "bare_newline": BareNewline.NORMALIZE,
        "dot_stuffing": True,
    }
    options.update(kw)
    decoder = ContentDecoder(**options)  # type: ignore[arg-type]
    content, rest = decoder.feed(data)
    return content, rest, decoder


def test_data_ends_at_crlf_dot_crlf_and_returns_what_follows():
    content, rest, decoder = decode(b"a\r\nb\r\n.\r\nQUIT\r\n")
    assert (content, rest, decoder.done) == (b"a\r\nb\r\n", b"QUIT\r\n", True)


def test_dot_stuffing_is_undone():
    content, _, _ = decode(b"..\r\n..x\r\n.x\r\n.\r\n")
    assert content == b".\r\n.x\r\nx\r\n"


@pytest.mark.parametrize("separator", [b"\n.\n", b"\r\n.\n", b"\n.\r\n"])
@pytest.mark.parametrize("mode", list(BareNewline))
def test_a_dot_next_to_a_bare_lf_never_ends_data(separator, mode):
    data = b"body" + separator + b"MAIL FROM:<evil@x>\r\n.\r\n"
    content, rest, decoder = decode(data, bare_newline=mode)
    assert decoder.done and rest == b""
    assert content == b"body\r\nMAIL FROM:<evil@x>\r\n"  # Postfix drops the false end
    assert decoder.bare_lf


def test_a_bare_cr_is_content():
    content, _, decoder = decode(b"body\r.\r\nmore\r\n.\r\n")
    assert content == b"body\r.\r\nmore\r\n"
    assert not decoder.bare_lf


def test_the_end_of_data_can_arrive_one_byte_at_a_time():
    decoder = ContentDecoder(
        message_size_limit=0,
        line_length_limit=2048,
        bare_newline=BareNewline.NORMALIZE,
        dot_stuffing=True,
    )
    out = b""
    for byte in b"abc\r\n.\r\nNOOP":
        content, rest = decoder.feed(bytes([byte]))
        out += content
        if decoder.done:
            break
    assert out == b"abc\r\n" and decoder.done and rest == b""


def test_size_counts_each_line_plus_two_and_stops_at_the_limit():
    content, _, decoder = decode(b"x" * 8 + b"\r\n" + b".\r\n", message_size_limit=10)
    assert decoder.size == 10 and not decoder.too_big
    content, _, decoder = decode(b"x" * 9 + b"\r\n" + b".\r\n", message_size_limit=10)
    assert decoder.too_big and content == b""


def test_long_lines_are_counted_in_pieces_but_passed_through_whole():
    line = b"z" * 25
    content, _, decoder = decode(line + b"\r\n.\r\n", line_length_limit=10)
    assert content == line + b"\r\n"
    assert decoder.size == (10 + 2) * 2 + (5 + 2)


def test_a_dot_inside_a_long_line_is_not_an_end_of_data():
    content, _, decoder = decode(b"z" * 10 + b".\r\n.\r\n", line_length_limit=10)
    assert content == b"z" * 10 + b".\r\n" and decoder.done


def test_bdat_content_has_no_dot_stuffing_and_lines_span_chunks():
    decoder = ContentDecoder(
        message_size_limit=0,
        line_length_limit=2048,
        bare_newline=BareNewline.NORMALIZE,
        dot_stuffing=False,
    )
    first, _ = decoder.feed(b"..a\r\nb")
    second, _ = decoder.feed(b"c\nd")
    last = decoder.finish()
    assert first + second + last == b"..a\r\nbc\r\nd\r\n"
    assert decoder.size == 5 + 4 + 3 and decoder.bare_lf


def test_bare_newline_values():
    assert BareNewline.parse("yes") is BareNewline.NORMALIZE
    assert BareNewline.parse(" Reject ") is BareNewline.REJECT
    with pytest.raises(ValueError):
        BareNewline.parse("maybe")


def test_a_dot_line_with_extra_crs_never_ends_data_even_with_bare_newline_no():
    decoder = ContentDecoder(message_size_limit=0, line_length_limit=2048,
                             bare_newline=BareNewline.NO, dot_stuffing=True)
    content, rest = decoder.feed(b"L1\r\r\n.\r\r\nMAIL FROM:<e@v.il>\r\n")
    assert not decoder.done and rest == b""
    content2, rest = decoder.feed(b".\r\n")
    assert decoder.done
    # The non-standard terminator is dropped, as Postfix drops one under "normalize".
    assert content + content2 == b"L1\r\nMAIL FROM:<e@v.il>\r\n"


class _LineByLine(ContentDecoder):
    """The reference: no bulk fast path."""

    def _bulk(self, buf, pos, out):  # type: ignore[no-untyped-def]
        return pos


_LINES = st.sampled_from([
    b"ordinary line of text\r\n", b".leading dot\r\n", b"..two dots\r\n", b"\r\n", b"x\n",
    b"bare\rcr\r\n", b"y" * 3000 + b"\r\n", b"z\r\r\n", b"MAIL FROM:<e@v.il>\r\n",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINES, min_size=50, max_size=400), st.lists(st.integers(1, 20000), max_size=8),
       st.sampled_from(list(BareNewline)), st.sampled_from([0, 20000, 200000]))
def test_the_bulk_path_gives_what_the_line_by_line_path_gives(lines, cuts, mode, limit):
    data = b"".join(lines) + b"\r\n.\r\nQUIT\r\n"
    options = dict(message_size_limit=limit, line_length_limit=2048, bare_newline=mode,
                   dot_stuffing=True)
    results = []
    for cls in (ContentDecoder, _LineByLine):
        decoder = cls(**options)
        out, rest, pos = [], b"", 0
        for cut in [*sorted(set(cuts)), len(data)]:
            if decoder.done:
                break
            produced, rest = decoder.feed(data[pos:cut])
            out.append(produced)
            pos = max(pos, cut)
        results.append((b"".join(out), rest + data[pos:], decoder.size, decoder.too_big,
                        decoder.bare_lf, decoder.done))
    assert results[0] == results[1]
