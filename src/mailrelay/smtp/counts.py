"""Postfix's per-command counters of smtpd's ``disconnect from ...`` line.

``disconnect from host[ip] ehlo=1 mail=1 rcpt=0/1 data=1 quit=1 commands=4/5``: each command
the client gave, and how many of them succeeded, in the order of Postfix's command table.
Compared with Postfix 3.7's lines in tests/golden/maillog.  Pure.
"""

from __future__ import annotations

from mailrelay.mail.reply import Reply
from mailrelay.smtp import events as ev
from mailrelay.smtp import replies as R
from mailrelay.smtp.commands import Verb
from mailrelay.smtp.server import ServerConnection
from mailrelay.smtp.settings import ServerSettings


class CommandCounts:
    """Postfix's per-command counters for ``disconnect from ... ehlo=1 mail=1 rcpt=0/1 ...``.

    Postfix counts a command when it looks the verb up (unknown verbs under ``unknown``) and
    counts it a success when the command's action succeeded.  Here the replies say which: each
    reply the machine sends is the answer to the command in ``session.where``, except the
    greeting, the replies to lines that are no command (empty, bad UTF-8, bare LF) and the
    421s for a timeout or too many errors.  An intermediate 3xx (DATA's 354, AUTH's 334) counts
    the command and leaves its success to the final reply; STARTTLS succeeds with its handshake
    (Postfix logs ``starttls=0/1`` when the handshake fails).
    """

    ORDER = (*(v.value for v in Verb), "UNKNOWN")

    def __init__(self, myhostname: str) -> None:
        self.total: dict[str, int] = {}
        self.ok: dict[str, int] = {}
        self.open: str | None = None  # a command waiting for its final reply
        self.uncounted = {R.BAD_SYNTAX.text, R.BAD_UTF8.text,
                          R.TIMEOUT.format(myhostname=myhostname).text,
                          R.TOO_MANY_ERRORS.format(myhostname=myhostname).text,
                          R.BARE_LF.format(myhostname=myhostname).text}

    def record(self, where: str, reply: Reply) -> None:
        if where == "CONNECT" or reply.text in self.uncounted:
            return
        if where == "END-OF-MESSAGE":  # the end of DATA's content, or BDAT LAST's chunk
            where = self.open or Verb.BDAT.value
        if self.open != where:
            self.total[where] = self.total.get(where, 0) + 1
        if 300 <= reply.code < 400:
            self.open = where
            return
        self.open = None
        if reply.code < 300 and where not in ("UNKNOWN", "STARTTLS"):
            self.ok[where] = self.ok.get(where, 0) + 1

    def succeeded(self, where: str) -> None:
        """STARTTLS: the handshake completed."""
        self.ok[where] = self.ok.get(where, 0) + 1

    def summary(self) -> str:
        parts = [_count(name.lower(), self.ok.get(name, 0), self.total[name])
                 for name in self.ORDER if self.total.get(name)]
        ok, total = sum(self.ok.values()), sum(self.total.values())
        parts.append(f"commands={ok}/{total}" if total == 0 else _count("commands", ok, total))
        return " ".join(parts)


def _count(name: str, ok: int, total: int) -> str:
    return f"{name}={ok}" if ok == total else f"{name}={ok}/{total}"


class CountingConnection(ServerConnection):
    """The state machine, with every reply it sends counted for the disconnect line."""

    def __init__(self, settings: ServerSettings, client: str) -> None:
        super().__init__(settings, client=client)
        self.counts = CommandCounts(settings.myhostname)

    def reply(self, reply: Reply, close: ev.CloseReason | None = None) -> None:
        self.counts.record(self.session.where, reply)
        super().reply(reply, close)
