"""What the machine does once the shell has answered a question.

One function per kind of question and answer, looked up in two tables (no dispatch by name).
A rejection counts as an error, as a Postfix restriction's reject does; a rejection with code
421 or 521 also ends the session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mailrelay.mail.reply import Reply
from mailrelay.smtp import replies as R
from mailrelay.smtp.content import new_decoder, start_chunk
from mailrelay.smtp.events import (
    CloseReason,
    Connected,
    DataCommand,
    Decision,
    Helo,
    MailFrom,
    MessageComplete,
    Notice,
    NoticeKind,
    RcptTo,
    Vrfy,
)
from mailrelay.smtp.session import State
from mailrelay.smtp.settings import TlsLevel

if TYPE_CHECKING:
    from mailrelay.smtp.server import ServerConnection


def accept(conn: ServerConnection, decision: Decision, queue_id: str) -> None:
    _ACCEPT[type(decision)](conn, decision, queue_id)


def reject(conn: ServerConnection, decision: Decision, reply: Reply) -> None:
    session = conn.session
    if isinstance(decision, Connected):
        session.access_denied = True
        conn.set_state(State.COMMAND)
        conn.reply(reply)
        return
    if isinstance(decision, DataCommand) and decision.bdat:
        # The chunk follows the command whatever the answer: skip it, then reply.
        chunk = session.chunk
        assert chunk is not None
        chunk.discard_reply = reply
        session.bdat_discarding = True
        start_chunk(conn, chunk)
        session.errors += 1
        return
    if isinstance(decision, MessageComplete):
        session.content_started = False
        conn.mail_reset(completed=True)
    conn.reply(reply)
    session.errors += 1


def _connected(conn: ServerConnection, decision: Any, queue_id: str) -> None:
    conn.set_state(State.COMMAND)
    if conn.settings.forbid_unauth_pipelining and conn.input_waiting:
        # The client talked before the greeting.
        conn.session.improper_pipelining = True
        conn.emit(Notice(NoticeKind.IMPROPER_PIPELINING, "CONNECT"))
        conn.reply(R.SYNCHRONIZATION, CloseReason.PROTOCOL)
        return
    conn.reply(R.BANNER.format(banner=conn.settings.banner))


def _helo(conn: ServerConnection, decision: Any, queue_id: str) -> None:
    assert isinstance(decision, Helo)
    session = conn.session
    conn.mail_reset()
    session.helo_name = decision.name
    if not decision.esmtp:
        conn.reply(R.HELO_OK.format(myhostname=conn.settings.myhostname))
        return
    session.esmtp = True
    keywords = conn.settings.discard_ehlo_keywords
    if keywords and "silent-discard" not in keywords:
        conn.emit(Notice(NoticeKind.DISCARDED_EHLO_KEYWORDS, " ".join(sorted(keywords)).upper()))
    conn.reply(ehlo_reply(conn))


def ehlo_reply(conn: ServerConnection) -> Reply:
    """The EHLO reply: Postfix's keywords in Postfix's order, less the discarded ones."""
    s = conn.settings
    offered = [s.myhostname]

    def offer(keyword: str, text: str | None = None) -> None:
        if not s.discards(keyword):
            offered.append(text or keyword.upper())

    offer("pipelining")
    offer("size", f"SIZE {s.message_size_limit}" if s.message_size_limit else "SIZE")
    if not s.disable_vrfy_command:
        offer("vrfy")
    offer("etrn")
    if s.tls_level is not TlsLevel.NONE and not conn.session.tls_active:
        offer("starttls")
    offer("enhancedstatuscodes")
    offer("8bitmime")
    offer("dsn")
    if s.smtputf8_enable:
        offer("smtputf8")
    offer("chunking")
    return Reply(250, "", "\n".join(offered))


def _mail(conn: ServerConnection, decision: Any, queue_id: str) -> None:
    assert isinstance(decision, MailFrom)
    conn.session.sender = decision.address
    conn.session.mail_params = decision.params
    conn.reply(R.SENDER_OK)


def _rcpt(conn: ServerConnection, decision: Any, queue_id: str) -> None:
    conn.session.rcpt_count += 1
    conn.reply(R.RECIPIENT_OK)


def _data(conn: ServerConnection, decision: Any, queue_id: str) -> None:
    assert isinstance(decision, DataCommand)
    session = conn.session
    if decision.bdat:
        new_decoder(conn, dot_stuffing=False)
        assert session.chunk is not None
        start_chunk(conn, session.chunk)
        return
    new_decoder(conn, dot_stuffing=True)
    conn.set_state(State.DATA)
    conn.reply(R.START_MAIL_INPUT)


def _message(conn: ServerConnection, decision: Any, queue_id: str) -> None:
    assert isinstance(decision, MessageComplete)
    session = conn.session
    session.content_started = False
    conn.mail_reset(completed=True)
    session.errors = 0  # "errors ... without delivering mail": this one was delivered
    session.junk_commands = 0
    if decision.bdat:
        conn.reply(R.BDAT_QUEUED.format(size=decision.size, queue_id=queue_id))
    else:
        conn.reply(R.QUEUED.format(queue_id=queue_id))


def _vrfy(conn: ServerConnection, decision: Any, queue_id: str) -> None:
    assert isinstance(decision, Vrfy)
    conn.reply(R.VRFY_OK.format(address=decision.address.raw))


_ACCEPT: dict[type, Callable[[ServerConnection, Any, str], None]] = {
    Connected: _connected,
    Helo: _helo,
    MailFrom: _mail,
    RcptTo: _rcpt,
    DataCommand: _data,
    MessageComplete: _message,
    Vrfy: _vrfy,
}
