"""The mutable state of one SMTP server session, and the machine's input states."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailrelay.mail.address import Address
from mailrelay.mail.esmtp import MailParams
from mailrelay.mail.reply import Reply
from mailrelay.smtp.framing import ContentDecoder


class UsageError(Exception):
    """The shell used the machine wrongly (a bug in the shell, never the client's doing)."""


class State(enum.Enum):
    """What the machine does with the next input bytes."""

    GREETING = "greeting"  # nothing yet: waiting for the answer to Connected
    COMMAND = "command"
    DATA = "data"  # DATA content, until <CR><LF>.<CR><LF>
    CHUNK = "chunk"  # the bytes of a BDAT chunk
    TLS_HANDSHAKE = "tls handshake"  # dropped: waiting for tls_started()
    CLOSED = "closed"


@dataclass(slots=True)
class Chunk:
    """The BDAT chunk being read."""

    size: int
    last: bool
    remaining: int
    #: Skip the bytes and then send this reply (an error found before the chunk was read).
    discard_reply: Reply | None = None


@dataclass(slots=True)
class Session:
    tls_active: bool = False
    helo_name: str | None = None
    #: EHLO was accepted once (a later HELO does not undo it: Postfix keeps "ESMTP").
    esmtp: bool = False
    #: The Connected question was answered with a rejection.
    access_denied: bool = False
    #: Input was seen waiting behind a command that must not be pipelined (for the shell's
    #: ``reject_unauth_pipelining``).
    improper_pipelining: bool = False
    #: Postfix's error_count and junk_cmds.
    errors: int = 0
    junk_commands: int = 0
    #: The last command, as Postfix logs it ("lost connection after RCPT").
    where: str = "CONNECT"

    # -- the mail transaction --
    sender: Address | None = None
    mail_params: MailParams | None = None
    rcpt_count: int = 0
    rcpt_overshoot: int = 0
    #: SIZE= of MAIL.  Postfix keeps it after a MAIL command fails, until the transaction is
    #: reset, so a later MAIL without SIZE is checked against the earlier value.
    declared_size: int = 0
    #: DATA or BDAT content has been handed out as MessageData and not finished yet.
    content_started: bool = False
    decoder: ContentDecoder | None = None
    #: A BDAT command was seen in this transaction (DATA and MAIL are refused after it).
    bdat: bool = False
    #: BDAT failed: chunks are skipped until the LAST one or RSET.
    bdat_discarding: bool = False
    chunk: Chunk | None = None

    @property
    def in_transaction(self) -> bool:
        return self.sender is not None

    @property
    def smtputf8(self) -> bool:
        return self.mail_params is not None and self.mail_params.smtputf8

    def reset_transaction(self) -> None:
        self.sender = None
        self.mail_params = None
        self.rcpt_count = 0
        self.rcpt_overshoot = 0
        self.declared_size = 0
        self.content_started = False
        self.decoder = None
        self.bdat = False
        self.bdat_discarding = False
        self.chunk = None
