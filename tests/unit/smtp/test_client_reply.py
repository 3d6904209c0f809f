from __future__ import annotations

from mailrelay.smtp.client_reply import ReplyReader, ServerReply, censor, reply_dsn


def read_all(data: bytes, limit: int = 2048) -> list[ServerReply]:
    reader = ReplyReader(limit)
    reader.feed(data)
    replies = []
    while (reply := reader.next_reply()) is not None:
        replies.append(reply)
    return replies


def test_a_single_line_reply_gives_code_dsn_and_text():
    [reply] = read_all(b"250 2.1.0 Ok\r\n")
    assert (reply.code, reply.dsn, reply.text) == (250, "2.1.0", "250 2.1.0 Ok")
    assert reply.positive and not reply.malformed


def test_a_multi_line_reply_keeps_every_line_and_takes_the_dsn_from_the_last():
    [reply] = read_all(b"550-5.1.1 first line\r\n550-5.1.1 second\r\n550 5.1.2 third\r\n")
    assert reply.text == "550-5.1.1 first line\n550-5.1.1 second\n550 5.1.2 third"
    assert reply.flat == "550-5.1.1 first line 550-5.1.1 second 550 5.1.2 third"
    assert reply.dsn == "5.1.2"


def test_replies_are_returned_one_at_a_time_in_order():
    replies = read_all(b"250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go ahead\r\n")
    assert [r.code for r in replies] == [250, 250, 550, 354]


def test_a_partial_reply_waits_for_more_bytes():
    reader = ReplyReader()
    reader.feed(b"250-first\r\n250 sec")
    assert reader.next_reply() is None
    reader.feed(b"ond\r\n")
    reply = reader.next_reply()
    assert reply is not None and reply.text == "250-first\n250 second"


def test_a_bare_code_ends_a_reply_and_a_bare_lf_ends_a_line():
    [reply] = read_all(b"250-first\n250\n")
    assert reply.text == "250-first\n250" and reply.dsn == "2.0.0"


def test_without_an_enhanced_code_the_dsn_is_derived_from_the_reply_class():
    assert read_all(b"550 User unknown\r\n")[0].dsn == "5.0.0"
    assert read_all(b"452 Too many\r\n")[0].dsn == "4.0.0"
    assert read_all(b"250 Ok queued\r\n")[0].dsn == "2.0.0"


def test_an_enhanced_code_of_another_class_than_the_reply_is_ignored():
    assert reply_dsn("550 4.1.1 odd") == "5.0.0"
    assert reply_dsn("250   2.6.0  spaces first") == "2.6.0"
    assert reply_dsn("550 5.1.1000 too long") == "5.0.0"
    assert reply_dsn("550 5.1.1: no space after") == "5.0.0"


def test_replies_outside_2xx_4xx_5xx_get_the_protocol_error_dsn():
    assert read_all(b"354 go ahead\r\n")[0].dsn == "5.5.0"
    assert read_all(b"199 what\r\n")[0].dsn == "5.5.0"


def test_a_garbage_line_is_kept_in_the_text_and_marks_the_reply_malformed():
    reader = ReplyReader()
    reader.feed(b"550-first\r\ngarbage here\r\n550 5.1.1 last\r\n")
    reply = reader.next_reply()
    assert reply is not None
    assert reply.text == "550-first\ngarbage here\n550 5.1.1 last"
    assert reply.malformed and reader.protocol_error
    assert reply.code == 550 and reply.dsn == "5.1.1"


def test_a_line_that_is_only_garbage_does_not_end_the_reply():
    [reply] = read_all(b"hello there\r\n2500 four digits\r\n250 ok\r\n")
    assert reply.code == 250 and reply.malformed
    assert reply.text == "hello there\n2500 four digits\n250 ok"


def test_non_printable_characters_become_question_marks_but_utf8_stays():
    assert censor(b"550 bad\x01\x7f\tchars") == "550 bad???chars"
    assert censor("550 Grüße".encode()) == "550 Grüße"
    assert censor(b"550 \xff") == "550 ?"


def test_a_line_longer_than_the_limit_is_cut_and_its_rest_skipped():
    [reply] = read_all(b"250 " + b"x" * 100 + b"\r\n", limit=20)
    assert reply.text == "250 " + "x" * 16


def test_an_over_long_line_arriving_in_pieces_is_cut_the_same_way():
    reader = ReplyReader(20)
    reader.feed(b"550-" + b"y" * 30)
    assert reader.next_reply() is None
    reader.feed(b"y" * 30 + b"\r\n550 end\r\n")
    reply = reader.next_reply()
    # The cut line filled the text to the limit: the last line is read but not kept.
    assert reply is not None and reply.text == "550-" + "y" * 16
    assert reply.code == 550 and reader.buffered == 0


def test_the_text_of_an_endless_reply_stops_growing_at_the_limit():
    data = b"".join(b"250-line %d\r\n" % i for i in range(100)) + b"250 end\r\n"
    [reply] = read_all(data, limit=50)
    assert reply.text.startswith("250-line 0\n250-line 1\n")
    assert len(reply.text) < 70 and "end" not in reply.text
    assert reply.code == 250
