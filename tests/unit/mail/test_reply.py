from __future__ import annotations

import pytest

from mailrelay.mail.reply import Reply


def test_a_one_line_reply_renders_code_enhanced_code_and_text():
    assert Reply(250, "2.1.0", "Ok").render() == b"250 2.1.0 Ok\r\n"


def test_a_reply_without_enhanced_code_has_none_in_its_text():
    assert Reply(501, "", "Syntax: HELO hostname").render() == b"501 Syntax: HELO hostname\r\n"


def test_a_multi_line_reply_repeats_code_and_enhanced_code_on_every_line():
    reply = Reply(550, "5.7.1", "first\nsecond\nthird")
    assert reply.render() == (b"550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n")


def test_format_fills_in_the_template_fields():
    template = Reply(250, "2.0.0", "Ok: queued as {queue_id}")
    assert template.format(queue_id="4ABC").text == "Ok: queued as 4ABC"


def test_421_and_521_are_the_replies_that_disconnect():
    assert Reply(421, "4.7.0", "x").disconnects
    assert Reply(521, "5.5.1", "x").disconnects
    assert not Reply(550, "5.5.1", "x").disconnects


def test_reply_classes():
    assert Reply(250, "2.0.0", "Ok").is_positive
    assert Reply(450, "4.0.0", "x").is_transient
    assert Reply(550, "5.0.0", "x").is_permanent


@pytest.mark.parametrize("code", [0, 99, 199, 600])
def test_a_reply_code_outside_2xx_to_5xx_is_refused(code):
    with pytest.raises(ValueError):
        Reply(code, "", "x")


def test_bytes_that_arrived_undecodable_go_back_out_unchanged():
    raw = b"VRFY \xff".decode("utf-8", "surrogateescape")
    assert Reply(252, "2.0.0", raw).render() == b"252 2.0.0 VRFY \xff\r\n"
