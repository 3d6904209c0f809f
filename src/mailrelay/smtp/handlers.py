"""What each SMTP command does, in Postfix's order of checks.

A handler returns ``True`` (done), ``False`` (refused: counts as an error, like a Postfix
action returning -1) or ``None`` (a question is now pending; its answer does the rest, in
``decisions.py``).  The order of the checks inside each handler is Postfix's, as the captured
dialogues show it: which error a client gets for a command that is wrong in several ways is
part of the behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mailrelay.mail.address import parse_path, valid_hostname
from mailrelay.mail.esmtp import OFF_T_MAX, ParamFailure, parse_mail_params, parse_rcpt_params
from mailrelay.smtp import replies as R
from mailrelay.smtp.commands import Token, Verb
from mailrelay.smtp.content import start_chunk
from mailrelay.smtp.events import CloseReason, DataCommand, Helo, MailFrom, RcptTo, StartTls, Vrfy
from mailrelay.smtp.framing import CommandLine
from mailrelay.smtp.session import Chunk, State
from mailrelay.smtp.settings import TlsLevel

if TYPE_CHECKING:
    from mailrelay.smtp.server import ServerConnection

Handler = Callable[["ServerConnection", list[Token], CommandLine], "bool | None"]


def _helo(conn: ServerConnection, args: list[Token], esmtp: bool) -> bool | None:
    if len(args) < 2:
        conn.reply(R.EHLO_SYNTAX if esmtp else R.HELO_SYNTAX)
        return False
    conn.ask(Helo(" ".join(t.text for t in args[1:]), esmtp))
    return None


def helo(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    return _helo(conn, args, False)


def ehlo(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    return _helo(conn, args, True)


def starttls(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    s = conn.settings
    if len(args) != 1:
        conn.reply(R.STARTTLS_SYNTAX)
        return False
    if conn.session.tls_active:
        conn.reply(R.TLS_ALREADY_ACTIVE)
        return False
    if s.tls_level is TlsLevel.NONE or s.discards("starttls"):
        conn.reply(R.NOT_IMPLEMENTED)
        return False
    conn.reply(R.READY_TO_START_TLS)
    # Anything pipelined after STARTTLS came in clear text: drop it (CVE-2011-0411).
    conn.discard_input()
    conn.mail_reset()
    conn.set_state(State.TLS_HANDSHAKE)
    conn.emit(StartTls())
    return True


def mail(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    s, session = conn.settings, conn.session
    if s.helo_required and session.helo_name is None:
        conn.reply(R.SEND_HELO_FIRST)
        return False
    if session.in_transaction:
        conn.reply(R.NESTED_MAIL)
        return False
    if session.bdat:
        conn.reply(R.MAIL_AFTER_BDAT)
        return False
    if len(args) < 3 or args[1].text.lower() != "from:":
        conn.reply(R.MAIL_SYNTAX)
        return False
    smtputf8_ok = s.smtputf8_enable and not s.discards("smtputf8")
    # The address is checked before the parameters, knowing whether SMTPUTF8 is among them.
    utf8 = smtputf8_ok and any(a.text.upper() == "SMTPUTF8" for a in args[3:])
    address = None if args[2].error else parse_path(args[2].text, allow_null=True, smtputf8=utf8)
    if address is None:
        conn.reply(R.BAD_SENDER)
        return False
    params = parse_mail_params(
        [a.text for a in args[3:]], dsn=not s.discards("dsn"), smtputf8=smtputf8_ok
    )
    if isinstance(params, ParamFailure):
        if params.size is not None:
            session.declared_size = params.size
        conn.reply(R.PARAMETER_ERRORS[params.error].format(option=params.option))
        return False
    if params.size is not None:
        session.declared_size = params.size
    if s.message_size_limit and session.declared_size > s.message_size_limit:
        conn.reply(R.SIZE_EXCEEDS_LIMIT)
        return False
    conn.ask(MailFrom(address, params))
    return None


def rcpt(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    s, session = conn.settings, conn.session
    if not session.in_transaction:
        conn.reply(R.NEED_MAIL)
        return False
    if session.bdat:
        conn.reply(R.RCPT_AFTER_BDAT)
        return False
    if len(args) < 3 or args[1].text.lower() != "to:":
        conn.reply(R.RCPT_SYNTAX)
        return False
    address = None
    if not args[2].error:
        address = parse_path(args[2].text, allow_null=False, smtputf8=session.smtputf8)
    if address is None:
        conn.reply(R.BAD_RECIPIENT)
        return False
    params = parse_rcpt_params([a.text for a in args[3:]], dsn=not s.discards("dsn"))
    if isinstance(params, ParamFailure):
        conn.reply(R.PARAMETER_ERRORS[params.error].format(option=params.option))
        return False
    if s.recipient_limit and session.rcpt_count >= s.recipient_limit:
        conn.reply(R.TOO_MANY_RECIPIENTS)
        session.rcpt_overshoot += 1
        return session.rcpt_overshoot <= s.recipient_overshoot_limit
    conn.ask(RcptTo(address, params))
    return None


def data(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    session = conn.session
    if session.bdat:
        conn.reply(R.DATA_AFTER_BDAT)
        return False
    if session.rcpt_count == 0:
        conn.reply(R.NO_VALID_RECIPIENTS if session.in_transaction else R.NEED_RCPT)
        return False
    if len(args) != 1:
        conn.reply(R.DATA_SYNTAX)
        return False
    conn.ask(DataCommand(bdat=False))
    return None


def bdat(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    s, session = conn.settings, conn.session
    if s.discards("chunking"):
        conn.reply(R.BDAT_NOT_IMPLEMENTED)  # 521: the chunk cannot be told from commands
        return False
    size = _chunk_size(args)
    if size is None:
        conn.reply(R.BDAT_SYNTAX)
        return False
    last = len(args) == 3
    if size == 0 and not last:
        # Nothing to skip; the message is spoilt all the same.
        conn.abort_content()
        session.bdat = True
        session.bdat_discarding = True
        conn.reply(R.BDAT_NULL)
        return False
    chunk = Chunk(size, last, size)
    if session.bdat_discarding:
        chunk.discard_reply = R.BDAT_DISCARDED.format(size=size)
    elif session.rcpt_count == 0:
        chunk.discard_reply = R.NEED_RCPT
    elif s.message_size_limit and size > s.message_size_limit:
        chunk.discard_reply = R.CHUNK_TOO_BIG
    if chunk.discard_reply is not None:
        session.bdat = True
        session.bdat_discarding = True
        start_chunk(conn, chunk)
        return False
    if not session.bdat:
        session.bdat = True
        session.chunk = chunk
        conn.ask(DataCommand(bdat=True))
        return None
    start_chunk(conn, chunk)
    return True


def _chunk_size(args: list[Token]) -> int | None:
    if not 2 <= len(args) <= 3 or (len(args) == 3 and args[2].text.upper() != "LAST"):
        return None
    text = args[1].text
    if not (text.isascii() and text.isdigit()) or int(text) > OFF_T_MAX:
        return None
    return int(text)


def rset(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    if len(args) != 1:
        conn.reply(R.RSET_SYNTAX)
        return False
    conn.mail_reset()
    conn.reply(R.OK)
    return True


def noop(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    conn.reply(R.OK)
    return True


def vrfy(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    s = conn.settings
    if s.disable_vrfy_command:
        conn.reply(R.VRFY_DISABLED)
        return False
    smtputf8_ok = s.smtputf8_enable and not s.discards("smtputf8")
    utf8 = smtputf8_ok and len(args) > 1 and args[-1].text.upper() == "SMTPUTF8"
    if utf8:
        args = args[:-1]
    if len(args) < 2:
        conn.reply(R.VRFY_SYNTAX_SMTPUTF8 if s.smtputf8_enable else R.VRFY_SYNTAX)
        return False
    raw = " ".join(t.text for t in args[1:])
    address = parse_path(raw, allow_null=False, smtputf8=utf8)
    if address is None:
        conn.reply(R.BAD_RECIPIENT)
        return False
    conn.ask(Vrfy(address))
    return None


def etrn(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    session = conn.session
    if conn.settings.helo_required and session.helo_name is None:
        conn.reply(R.ETRN_SEND_HELO_FIRST)
        return False
    if session.in_transaction:
        conn.reply(R.ETRN_IN_TRANSACTION)
        return False
    if len(args) != 2:
        conn.reply(R.ETRN_SYNTAX)
        return False
    domain = args[1].text
    if domain[:1] in ("@", "#"):
        domain = domain[1:]
    if not valid_hostname(domain):
        conn.reply(R.ETRN_BAD_DOMAIN)
        return False
    conn.reply(R.ETRN_UNAVAILABLE.format(domain=domain))
    return False


def quit_(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    conn.mail_reset()
    conn.reply(R.BYE, CloseReason.QUIT)
    return True


def auth(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    conn.reply(R.AUTH_NOT_ENABLED)
    return False


def xclient(conn: ServerConnection, args: list[Token], line: CommandLine) -> bool | None:
    conn.reply(R.INSUFFICIENT_AUTHORIZATION)
    return False


HANDLERS: dict[Verb, Handler] = {
    Verb.HELO: helo,
    Verb.EHLO: ehlo,
    Verb.XCLIENT: xclient,
    Verb.XFORWARD: xclient,
    Verb.STARTTLS: starttls,
    Verb.AUTH: auth,
    Verb.MAIL: mail,
    Verb.RCPT: rcpt,
    Verb.DATA: data,
    Verb.BDAT: bdat,
    Verb.RSET: rset,
    Verb.NOOP: noop,
    Verb.VRFY: vrfy,
    Verb.ETRN: etrn,
    Verb.QUIT: quit_,
}
