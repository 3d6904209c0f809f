"""The returned-message part: whole or headers, which type, where the headers end."""

from __future__ import annotations

import pytest

from mailrelay.bounce.entry import NoticeKind
from mailrelay.bounce.original import returned_part, returns_headers_only

FAILURE, DELAY, SUCCESS = NoticeKind.FAILURE, NoticeKind.DELAY, NoticeKind.SUCCESS


def part(content: bytes, *, headers_only: bool = True, kind: NoticeKind = FAILURE,
         smtputf8: bool = False, encoding: str = "8bit", sender: str = "a@x") -> list[bytes]:
    return returned_part(kind, content, sender=sender, myhostname="h.example",
                         headers_only=headers_only, smtputf8=smtputf8,
                         transfer_encoding=encoding)


@pytest.mark.parametrize(("kind", "ret", "size", "expected"), [
    (FAILURE, "", 1000, False),
    (FAILURE, "FULL", 1000, False),
    (FAILURE, "HDRS", 10, True),
    (FAILURE, "", 1001, True),
    (DELAY, "FULL", 10, True),
    (SUCCESS, "FULL", 10, True),
])
def test_only_a_failure_returns_the_whole_message_up_to_the_limit(
        kind: NoticeKind, ret: str, size: int, expected: bool) -> None:
    assert returns_headers_only(kind, ret, size, 1000) is expected


def test_the_header_section_ends_at_the_blank_line_and_keeps_folded_lines() -> None:
    content = b"Subject: a\r\n folded\r\nX: y\r\n\r\nBody: not a header\r\n"
    assert part(content)[4:] == [b"Return-Path: <a@x>", b"Subject: a", b" folded", b"X: y"]


def test_a_line_that_is_no_header_also_ends_the_header_section() -> None:
    assert part(b"Subject: a\r\nno header here\r\nX: y\r\n")[5:] == [b"Subject: a"]


def test_the_whole_message_is_returned_as_queued() -> None:
    content = b"Subject: a\r\n\r\n.dot line\r\n\xff8-bit\r\nlast"
    assert part(content, headers_only=False)[:3] == [
        b"Content-Description: Undelivered Message", b"Content-Type: message/rfc822",
        b"Content-Transfer-Encoding: 8bit"]
    assert part(content, headers_only=False)[5:] == [
        b"Subject: a", b"", b".dot line", b"\xff8-bit", b"last"]


def test_smtputf8_messages_are_returned_with_the_global_types() -> None:
    assert part(b"S: x\r\n", smtputf8=True)[1] == b"Content-Type: message/global-headers"
    assert part(b"S: x\r\n", smtputf8=True, headers_only=False)[1] == (
        b"Content-Type: message/global")


def test_a_success_notice_calls_them_message_headers() -> None:
    assert part(b"S: x\r\n", kind=SUCCESS)[0] == b"Content-Description: Message Headers"
    assert part(b"S: x\r\n", kind=DELAY)[0] == (
        b"Content-Description: Undelivered Message Headers")


def test_a_7bit_notice_has_no_transfer_encoding_in_this_part() -> None:
    assert part(b"S: x\r\n", encoding="7bit")[:3] == [
        b"Content-Description: Undelivered Message Headers",
        b"Content-Type: text/rfc822-headers", b""]


def test_the_return_path_shows_the_null_sender_as_mailer_daemon() -> None:
    assert part(b"S: x\r\n", sender="")[4] == b"Return-Path: <MAILER-DAEMON@h.example>"
