"""Reading message content: DATA up to its end, BDAT chunks by their size.

The framing rules are in framing.py; this module moves bytes from the connection's input
buffer through the session's :class:`ContentDecoder`, hands the content out as
:class:`MessageData`, and decides what happens at the end of DATA and of each chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailrelay.mail.reply import Reply
from mailrelay.smtp import replies as R
from mailrelay.smtp.events import (
    MessageAborted,
    MessageComplete,
    MessageData,
    Notice,
    NoticeKind,
    TransactionReset,
)
from mailrelay.smtp.framing import BareNewline, ContentDecoder
from mailrelay.smtp.session import Chunk, State

if TYPE_CHECKING:
    from mailrelay.smtp.server import ServerConnection


def new_decoder(conn: ServerConnection, *, dot_stuffing: bool) -> None:
    s = conn.settings
    conn.session.decoder = ContentDecoder(
        message_size_limit=s.message_size_limit,
        line_length_limit=s.line_length_limit,
        bare_newline=s.bare_newline,
        dot_stuffing=dot_stuffing,
    )
    conn.session.content_started = True


def step_data(conn: ServerConnection) -> bool:
    decoder = conn.session.decoder
    assert decoder is not None
    if not conn.input_waiting:
        return False
    content, rest = decoder.feed(conn.take_input())
    if content:
        conn.emit(MessageData(content))
    if decoder.done:
        conn.push_back(rest)
        conn.set_state(State.COMMAND)
        conn.session.where = "END-OF-MESSAGE"
        _end_of_message(conn, decoder, bdat=False)
    return True


def start_chunk(conn: ServerConnection, chunk: Chunk) -> None:
    """Read the chunk's bytes next (into the message, or skipped for an earlier error)."""
    conn.session.chunk = chunk
    conn.set_state(State.CHUNK)
    if chunk.remaining == 0:
        _end_of_chunk(conn, chunk)


def step_chunk(conn: ServerConnection) -> bool:
    chunk = conn.session.chunk
    assert chunk is not None
    if not conn.input_waiting:
        return False
    data = conn.take_input(chunk.remaining)
    chunk.remaining -= len(data)
    decoder = conn.session.decoder
    if chunk.discard_reply is None and decoder is not None:
        content, _ = decoder.feed(data)
        if content:
            conn.emit(MessageData(content))
    if chunk.remaining == 0:
        _end_of_chunk(conn, chunk)
    return True


def _end_of_chunk(conn: ServerConnection, chunk: Chunk) -> None:
    session = conn.session
    conn.set_state(State.COMMAND)
    session.chunk = None
    if chunk.discard_reply is not None:
        if chunk.last:
            conn.mail_reset()  # the failed message ends here, and its transaction with it
        conn.reply(chunk.discard_reply)
        return
    decoder = session.decoder
    assert decoder is not None
    if chunk.last:
        content = decoder.finish()
        if content:
            conn.emit(MessageData(content))
        session.where = "END-OF-MESSAGE"
        _end_of_message(conn, decoder, bdat=True)
    elif decoder.too_big:
        _refuse_content(conn, R.MESSAGE_TOO_BIG, keep_discarding=True)
    else:
        conn.reply(R.BDAT_CHUNK_OK.format(size=chunk.size))


def _end_of_message(conn: ServerConnection, decoder: ContentDecoder, *, bdat: bool) -> None:
    s = conn.settings
    if decoder.too_big:
        _refuse_content(conn, R.MESSAGE_TOO_BIG)
        return
    if decoder.bare_lf and s.bare_newline is BareNewline.REJECT:
        reply = R.BARE_LF.format(myhostname=s.myhostname)
        _refuse_content(conn, reply.with_code(s.bare_newline_reject_code))
        return
    if decoder.bare_lf and s.bare_newline is BareNewline.NOTE:
        conn.emit(Notice(NoticeKind.BARE_LF, "message"))
    conn.ask(MessageComplete(decoder.size, bdat))


def _refuse_content(conn: ServerConnection, reply: Reply, *, keep_discarding: bool = False) -> None:
    """The machine refuses the message itself (too big, bare LF): no MessageComplete."""
    session = conn.session
    if session.content_started:
        session.content_started = False
        conn.emit(MessageAborted())
    if keep_discarding:
        # BDAT: later chunks are skipped with "Discarded" until LAST or RSET.
        session.bdat_discarding = True
        session.decoder = None
    else:
        conn.emit(TransactionReset())
        session.reset_transaction()
    conn.reply(reply)
    session.errors += 1
