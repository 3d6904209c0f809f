"""Every reply the SMTP server decides by itself, named, in one table.

The texts, codes and enhanced codes are Postfix 3.7's, byte for byte: each one is exercised by
a dialogue captured from a real Postfix in ``tests/golden/smtpd/``.  ``{name}`` fields are
filled with :meth:`Reply.format`.  Nothing else in the server spells a reply out; replies that
depend on policy (access maps, relay checks) come from the shell as :class:`Reply` values.
"""

from __future__ import annotations

from mailrelay.mail.esmtp import ParamError
from mailrelay.mail.reply import Reply

# --- greeting, session -----------------------------------------------------------------------
BANNER = Reply(220, "", "{banner}")
BYE = Reply(221, "2.0.0", "Bye")
OK = Reply(250, "2.0.0", "Ok")
HELO_OK = Reply(250, "", "{myhostname}")
TIMEOUT = Reply(421, "4.4.2", "{myhostname} Error: timeout exceeded")
TOO_MANY_ERRORS = Reply(421, "4.7.0", "{myhostname} Error: too many errors")
SYNCHRONIZATION = Reply(554, "5.5.0", "Error: SMTP protocol synchronization")
#: The code is ``smtpd_forbid_bare_newline_reject_code``.
BARE_LF = Reply(550, "5.5.2", "{myhostname} Error: bare <LF> received")
BAD_UTF8 = Reply(500, "5.5.2", "Error: bad UTF-8 syntax")
BAD_SYNTAX = Reply(500, "5.5.2", "Error: bad syntax")
NOT_RECOGNIZED = Reply(500, "5.5.2", "Error: command not recognized")
FORBIDDEN_COMMAND = Reply(221, "2.7.0", "Error: I can break rules, too. Goodbye.")
ACCESS_DENIED = Reply(503, "5.7.0", "Error: access denied for {client}")
TLS_REQUIRED = Reply(530, "5.7.0", "Must issue a STARTTLS command first")
NOT_IMPLEMENTED = Reply(502, "5.5.1", "Error: command not implemented")
AUTH_NOT_ENABLED = Reply(503, "5.5.1", "Error: authentication not enabled")
INSUFFICIENT_AUTHORIZATION = Reply(550, "5.7.0", "Error: insufficient authorization")
RSET_SYNTAX = Reply(501, "5.5.4", "Syntax: RSET")
#: Not decided by the protocol: offered to the shell for a queue that cannot take the message.
QUEUE_WRITE_ERROR = Reply(451, "4.3.0", "Error: queue file write error")

# --- HELO / EHLO -------------------------------------------------------------------------------
HELO_SYNTAX = Reply(501, "", "Syntax: HELO hostname")
EHLO_SYNTAX = Reply(501, "", "Syntax: EHLO hostname")
SEND_HELO_FIRST = Reply(503, "5.5.1", "Error: send HELO/EHLO first")

# --- STARTTLS ----------------------------------------------------------------------------------
READY_TO_START_TLS = Reply(220, "2.0.0", "Ready to start TLS")
STARTTLS_SYNTAX = Reply(501, "5.5.4", "Syntax: STARTTLS")
TLS_ALREADY_ACTIVE = Reply(554, "5.5.1", "Error: TLS already active")

# --- MAIL --------------------------------------------------------------------------------------
SENDER_OK = Reply(250, "2.1.0", "Ok")
NESTED_MAIL = Reply(503, "5.5.1", "Error: nested MAIL command")
MAIL_AFTER_BDAT = Reply(503, "5.5.1", "Error: MAIL after BDAT")
MAIL_SYNTAX = Reply(501, "5.5.4", "Syntax: MAIL FROM:<address>")
BAD_SENDER = Reply(501, "5.1.7", "Bad sender address syntax")
SIZE_EXCEEDS_LIMIT = Reply(552, "5.3.4", "Message size exceeds fixed limit")
SIZE_OVERFLOW = Reply(552, "5.3.4", "Message size exceeds file system imposed limit")
BAD_SIZE = Reply(501, "5.5.4", "Bad message size syntax")
UNSUPPORTED_OPTION = Reply(555, "5.5.4", "Unsupported option: {option}")
BAD_RET = Reply(501, "5.5.4", "Bad RET parameter syntax")
BAD_ENVID = Reply(501, "5.5.4", "Bad ENVID parameter syntax")
DSN_DISABLED = Reply(501, "5.7.1", "DSN support is disabled")

# --- RCPT --------------------------------------------------------------------------------------
RECIPIENT_OK = Reply(250, "2.1.5", "Ok")
NEED_MAIL = Reply(503, "5.5.1", "Error: need MAIL command")
RCPT_AFTER_BDAT = Reply(503, "5.5.1", "Error: RCPT after BDAT")
RCPT_SYNTAX = Reply(501, "5.5.4", "Syntax: RCPT TO:<address>")
BAD_RECIPIENT = Reply(501, "5.1.3", "Bad recipient address syntax")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Error: too many recipients")
BAD_NOTIFY = Reply(501, "5.5.4", "Error: Bad NOTIFY parameter syntax")
BAD_ORCPT = Reply(501, "5.5.4", "Error: Bad ORCPT parameter syntax")

# --- DATA --------------------------------------------------------------------------------------
START_MAIL_INPUT = Reply(354, "", "End data with <CR><LF>.<CR><LF>")
NEED_RCPT = Reply(503, "5.5.1", "Error: need RCPT command")
NO_VALID_RECIPIENTS = Reply(554, "5.5.1", "Error: no valid recipients")
DATA_SYNTAX = Reply(501, "5.5.4", "Syntax: DATA")
DATA_AFTER_BDAT = Reply(503, "5.5.1", "Error: DATA after BDAT")
QUEUED = Reply(250, "2.0.0", "Ok: queued as {queue_id}")
MESSAGE_TOO_BIG = Reply(552, "5.3.4", "Error: message file too big")

# --- BDAT (RFC 3030) ---------------------------------------------------------------------------
BDAT_CHUNK_OK = Reply(250, "2.0.0", "Ok: {size} bytes")
BDAT_QUEUED = Reply(250, "2.0.0", "Ok: {size} bytes queued as {queue_id}")
#: When CHUNKING is not offered: 521, since the chunk that follows cannot be skipped.
BDAT_NOT_IMPLEMENTED = Reply(521, "5.5.1", "Error: command not implemented")
BDAT_SYNTAX = Reply(521, "5.5.4", "Syntax: BDAT count [LAST]")
BDAT_NULL = Reply(551, "5.7.1", "Null BDAT request")
BDAT_DISCARDED = Reply(551, "5.0.0", "Discarded {size} bytes after earlier error")
CHUNK_TOO_BIG = Reply(552, "5.3.4", "Chunk exceeds message size limit")

# --- VRFY, ETRN (the ETRN replies have no enhanced code in Postfix) -------------------------
VRFY_OK = Reply(252, "2.0.0", "{address}")
VRFY_DISABLED = Reply(502, "5.5.1", "VRFY command is disabled")
VRFY_SYNTAX = Reply(501, "5.5.4", "Syntax: VRFY address")
VRFY_SYNTAX_SMTPUTF8 = Reply(501, "5.5.4", "Syntax: VRFY address [SMTPUTF8]")
ETRN_SEND_HELO_FIRST = Reply(503, "", "Error: send HELO/EHLO first")
ETRN_IN_TRANSACTION = Reply(503, "", "Error: MAIL transaction in progress")
ETRN_SYNTAX = Reply(500, "", "Syntax: ETRN domain")
ETRN_BAD_DOMAIN = Reply(501, "", "Error: invalid parameter syntax")
#: mailrelay has no fast-flush service: every ETRN gets Postfix's answer for a domain that is
#: not in ``fast_flush_domains``.
ETRN_UNAVAILABLE = Reply(459, "", "<{domain}>: service unavailable")

#: The reply for each kind of bad MAIL/RCPT parameter.
PARAMETER_ERRORS: dict[ParamError, Reply] = {
    ParamError.UNSUPPORTED: UNSUPPORTED_OPTION,
    ParamError.BAD_SIZE: BAD_SIZE,
    ParamError.SIZE_OVERFLOW: SIZE_OVERFLOW,
    ParamError.BAD_RET: BAD_RET,
    ParamError.BAD_ENVID: BAD_ENVID,
    ParamError.BAD_NOTIFY: BAD_NOTIFY,
    ParamError.BAD_ORCPT: BAD_ORCPT,
    ParamError.DSN_DISABLED: DSN_DISABLED,
}
