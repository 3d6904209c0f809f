from __future__ import annotations

import dataclasses

import pytest

from mailrelay.mail.reply import Reply
from mailrelay.smtp import ServerConnection, ServerSettings, State, TlsLevel, UsageError
from mailrelay.smtp.events import (
    CloseReason,
    Connected,
    ConnectionClosed,
    Event,
    Helo,
    MailFrom,
    MessageAborted,
    MessageComplete,
    MessageData,
    NeedData,
    Notice,
    NoticeKind,
    StartTls,
    TransactionReset,
)
from mailrelay.smtp.framing import BareNewline

SETTINGS = ServerSettings(myhostname="mx.example", banner="mx.example ESMTP", error_sleep_time=0)


class Driver:
    """Answers every question with yes (or the reply in ``answers``) and records events."""

    def __init__(self, settings: ServerSettings = SETTINGS, **answers: Reply) -> None:
        self.conn = ServerConnection(settings, "client.example[192.0.2.1]")
        self.answers = answers
        self.events: list[Event] = []
        self.output = b""

    def run(self, data: bytes | None = None) -> bytes:
        if data is not None:
            self.conn.receive_data(data)
        start = len(self.output)
        while True:
            event = self.conn.next_event()
            self.output += self.conn.data_to_send()
            self.events.append(event)
            if isinstance(event, NeedData | StartTls | ConnectionClosed):
                return self.output[start:]
            answer = self.answers.get(type(event).__name__)
            if self.conn.pending is None:
                continue
            if answer is not None:
                self.conn.reject(answer)
            elif isinstance(event, MessageComplete):
                self.conn.accept(queue_id="QID")
            else:
                self.conn.accept()

    def of(self, kind: type) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


TRANSACTION = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n"


def test_a_whole_session_gives_the_replies_and_the_events_in_order():
    d = Driver()
    assert d.run() == b"220 mx.example ESMTP\r\n"
    d.run(b"EHLO c.example\r\n")
    d.run(TRANSACTION + b"DATA\r\n")
    assert d.run(b"Subject: x\r\n\r\n..body\r\n.\r\n") == b"250 2.0.0 Ok: queued as QID\r\n"
    assert d.run(b"QUIT\r\n") == b"221 2.0.0 Bye\r\n"
    kinds = [type(e).__name__ for e in d.events if not isinstance(e, NeedData)]
    assert kinds == [
        "Connected",
        "Helo",
        "MailFrom",
        "RcptTo",
        "DataCommand",
        "MessageData",
        "MessageComplete",
        "ConnectionClosed",
    ]
    (data,) = d.of(MessageData)
    assert isinstance(data, MessageData) and data.data == b"Subject: x\r\n\r\n.body\r\n"
    (complete,) = d.of(MessageComplete)
    assert complete == MessageComplete(size=12 + 2 + 7, bdat=False)
    assert d.conn.state is State.CLOSED


def test_a_question_must_be_answered_before_the_machine_goes_on():
    conn = ServerConnection(SETTINGS)
    assert isinstance(conn.next_event(), Connected)
    conn.accept()
    assert isinstance(conn.next_event(), NeedData)
    conn.receive_data(b"EHLO c\r\n")
    assert isinstance(conn.next_event(), Helo)
    with pytest.raises(UsageError):
        conn.next_event()
    conn.receive_data(b"MAIL FROM:<a@example.com>\r\n")  # input may arrive meanwhile
    conn.accept()
    assert isinstance(conn.next_event(), MailFrom)


def test_input_before_the_banner_is_talking_before_the_greeting():
    conn = ServerConnection(SETTINGS)
    conn.receive_data(b"QUIT\r\n")
    assert isinstance(conn.next_event(), Connected)
    conn.accept()
    assert isinstance(conn.next_event(), Notice)
    assert conn.next_event() == ConnectionClosed(CloseReason.PROTOCOL)
    assert conn.data_to_send() == b"554 5.5.0 Error: SMTP protocol synchronization\r\n"


def test_the_shell_cannot_misuse_the_machine():
    conn = ServerConnection(SETTINGS)
    conn.next_event()
    with pytest.raises(UsageError):
        conn.reject(Reply(250, "2.0.0", "Ok"))
    with pytest.raises(UsageError):
        conn.tls_started()
    conn.accept()
    with pytest.raises(UsageError):
        conn.accept()  # nothing is asked


def test_a_message_is_accepted_only_with_its_queue_id():
    conn = ServerConnection(SETTINGS)
    conn.next_event()
    conn.accept()
    for data in (b"EHLO c\r\n", b"MAIL FROM:<>\r\n", b"RCPT TO:<b@example.net>\r\n", b"DATA\r\n"):
        conn.receive_data(data)
        conn.next_event()
        conn.accept()
    conn.receive_data(b".\r\n")
    assert isinstance(conn.next_event(), MessageComplete)
    with pytest.raises(UsageError):
        conn.accept()
    conn.accept(queue_id="4ABC")
    assert isinstance(conn.next_event(), NeedData)
    assert conn.data_to_send().endswith(b"250 2.0.0 Ok: queued as 4ABC\r\n")


def test_after_the_soft_error_limit_each_reply_is_preceded_by_a_pause():
    settings = dataclasses.replace(SETTINGS, soft_error_limit=2, error_sleep_time=1.5)
    conn = ServerConnection(settings)
    conn.next_event()
    conn.accept()
    conn.receive_data(b"FOO\r\n" * 3 + b"NOOP\r\n")
    seen: list[tuple[str, bytes]] = []
    while not isinstance(event := conn.next_event(), NeedData):
        seen.append((type(event).__name__, conn.data_to_send()))
    seen.append(("NeedData", conn.data_to_send()))
    # two free errors, then every reply waits, the pause coming before its reply
    assert seen == [
        ("Pause", b"220 mx.example ESMTP\r\n" + b"500 5.5.2 Error: command not recognized\r\n" * 2),
        ("Pause", b"500 5.5.2 Error: command not recognized\r\n"),
        ("NeedData", b"250 2.0.0 Ok\r\n"),
    ]


def test_the_hard_error_limit_ends_the_session_with_421():
    d = Driver(dataclasses.replace(SETTINGS, hard_error_limit=2))
    d.run()
    assert d.run(b"FOO\r\nFOO\r\n") == (
        b"500 5.5.2 Error: command not recognized\r\n" * 2
        + b"421 4.7.0 mx.example Error: too many errors\r\n"
    )
    assert d.events[-1] == ConnectionClosed(CloseReason.TOO_MANY_ERRORS)


def test_a_rejection_counts_as_an_error_and_a_queued_message_forgives_them():
    d = Driver(
        dataclasses.replace(SETTINGS, hard_error_limit=3),
        RcptTo=Reply(550, "5.1.1", "<b@example.net>: User unknown"),
    )
    d.run()
    d.run(b"EHLO c\r\n")
    assert d.run(TRANSACTION) == b"250 2.1.0 Ok\r\n550 5.1.1 <b@example.net>: User unknown\r\n"
    assert d.conn.session.errors == 1


def test_a_client_closing_in_the_middle_of_data_aborts_the_message():
    d = Driver()
    d.run()
    d.run(b"EHLO c\r\n")
    d.run(TRANSACTION + b"DATA\r\n")
    d.run(b"half a mess")
    d.run(b"age\r\nmore")
    assert d.run(b"") == b""
    assert isinstance(d.events[-2], MessageAborted)
    assert d.events[-1] == ConnectionClosed(CloseReason.CLIENT_EOF)
    assert not d.of(MessageComplete)


def test_a_timeout_sends_421_and_aborts_the_message():
    d = Driver()
    d.run()
    d.run(b"EHLO c\r\n")
    d.run(TRANSACTION + b"DATA\r\n")
    d.run(b"partial")
    d.conn.timeout()
    assert d.run() == b"421 4.4.2 mx.example Error: timeout exceeded\r\n"
    assert isinstance(d.events[-2], MessageAborted)
    assert d.events[-1] == ConnectionClosed(CloseReason.TIMEOUT)


@pytest.mark.parametrize("separator", [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n"])
def test_smuggling_is_refused_even_with_bare_newline_no(separator):
    # DIFFERS FROM POSTFIX: with "no", Postfix < 3.9 ends the message at \n.\n.
    legacy = dataclasses.replace(
        SETTINGS, bare_newline=BareNewline.NO, forbid_unauth_pipelining=False
    )
    d = Driver(legacy)
    d.run()
    d.run(b"EHLO c\r\n")
    d.run(TRANSACTION + b"DATA\r\n")
    d.run(b"body" + separator + TRANSACTION + b"DATA\r\nsmuggled\r\n.\r\n")
    assert len(d.of(MessageComplete)) == 1
    assert len(d.of(MailFrom)) == 1


def test_note_accepts_bare_lf_and_reports_it():
    d = Driver(dataclasses.replace(SETTINGS, bare_newline=BareNewline.NOTE))
    d.run()
    d.run(b"EHLO c\n")
    d.run(TRANSACTION + b"DATA\r\n")
    assert d.run(b"a\nb\r\n.\r\n") == b"250 2.0.0 Ok: queued as QID\r\n"
    notices = [e for e in d.of(Notice) if isinstance(e, Notice)]
    assert [n.kind for n in notices] == [NoticeKind.BARE_LF, NoticeKind.BARE_LF]


def test_improper_pipelining_is_noticed_when_not_forbidden():
    d = Driver(dataclasses.replace(SETTINGS, forbid_unauth_pipelining=False))
    d.run()
    d.run(b"HELO c\r\nNOOP\r\n")
    (notice,) = d.of(Notice)
    assert notice == Notice(NoticeKind.IMPROPER_PIPELINING, "HELO", "NOOP\\r\\n")
    assert d.conn.session.improper_pipelining


def test_starttls_drops_what_came_before_the_handshake_and_starts_over():
    d = Driver(dataclasses.replace(SETTINGS, tls_level=TlsLevel.MAY))
    d.run()
    assert b"STARTTLS" in d.run(b"EHLO c\r\n")
    d.run(b"MAIL FROM:<a@example.com>\r\n")
    assert d.run(b"STARTTLS\r\nRCPT TO:<x@y.z>\r\n") == b"220 2.0.0 Ready to start TLS\r\n"
    assert isinstance(d.events[-1], StartTls)
    assert any(isinstance(e, TransactionReset) for e in d.events)
    d.conn.receive_data(b"handshake bytes in clear text")
    d.conn.tls_started()
    assert d.conn.session.helo_name is None and d.conn.session.tls_active
    assert b"STARTTLS" not in d.run(b"EHLO c\r\n")


def test_a_failed_handshake_closes():
    d = Driver(dataclasses.replace(SETTINGS, tls_level=TlsLevel.MAY))
    d.run()
    d.run(b"STARTTLS\r\n")
    d.conn.tls_failed()
    assert d.run() == b""
    assert d.events[-1] == ConnectionClosed(CloseReason.TLS_FAILED)


def test_a_421_from_the_shell_closes_the_connection():
    d = Driver(Connected=Reply(421, "4.7.0", "mx.example Error: too many connections"))
    assert d.run() == b"421 4.7.0 mx.example Error: too many connections\r\n"
    assert d.events[-1] == ConnectionClosed(CloseReason.REJECTED)
    assert d.conn.next_event() == d.events[-1]  # closed stays closed
    d.conn.receive_data(b"NOOP\r\n")
    assert d.conn.data_to_send() == b""


def test_rset_forgets_the_transaction():
    d = Driver()
    d.run()
    d.run(b"EHLO c\r\n")
    d.run(TRANSACTION)
    assert d.run(b"RSET\r\n") == b"250 2.0.0 Ok\r\n"
    assert isinstance(d.events[-2], TransactionReset)


def test_a_rejected_message_is_refused_with_the_shell_reply():
    d = Driver(MessageComplete=Reply(451, "4.3.0", "Error: queue file write error"))
    d.run()
    d.run(b"EHLO c\r\n")
    d.run(TRANSACTION + b"DATA\r\n")
    assert d.run(b"x\r\n.\r\n") == b"451 4.3.0 Error: queue file write error\r\n"
    assert d.conn.session.sender is None


def test_bdat_rejected_by_data_restrictions_skips_the_chunk():
    d = Driver(DataCommand=Reply(550, "5.7.1", "<DATA>: Data command rejected"))
    d.run()
    d.run(b"EHLO c\r\n")
    d.run(TRANSACTION)
    assert d.run(b"BDAT 3\r\nabcNOOP\r\n") == (
        b"550 5.7.1 <DATA>: Data command rejected\r\n250 2.0.0 Ok\r\n"
    )
    assert d.run(b"BDAT 1 LAST\r\nx") == b"551 5.0.0 Discarded 1 bytes after earlier error\r\n"


def test_bdat_content_is_streamed_and_sized_like_postfix():
    d = Driver()
    d.run()
    d.run(b"EHLO c\r\n")
    d.run(TRANSACTION)
    assert d.run(b"BDAT 4\r\nab\nc") == b"250 2.0.0 Ok: 4 bytes\r\n"
    assert d.run(b"BDAT 1 LAST\r\nd") == b"250 2.0.0 Ok: 8 bytes queued as QID\r\n"
    content = b"".join(e.data for e in d.of(MessageData) if isinstance(e, MessageData))
    assert content == b"ab\r\ncd\r\n"


def test_discarded_ehlo_keywords_are_reported_unless_silent():
    d = Driver(dataclasses.replace(SETTINGS, discard_ehlo_keywords=frozenset({"chunking"})))
    d.run()
    assert b"CHUNKING" not in d.run(b"EHLO c\r\n")
    assert d.of(Notice) == [Notice(NoticeKind.DISCARDED_EHLO_KEYWORDS, "CHUNKING")]


def test_the_machine_knows_where_the_client_was():
    d = Driver()
    d.run()
    d.run(b"EHLO c\r\n")
    d.run(TRANSACTION)
    assert d.conn.session.where == "RCPT"
