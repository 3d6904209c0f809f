"""Whatever a client sends, the machine answers with SMTP replies and never raises."""

from __future__ import annotations

import dataclasses
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mailrelay.mail.reply import Reply
from mailrelay.smtp import ServerConnection, ServerSettings, TlsLevel
from mailrelay.smtp.events import (
    ConnectionClosed,
    MailFrom,
    MessageComplete,
    MessageData,
    NeedData,
    StartTls,
)
from mailrelay.smtp.framing import BareNewline

BASE = ServerSettings(myhostname="mx.example", banner="mx.example ESMTP", error_sleep_time=0)
VARIANTS = [
    BASE,
    dataclasses.replace(BASE, forbid_unauth_pipelining=False, bare_newline=BareNewline.NO),
    dataclasses.replace(BASE, bare_newline=BareNewline.REJECT, tls_level=TlsLevel.ENCRYPT),
    dataclasses.replace(
        BASE,
        message_size_limit=50,
        line_length_limit=16,
        recipient_limit=2,
        hard_error_limit=5,
        forbid_unauth_pipelining=False,
        bare_newline=BareNewline.NOTE,
        tls_level=TlsLevel.MAY,
    ),
]

REPLY_LINE = re.compile(rb"[2-5][0-9][0-9][ -][^\r\n]*\r\n")
WORDS = [
    b"EHLO x",
    b"HELO x",
    b"MAIL FROM:<a@b.c>",
    b"RCPT TO:<d@e.f>",
    b"DATA",
    b"BDAT 3",
    b"BDAT 2 LAST",
    b"RSET",
    b"NOOP",
    b"QUIT",
    b"STARTTLS",
    b"VRFY x",
    b"ETRN x",
    b".",
    b"..",
    b"\r\n",
    b"\n",
    b"\r",
    b"\x00",
    b"\xff",
    b" ",
    b"x" * 20,
    b"<",
    b'"',
]

chunks = st.lists(
    st.one_of(st.binary(max_size=40), st.lists(st.sampled_from(WORDS), max_size=8).map(b"".join)),
    max_size=25,
)


def drive(conn: ServerConnection, inputs: list[bytes], answers: list[bool]) -> tuple[bytes, list]:
    out = b""
    events: list = []
    feed = iter([*inputs, b""])
    answer = iter(answers * 50)
    while True:
        event = conn.next_event()
        out += conn.data_to_send()
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return out, events
        if isinstance(event, NeedData):
            conn.receive_data(next(feed, b""))
        elif isinstance(event, StartTls):
            conn.tls_started()
        elif conn.pending is not None:
            if next(answer, True):
                conn.accept(queue_id="QID") if isinstance(event, MessageComplete) else conn.accept()
            else:
                conn.reject(Reply(550, "5.7.1", "no"))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VARIANTS), chunks, st.lists(st.booleans(), min_size=1, max_size=8))
def test_any_input_gives_replies_and_an_end(config, inputs, answers):
    conn = ServerConnection(config)
    out, events = drive(conn, inputs, answers)
    assert REPLY_LINE.sub(b"", out) == b""
    assert isinstance(events[-1], ConnectionClosed)
    for event in events:
        if isinstance(event, MessageData):
            assert b"\n" not in event.data.replace(b"\r\n", b"")


# A body that does not contain the real end of data, in every shape of line end.
bodies = (
    st.lists(
        st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"MAIL FROM:<e@v.il>"]), max_size=30
    )
    .map(b"".join)
    .filter(lambda b: b"\r\n.\r\n" not in b"\r\n" + b)
)


@settings(max_examples=300, deadline=None)
@given(bodies, st.sampled_from(list(BareNewline)))
def test_only_crlf_dot_crlf_ends_a_message(body, mode):
    config = dataclasses.replace(BASE, bare_newline=mode, forbid_unauth_pipelining=False)
    conn = ServerConnection(config)
    inputs = [
        b"EHLO x\r\n",
        b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n",
        body + b"\r\n.\r\n",
        b"QUIT\r\n",
    ]
    _, events = drive(conn, inputs, [True])
    assert len([e for e in events if isinstance(e, MailFrom)]) == 1
    completed = [e for e in events if isinstance(e, MessageComplete)]
    assert len(completed) == (
        0 if mode is BareNewline.REJECT and b"\n" in body.replace(b"\r\n", b"") else 1
    )
