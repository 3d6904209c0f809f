"""The MIME walker: which line of a message each checks table sees (tests/golden/mime_checks)."""

from __future__ import annotations

import time
from pathlib import Path

from mailrelay.cleanup.mime import Kind, MimeLimits, Part, Piece, content_type, walk

GOLDEN = Path(__file__).parents[2] / "golden" / "mime_checks"


def pieces(content: bytes, limits: MimeLimits | None = None) -> list[Piece]:
    found = list(walk(content, limits))
    assert b"".join(p.data for p in found) == content
    return found


def table_of(piece: Piece) -> str:
    """The table Postfix's /^/ WARN tables named for this piece (the log's last word)."""
    if piece.kind is Kind.BODY:
        return "body"
    if piece.part is Part.MULTIPART or piece.mime_field:
        return "mime"
    return "header" if piece.part is Part.PRIMARY else "nested"


def routed(content: bytes, limits: MimeLimits | None = None) -> list[tuple[str, str]]:
    """(table, the line as logged) of every piece a table sees (empty lines are skipped)."""
    seen = []
    for piece in pieces(content, limits):
        text = piece.data.removesuffix(b"\r\n").replace(b"\r\n", b"\n").decode()
        if piece.kind is not Kind.ERROR and text:
            shown = "".join(c if c.isprintable() else "?" for c in text)
            seen.append((table_of(piece), shown))
    return seen


def postfix_routing(log: str) -> list[tuple[str, str]]:
    """(table, line) of cleanup's WARN lines in a capture (cleanup's Received: left out)."""
    seen = []
    for line in (GOLDEN / log).read_text().splitlines():
        if "postfix/cleanup" not in line or ": warning: " not in line:
            continue
        text = line.split(": warning: ", 1)[1]
        where, _, rest = text.partition(" ")
        shown, _, table = rest.rpartition(": ")
        shown = shown.split(" from localhost[127.0.0.1];")[0]
        if not shown.startswith("Received: "):
            seen.append((table if where == "header" else "body", shown))
    return seen


def test_each_line_of_a_multipart_message_goes_where_postfix_sent_it() -> None:
    content = (GOLDEN / "m1.eml").read_bytes() + b"\r\n"
    assert routed(content) == postfix_routing("default-m1.maillog.ref")


def test_an_attached_message_has_nested_headers_with_mime_fields_apart() -> None:
    content = (GOLDEN / "m3.eml").read_bytes() + b"\r\n"
    assert routed(content) == postfix_routing("default-m3.maillog.ref")


def test_a_plain_message_body_is_every_non_empty_line() -> None:
    content = (GOLDEN / "m2.eml").read_bytes() + b"\r\n"
    assert routed(content) == postfix_routing("default-m2.maillog.ref")


def test_disabled_mime_processing_makes_everything_after_the_header_body() -> None:
    content = (GOLDEN / "m1.eml").read_bytes() + b"\r\n"
    assert routed(content, MimeLimits(disabled=True)) == postfix_routing(
        "disable-mime.maillog.ref")


def test_a_short_boundary_limit_still_finds_the_boundaries() -> None:
    content = (GOLDEN / "m1.eml").read_bytes() + b"\r\n"
    assert routed(content, MimeLimits(boundary_limit=3)) == postfix_routing(
        "boundary-limit-3.maillog.ref")


def test_past_the_nesting_limit_an_error_is_reported_and_the_walk_goes_on() -> None:
    content = (GOLDEN / "m1.eml").read_bytes() + b"\r\n"
    found = pieces(content, MimeLimits(nesting_limit=1))
    assert [p.kind for p in found].count(Kind.ERROR) == 1
    assert routed(content, MimeLimits(nesting_limit=1)) == postfix_routing(
        "nesting-limit-1.maillog.ref")


def test_body_offsets_count_from_the_empty_line_with_one_byte_per_line_end() -> None:
    content = (GOLDEN / "s1.eml").read_bytes() + b"\r\n"
    body = [(p.data, p.offset) for p in pieces(content) if p.kind is Kind.BODY]
    assert body[:4] == [(b"\r\n", 0), (b"l1xxxxxxx\r\n", 1), (b"\r\n", 11),
                        (b"l3xxxxxxx\r\n", 12)]


def test_each_part_body_starts_its_offsets_again() -> None:
    content = (GOLDEN / "m1.eml").read_bytes()
    offsets = {p.data: p.offset for p in pieces(content) if p.kind is Kind.BODY}
    assert offsets[b"part one body\r\n"] == 1
    assert offsets[b"inner text\r\n"] == 1


def test_a_closing_boundary_closes_the_deeper_ones_too() -> None:
    content = (b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
               b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX: 1\r\n\r\n"
               b"--a--\r\nafter\r\n--b\r\nY: 2\r\n")
    kinds = [(p.kind, p.part) for p in pieces(content)][-3:]
    assert kinds == [(Kind.BODY, Part.PRIMARY)] * 3  # --b is plain body once a is closed


def test_message_partial_is_not_a_nested_message() -> None:
    content = b"Content-Type: message/partial; id=x\r\n\r\nFrom: a@b\r\n"
    assert [p.kind for p in pieces(content)] == [Kind.HEADER, Kind.BODY, Kind.BODY]


def test_a_header_ended_by_a_non_empty_line_makes_that_line_body() -> None:
    content = (b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nX: 1\r\n"
               b"not a field\r\nbody\r\n")
    found = pieces(content)
    assert [(p.kind, p.part) for p in found[3:5]] == [(Kind.HEADER, Part.MULTIPART),
                                                      (Kind.BODY, Part.PRIMARY)]
    assert found[4].offset == 0


def test_content_type_reads_type_subtype_and_a_quoted_or_bare_boundary() -> None:
    assert content_type(b'Content-Type: Multipart/Mixed;\r\n\tboundary="A b"\r\n') == (
        b"multipart", b"mixed", b"A b")
    assert content_type(b"Content-Type: multipart/x; charset=a; BOUNDARY=zz\r\n") == (
        b"multipart", b"x", b"zz")
    assert content_type(b"Content-Type: (c) text/plain\r\n") == (b"text", b"plain", None)
    assert content_type(b"Content-Type: garbage\r\n") is None


def test_ten_thousand_nested_multiparts_walk_in_a_loop_not_a_recursion() -> None:
    depth = 10_000
    content = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                       for i in range(depth)) + b"deep\r\n"
    start = time.monotonic()
    found = pieces(content)
    assert time.monotonic() - start < 5
    assert found[-1].kind is Kind.BODY
    assert sum(p.kind is Kind.ERROR for p in found) == depth - 100


def test_pathological_headers_and_bytes_never_break_the_walk() -> None:
    folded = b"X-Big: a\r\n" + b"\tfold\r\n" * 100_000
    many = b"".join(b"X-%d: v\r\n" % i for i in range(5000))
    junk = b"\x00\xff\xfe: \x80\r\n\r\n--\x00\r\n\xff\r\n"
    content = folded + many + b"Content-Type: multipart/mixed; boundary=\xff\r\n" + junk
    found = pieces(content)
    assert found[0].data == folded
    assert sum(p.kind is Kind.HEADER for p in found) == 5002
    assert pieces(b"") == []
    assert pieces(b"no line end") == [Piece(Kind.BODY, b"no line end")]


def test_without_body_lines_the_headers_are_the_same_and_bodies_come_in_stretches() -> None:
    nested = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(5))
    samples = [(GOLDEN / name).read_bytes() + b"\r\n" for name in ("m1.eml", "m2.eml", "m3.eml")]
    samples += [b"Subject: x\r\n\r\n" + b"text\r\n" * 3000,
                b"Subject: x\r\n" + nested
                + b"--b3--\r\n-- not a boundary\r\nx\r\n--b1\r\nA: b\r\n"]
    for content in samples:
        lines = list(walk(content))
        stretches = list(walk(content, body_lines=False))
        assert b"".join(p.data for p in stretches) == content
        assert [p for p in stretches if p.kind is not Kind.BODY] == \
            [p for p in lines if p.kind is not Kind.BODY]
    plain = list(walk(samples[3], body_lines=False))
    # The header, the empty line that ends it, then the whole body at once.
    assert [p.kind for p in plain] == [Kind.HEADER, Kind.BODY, Kind.BODY]
