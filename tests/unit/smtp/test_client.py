from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from mailrelay.queue.record import Notify
from mailrelay.smtp.client import (
    AuthChallenge,
    ClientConnection,
    Closed,
    Event,
    Failed,
    NeedData,
    Phase,
    ProbeDone,
    Ready,
    SendContent,
    SessionOptions,
    StartTls,
    StartTlsRefused,
    TransactionDone,
    UsageError,
)
from mailrelay.smtp.client_commands import MailEnvelope, MailRecipient
from mailrelay.smtp.client_outcome import IoError, Outcome, Stage
from mailrelay.smtp.client_settings import ClientSettings

SETTINGS = ClientSettings(helo_name="relay.corp.local", myhostname="relay.corp.local")
PEER = "mx.example.com[192.0.2.1]"
EHLO = b"250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 DSN\r\n"
EHLO_PLAIN = b"250-mx.example.com\r\n250 SIZE 10240000\r\n"


def envelope(*recipients: str, size: int = 100, **kwargs: object) -> MailEnvelope:
    rcpts = tuple(MailRecipient(r) for r in recipients or ("a@example.com",))
    return MailEnvelope("s@corp.local", rcpts, size, **kwargs)  # type: ignore[arg-type]


@dataclass
class Talk:
    """Drives a ClientConnection: replies are fed when it asks, writes are recorded."""

    settings: ClientSettings = SETTINGS
    options: SessionOptions | None = None
    writes: list[bytes] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.conn = ClientConnection(self.settings, PEER, self.options)

    def until_decision(self, *replies: bytes | IoError) -> Event:
        """Feed *replies* one per NeedData; return the first event that is not NeedData."""
        pending = list(replies)
        while True:
            event = self.conn.next_event()
            data = self.conn.data_to_send()
            if data:
                self.writes.append(data)
            self.events.append(event)
            if not isinstance(event, NeedData):
                return event
            if not pending:
                return event
            reply = pending.pop(0)
            if isinstance(reply, IoError):
                self.conn.connection_failed(reply)
            else:
                self.conn.receive_data(reply)

    def session(self, ehlo: bytes = EHLO) -> Ready:
        event = self.until_decision(b"220 mx.example.com ESMTP\r\n", ehlo)
        assert isinstance(event, Ready), event
        return event

    def deliver(self, env: MailEnvelope, *replies: bytes | IoError, keep: bool = False,
                downgrade: bool = False, content_replies: tuple[bytes | IoError, ...] = (),
                ) -> Event:
        self.conn.begin(env, keep=keep, downgrade=downgrade)
        event = self.until_decision(*replies)
        if isinstance(event, SendContent):
            self.writes.append(b"<content>")
            self.conn.content_sent()
            event = self.until_decision(*content_replies)
        return event


def reasons(event: Event) -> dict[int, tuple[str, str]]:
    assert isinstance(event, TransactionDone), event
    return {i: (o.dsn, o.reason) for i, o in sorted(event.outcomes.items())}


# -- the session ------------------------------------------------------------------------------


def test_the_client_greets_with_ehlo_and_learns_the_features():
    talk = Talk()
    ready = talk.session()
    assert talk.writes == [b"EHLO relay.corp.local\r\n"]
    assert ready.features.pipelining and ready.features.size_limit == 10240000


def test_a_rejected_ehlo_falls_back_to_helo_and_plain_smtp():
    talk = Talk()
    event = talk.until_decision(b"220 mx ESMTP\r\n", b"502 5.5.2 Error: command not recognized\r\n",
                                b"250 mx.example.com\r\n")
    assert isinstance(event, Ready) and not event.features.esmtp
    assert talk.writes == [b"EHLO relay.corp.local\r\n", b"HELO relay.corp.local\r\n"]


def test_a_421_to_ehlo_ends_the_session_as_a_refusal():
    talk = Talk()
    event = talk.until_decision(b"220 mx ESMTP\r\n", b"421 4.7.0 Too busy\r\n")
    assert isinstance(event, Failed)
    assert event.outcome == Outcome("4.7.0", f"host {PEER} refused to talk to me: 421 4.7.0 Too "
                                    "busy", event.outcome.reply)
    assert talk.writes == [b"EHLO relay.corp.local\r\n"]


def test_a_rejected_helo_after_ehlo_is_a_permanent_refusal():
    talk = Talk()
    event = talk.until_decision(b"220 mx\r\n", b"500 what\r\n", b"550 5.7.1 Go away\r\n")
    assert isinstance(event, Failed) and event.outcome.dsn == "5.7.1"
    assert event.outcome.reason == f"host {PEER} refused to talk to me: 550 5.7.1 Go away"


def test_a_5xx_greeting_only_defers_with_smtp_skip_5xx_greeting():
    event = Talk().until_decision(b"554 5.7.1 No SMTP service here\r\n")
    assert isinstance(event, Failed) and event.outcome.dsn == "4.7.1" and event.quit_ok
    assert event.outcome.reason == (
        f"host {PEER} refused to talk to me: 554 5.7.1 No SMTP service here")
    strict = Talk(replace(SETTINGS, skip_5xx_greeting=False))
    event = strict.until_decision(b"554 5.7.1 No SMTP service here\r\n")
    assert isinstance(event, Failed) and event.outcome.dsn == "5.7.1"


def test_quit_after_a_refusal_is_sent_once_and_closes():
    talk = Talk()
    talk.until_decision(b"421 4.3.2 Service shutting down\r\n")
    talk.conn.quit()
    talk.conn.quit()
    assert talk.conn.data_to_send() == b"QUIT\r\n"
    assert isinstance(talk.conn.next_event(), Closed)


def test_a_greeting_that_never_comes_times_out_in_postfix_words():
    event = Talk().until_decision(IoError.TIMEOUT)
    assert isinstance(event, Failed) and not event.quit_ok
    assert event.outcome == Outcome("4.4.2", f"conversation with {PEER} timed out while "
                                    "receiving the initial server greeting")


def test_a_connection_lost_during_ehlo_names_the_ehlo_handshake():
    event = Talk().until_decision(b"220 mx ESMTP\r\n", b"")
    assert isinstance(event, Failed)
    assert event.outcome.reason == (
        f"lost connection with {PEER} while performing the EHLO handshake")


def test_a_server_that_calls_itself_by_our_name_is_a_mail_loop():
    talk = Talk(options=SessionOptions(nexthop="example.com", loop_detect=True))
    event = talk.until_decision(b"220 relay.corp.local ESMTP\r\n",
                                b"250-relay.corp.local\r\n250 PIPELINING\r\n")
    assert isinstance(event, Failed)
    assert event.outcome == Outcome("5.4.6", "mail for example.com loops back to myself")
    assert any("greeted me with my own hostname" in n for n in talk.conn.notes)


def test_without_smtp_always_send_ehlo_a_greeting_without_esmtp_gets_helo():
    talk = Talk(replace(SETTINGS, always_send_ehlo=False))
    talk.until_decision(b"220 old.example.com Sendmail\r\n")
    assert talk.writes == [b"HELO relay.corp.local\r\n"]
    esmtp = Talk(replace(SETTINGS, always_send_ehlo=False))
    esmtp.until_decision(b"220 mx.example.com ESMTP Postfix\r\n")
    assert esmtp.writes == [b"EHLO relay.corp.local\r\n"]


def test_decisions_out_of_turn_are_usage_errors():
    talk = Talk()
    with pytest.raises(UsageError):
        talk.conn.begin(envelope(), keep=False, downgrade=False)
    talk.session()
    with pytest.raises(UsageError):
        talk.conn.tls_started()


# -- the pipelined transaction ----------------------------------------------------------------


def test_a_pipelined_transaction_sends_the_envelope_in_one_group():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope("a@example.com", "b@example.com"),
                         b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n",
                         content_replies=(b"250 2.0.0 Ok: queued as 4Xyz\r\n",))
    assert talk.writes[1:] == [
        b"MAIL FROM:<s@corp.local> SIZE=100\r\nRCPT TO:<a@example.com> ORCPT=rfc822;a@exam"
        b"ple.com\r\nRCPT TO:<b@example.com> ORCPT=rfc822;b@example.com\r\nDATA\r\n",
        b"<content>", b".\r\nQUIT\r\n"]
    assert reasons(event) == {0: ("2.0.0", "250 2.0.0 Ok: queued as 4Xyz"),
                              1: ("2.0.0", "250 2.0.0 Ok: queued as 4Xyz")}
    assert isinstance(event, TransactionDone) and not event.reusable


def test_without_pipelining_each_command_waits_for_its_reply_and_quit_follows_the_dot():
    talk = Talk()
    talk.session(EHLO_PLAIN)
    event = talk.deliver(envelope("a@example.com"), b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n",
                         content_replies=(b"250 done\r\n",))
    assert talk.writes[1:] == [b"MAIL FROM:<s@corp.local> SIZE=100\r\n",
                               b"RCPT TO:<a@example.com>\r\n", b"DATA\r\n", b"<content>",
                               b".\r\n", b"QUIT\r\n"]
    assert reasons(event) == {0: ("2.0.0", "250 done")}


def test_a_rejected_mail_from_fails_every_recipient_and_ends_with_a_lone_dot():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope("a@example.com", "b@example.com"),
                         b"451 4.3.0 Try later\r\n250 ok\r\n250 ok\r\n354 go\r\n",
                         b"250 ok\r\n")
    said = f"host {PEER} said: 451 4.3.0 Try later (in reply to MAIL FROM command)"
    assert reasons(event) == {0: ("4.3.0", said), 1: ("4.3.0", said)}
    assert talk.writes[-1] == b".\r\nQUIT\r\n"


def test_a_rejected_mail_from_and_a_refused_data_end_with_rset():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope(), b"553 5.7.1 Sender rejected\r\n503 5.5.1 need MAIL\r\n"
                         b"503 5.5.1 need RCPT\r\n", b"250 ok\r\n")
    assert talk.writes[-1] == b"RSET\r\nQUIT\r\n"
    assert reasons(event)[0][0] == "5.7.1"


def test_without_pipelining_a_rejected_mail_from_goes_straight_to_rset():
    talk = Talk()
    talk.session(EHLO_PLAIN)
    event = talk.deliver(envelope(), b"550 5.1.0 Sender rejected\r\n", b"250 ok\r\n")
    assert talk.writes[1:] == [b"MAIL FROM:<s@corp.local> SIZE=100\r\n", b"RSET\r\n",
                               b"QUIT\r\n"]
    assert reasons(event) == {0: ("5.1.0", f"host {PEER} said: 550 5.1.0 Sender rejected (in "
                                           "reply to MAIL FROM command)")}


def test_each_rejected_recipient_keeps_its_own_reply():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope("a@x", "b@x", "c@x"),
                         b"250 ok\r\n450 4.1.1 try later\r\n550 5.1.1 unknown\r\n250 ok\r\n"
                         b"354 go\r\n", content_replies=(b"250 2.0.0 queued\r\n",))
    assert reasons(event) == {
        0: ("4.1.1", f"host {PEER} said: 450 4.1.1 try later (in reply to RCPT TO command)"),
        1: ("5.1.1", f"host {PEER} said: 550 5.1.1 unknown (in reply to RCPT TO command)"),
        2: ("2.0.0", "250 2.0.0 queued")}


def test_when_every_recipient_is_rejected_no_content_is_sent():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope("a@x", "b@x"),
                         b"250 ok\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n554 5.5.1 no valid\r\n",
                         b"250 ok\r\n")
    assert b"<content>" not in talk.writes and talk.writes[-1] == b"RSET\r\nQUIT\r\n"
    assert {o[0] for o in reasons(event).values()} == {"5.1.1"}


def test_without_pipelining_all_rejected_recipients_mean_no_data_command():
    talk = Talk()
    talk.session(EHLO_PLAIN)
    talk.deliver(envelope("a@x"), b"250 ok\r\n", b"550 5.1.1 no\r\n", b"250 ok\r\n")
    assert talk.writes[1:] == [b"MAIL FROM:<s@corp.local> SIZE=100\r\n",
                               b"RCPT TO:<a@x>\r\n", b"RSET\r\n", b"QUIT\r\n"]


def test_a_refused_data_fails_the_accepted_recipients_only():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope("a@x", "b@x"),
                         b"250 ok\r\n550 5.1.1 no\r\n250 ok\r\n451 4.3.0 Data not now\r\n",
                         b"250 ok\r\n")
    assert reasons(event) == {
        0: ("5.1.1", f"host {PEER} said: 550 5.1.1 no (in reply to RCPT TO command)"),
        1: ("4.3.0", f"host {PEER} said: 451 4.3.0 Data not now (in reply to DATA command)")}


def test_a_rejected_end_of_data_fails_every_accepted_recipient():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope(), b"250 ok\r\n250 ok\r\n354 go\r\n",
                         content_replies=(b"554 5.7.1 Spam rejected\r\n",))
    assert reasons(event) == {0: ("5.7.1", f"host {PEER} said: 554 5.7.1 Spam rejected (in "
                                           "reply to end of DATA command)")}


def test_a_positive_reply_where_a_354_is_due_is_a_protocol_error():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope(), b"250 ok\r\n250 ok\r\n250 2.0.0 what\r\n", b"250 ok\r\n")
    assert reasons(event) == {0: ("5.5.0", f"Protocol error: host {PEER} said: 250 2.0.0 what "
                                           "(in reply to DATA command)")}


def test_a_multi_line_error_is_quoted_on_one_line():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope(), b"250 ok\r\n550-5.1.1 first\r\n550 5.1.1 second\r\n"
                         b"554 no valid\r\n", b"250 ok\r\n")
    assert reasons(event)[0][1] == (
        f"host {PEER} said: 550-5.1.1 first 550 5.1.1 second (in reply to RCPT TO command)")


def test_a_timeout_waiting_for_mail_from_defers_everyone_in_postfix_words():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope("a@x", "b@x"), IoError.TIMEOUT)
    assert reasons(event) == {i: ("4.4.2", f"conversation with {PEER} timed out while sending "
                                           "MAIL FROM") for i in (0, 1)}
    assert isinstance(event, TransactionDone) and not event.reusable


def test_a_connection_lost_after_the_dot_may_mean_a_duplicate():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope(), b"250 ok\r\n250 ok\r\n354 go\r\n", content_replies=(b"",))
    assert reasons(event) == {0: ("4.4.2", f"lost connection with {PEER} while sending end of "
                                           "data -- message may be sent more than once")}


def test_a_connection_lost_while_writing_the_content_reads_an_early_reply_first():
    talk = Talk()
    talk.session()
    talk.conn.begin(envelope(), keep=False, downgrade=False)
    assert isinstance(talk.until_decision(b"250 ok\r\n250 ok\r\n354 go\r\n"), SendContent)
    talk.conn.connection_failed(IoError.LOST)
    event = talk.until_decision(b"554 5.3.4 Message too big\r\n")
    assert reasons(event)[0][1].endswith("554 5.3.4 Message too big (in reply to end of DATA "
                                         "command)")
    assert talk.writes[-1].startswith(b"MAIL")  # neither "." nor QUIT after a broken write
    lost = Talk()
    lost.session()
    lost.conn.begin(envelope(), keep=False, downgrade=False)
    lost.until_decision(b"250 ok\r\n250 ok\r\n354 go\r\n")
    lost.conn.connection_failed(IoError.LOST)
    event = lost.until_decision(b"")
    assert reasons(event) == {0: ("4.4.2", f"lost connection with {PEER} while sending message "
                                           "body")}


def test_a_timeout_while_writing_the_content_names_the_message_body():
    talk = Talk()
    talk.session()
    talk.conn.begin(envelope(), keep=False, downgrade=False)
    talk.until_decision(b"250 ok\r\n250 ok\r\n354 go\r\n")
    talk.conn.connection_failed(IoError.TIMEOUT)
    event = talk.until_decision()
    assert reasons(event) == {0: ("4.4.2", f"conversation with {PEER} timed out while sending "
                                           "message body")}


def test_a_message_larger_than_the_server_size_is_refused_without_a_command():
    talk = Talk()
    talk.session(b"250-mx\r\n250 SIZE 100\r\n")
    event = talk.deliver(envelope(size=426))
    assert reasons(event) == {0: ("5.3.4", f"message size 426 exceeds size limit 100 of server "
                                           f"{PEER}")}
    assert talk.writes == [b"EHLO relay.corp.local\r\n"]


def test_many_recipients_are_sent_in_groups_of_at_most_4096_bytes():
    talk = Talk()
    talk.session()
    rcpts = [f"recipient-number-{i:04d}@a-rather-long-domain-name.example.com" for i in range(80)]
    talk.conn.begin(envelope(*rcpts), keep=False, downgrade=False)
    conn = talk.conn
    groups = []
    while True:
        event = conn.next_event()
        data = conn.data_to_send()
        if data:
            groups.append(data)
        if not isinstance(event, NeedData):
            break
        # The server answers what it got: one reply per command of the last group.
        answers = [b"354 go\r\n" if c == b"DATA" else b"250 ok\r\n"
                   for c in groups[-1].split(b"\r\n")[:-1]]
        conn.receive_data(b"".join(answers))
    assert isinstance(event, SendContent)
    assert len(groups) >= 2 and all(len(g) <= 4096 for g in groups)
    assert b"".join(groups).count(b"RCPT TO:") == 80


def test_a_kept_session_sends_no_quit_and_is_probed_with_rset_before_reuse():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope(), b"250 ok\r\n250 ok\r\n354 go\r\n", keep=True,
                         content_replies=(b"250 2.0.0 Ok\r\n",))
    assert isinstance(event, TransactionDone) and event.reusable
    assert talk.writes[-1] == b".\r\n"
    assert talk.conn.phase is Phase.READY and talk.conn.transactions == 1
    talk.conn.probe()
    assert talk.until_decision(b"250 2.0.0 Ok\r\n") == ProbeDone(True)
    assert talk.writes[-1] == b"RSET\r\n"
    event = talk.deliver(envelope("b@x"), b"250 ok\r\n250 ok\r\n354 go\r\n",
                         content_replies=(b"250 2.0.0 Ok\r\n",))
    assert talk.writes[-1] == b".\r\nQUIT\r\n" and reasons(event)[0][0] == "2.0.0"


def test_a_kept_session_that_saw_a_protocol_error_is_not_reused():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope("a@x", "b@x"),
                         b"250 ok\r\n503 5.5.1 bad sequence\r\n250 ok\r\n354 go\r\n", keep=True,
                         content_replies=(b"250 ok\r\n",))
    assert isinstance(event, TransactionDone) and not event.reusable
    assert talk.writes[-1] == b".\r\nQUIT\r\n"


def test_a_failed_rset_probe_drops_the_connection_without_quit():
    talk = Talk()
    talk.session()
    talk.deliver(envelope(), b"250 ok\r\n250 ok\r\n354 go\r\n", keep=True,
                 content_replies=(b"250 ok\r\n",))
    talk.conn.probe()
    assert talk.until_decision(b"421 4.4.2 timeout\r\n") == ProbeDone(False)
    talk.conn.quit()
    assert talk.conn.data_to_send() == b""


def test_the_quit_reply_is_read_when_smtp_skip_quit_response_is_off():
    talk = Talk(replace(SETTINGS, skip_quit_response=False))
    talk.session()
    event = talk.deliver(envelope(), b"250 ok\r\n250 ok\r\n354 go\r\n",
                         content_replies=(b"250 ok\r\n", b"221 bye\r\n"))
    assert isinstance(event, TransactionDone)
    assert [e for e in talk.events if isinstance(e, NeedData)][-1].stage is Stage.QUIT


# -- the commands -----------------------------------------------------------------------------


def test_mail_from_carries_body_envid_ret_and_smtputf8_when_offered():
    talk = Talk()
    talk.session(EHLO + b"250 SMTPUTF8\r\n" if False else
                 b"250-mx\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n"
                 b"250 SIZE\r\n")
    env = MailEnvelope("s@corp.local", (MailRecipient("a@x", "rfc822;orig+x@x",
                                                      Notify.SUCCESS | Notify.FAILURE),),
                       100, body_type="8BITMIME", smtputf8=True, dsn_ret="HDRS",
                       dsn_envid="abc+def=x")
    talk.conn.begin(env, keep=False, downgrade=False)
    talk.until_decision()
    assert talk.writes[-1] == (
        b"MAIL FROM:<s@corp.local> SIZE=100 BODY=8BITMIME ENVID=abc+2Bdef+3Dx RET=HDRS "
        b"SMTPUTF8\r\nRCPT TO:<a@x> ORCPT=rfc822;orig+2Bx@x NOTIFY=SUCCESS,FAILURE\r\n"
        b"DATA\r\n")


def test_without_the_extensions_the_parameters_are_left_out():
    talk = Talk()
    talk.session(b"250-mx\r\n250 PIPELINING\r\n")
    env = MailEnvelope("s@corp.local", (MailRecipient("a@x", "", Notify.NEVER),), 100,
                       body_type="8BITMIME", smtputf8=True, dsn_ret="FULL", dsn_envid="e")
    talk.conn.begin(env, keep=False, downgrade=False)
    talk.until_decision()
    assert talk.writes[-1] == b"MAIL FROM:<s@corp.local>\r\nRCPT TO:<a@x>\r\nDATA\r\n"


def test_size_is_not_announced_when_the_content_will_be_converted():
    talk = Talk()
    talk.session(b"250-mx\r\n250-PIPELINING\r\n250 SIZE 1000\r\n")
    talk.conn.begin(envelope(), keep=False, downgrade=True)
    talk.until_decision()
    assert talk.writes[-1].startswith(b"MAIL FROM:<s@corp.local>\r\n")


def test_dummy_mail_auth_is_sent_only_to_servers_that_offer_auth():
    settings = replace(SETTINGS, sasl_enabled=True, send_dummy_mail_auth=True)
    talk = Talk(settings)
    talk.session(b"250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n")
    talk.conn.begin(envelope(), keep=False, downgrade=False)
    talk.until_decision()
    assert talk.writes[-1].startswith(b"MAIL FROM:<s@corp.local> AUTH=<>\r\n")


def test_addresses_that_need_quotes_get_them():
    talk = Talk()
    talk.session(b"250-mx\r\n250 PIPELINING\r\n")
    env = MailEnvelope('john doe@example.com', (MailRecipient('a"b@x'), MailRecipient("")), 1)
    talk.conn.begin(env, keep=False, downgrade=False)
    talk.until_decision()
    assert talk.writes[-1] == (b'MAIL FROM:<"john doe"@example.com>\r\nRCPT TO:<"a\\"b"@x>\r\n'
                               b"RCPT TO:<>\r\nDATA\r\n")


# -- STARTTLS and AUTH ------------------------------------------------------------------------


def test_starttls_restarts_the_session_with_a_new_ehlo():
    talk = Talk()
    talk.session(b"250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n")
    talk.conn.start_tls()
    assert isinstance(talk.until_decision(b"220 2.0.0 Ready\r\n250 stale pipelined\r\n"),
                      StartTls)
    talk.conn.tls_started()
    event = talk.until_decision(b"250-mx\r\n250 AUTH PLAIN\r\n")
    assert talk.writes[-2:] == [b"STARTTLS\r\n", b"EHLO relay.corp.local\r\n"]
    assert isinstance(event, Ready) and event.features.auth == ("PLAIN",)
    assert not event.features.starttls and talk.conn.tls_active


def test_a_refused_starttls_leaves_the_session_in_the_clear_for_the_caller_to_judge():
    talk = Talk()
    talk.session(b"250-mx\r\n250 STARTTLS\r\n")
    talk.conn.start_tls()
    event = talk.until_decision(b"454 4.7.0 TLS not available\r\n")
    assert isinstance(event, StartTlsRefused) and event.reply.code == 454
    ready = talk.until_decision()
    assert isinstance(ready, Ready) and not ready.features.starttls


def test_auth_plain_sends_the_initial_response_on_the_auth_line():
    talk = Talk()
    talk.session(b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n")
    talk.conn.authenticate("PLAIN", "AHVzZXIAcGFzcw==")
    event = talk.until_decision(b"235 2.7.0 Authentication successful\r\n")
    assert talk.writes[-1] == b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"
    assert isinstance(event, Ready) and talk.conn.authenticated


def test_auth_login_answers_each_challenge():
    talk = Talk()
    talk.session(b"250-mx\r\n250 AUTH LOGIN\r\n")
    talk.conn.authenticate("LOGIN", None)
    event = talk.until_decision(b"334 VXNlcm5hbWU6\r\n")
    assert event == AuthChallenge("VXNlcm5hbWU6")
    talk.conn.respond("dXNlcg==")
    assert talk.until_decision(b"334 UGFzc3dvcmQ6\r\n") == AuthChallenge("UGFzc3dvcmQ6")
    talk.conn.respond("cGFzcw==")
    assert isinstance(talk.until_decision(b"235 2.7.0 ok\r\n"), Ready)
    assert talk.writes[-3:] == [b"AUTH LOGIN\r\n", b"dXNlcg==\r\n", b"cGFzcw==\r\n"]


def test_a_failed_auth_defers_by_default_and_bounces_without_soft_bounce():
    talk = Talk()
    talk.session(b"250-mx\r\n250 AUTH PLAIN\r\n")
    talk.conn.authenticate("PLAIN", "AHUAcA==")
    event = talk.until_decision(b"535 5.7.8 Error: authentication failed\r\n")
    assert isinstance(event, Failed) and event.outcome.dsn == "4.7.8"
    assert event.outcome.reason == (f"SASL authentication failed; server {PEER} said: 535 5.7.8 "
                                    "Error: authentication failed")
    hard = Talk(replace(SETTINGS, sasl_auth_soft_bounce=False))
    hard.session(b"250-mx\r\n250 AUTH PLAIN\r\n")
    hard.conn.authenticate("PLAIN", "AHUAcA==")
    event = hard.until_decision(b"535 5.7.8 Error: authentication failed\r\n")
    assert isinstance(event, Failed) and event.outcome.dsn == "5.7.8"


def test_a_long_initial_response_waits_for_an_empty_challenge():
    talk = Talk()
    talk.session(b"250-mx\r\n250 AUTH PLAIN\r\n")
    long = "A" * 600
    talk.conn.authenticate("PLAIN", long)
    event = talk.until_decision(b"334 \r\n", b"235 ok\r\n")
    assert isinstance(event, Ready)
    assert talk.writes[-2:] == [b"AUTH PLAIN\r\n", long.encode() + b"\r\n"]


def test_a_timeout_during_auth_is_reported_as_the_ehlo_handshake():
    talk = Talk()
    talk.session(b"250-mx\r\n250 AUTH PLAIN\r\n")
    talk.conn.authenticate("PLAIN", "AHUAcA==")
    event = talk.until_decision(IoError.TIMEOUT)
    assert isinstance(event, Failed)
    assert event.outcome.reason == (f"conversation with {PEER} timed out while performing the "
                                    "EHLO handshake")


def test_outcomes_are_values_with_their_reply():
    talk = Talk()
    talk.session()
    event = talk.deliver(envelope(), b"550 5.7.1 no\r\n250 ok\r\n354 go\r\n", b"250 ok\r\n")
    assert isinstance(event, TransactionDone)
    outcome = event.outcomes[0]
    assert outcome.reply is not None and outcome.reply.text == "550 5.7.1 no"
    assert outcome.permanent and not outcome.delivered and outcome.index == 0
