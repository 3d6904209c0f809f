"""smtpd's side of debug_peer_list: the server state machine, with its dialogue logged.

Postfix's smtpd_chat logs each command line as it reads it and each reply line as it
formats it, so a pipelined group reads ``< cmd``, ``> reply``, ``< cmd``, ``> reply``.  This
subclass hooks the same two places of the state machine: a command line (never message
content, which does not pass there) and a reply.  Sessions of peers that are not debugged
use the plain :class:`CountingConnection` and pay nothing.
"""

from __future__ import annotations

from mailrelay.mail.reply import Reply
from mailrelay.maillog.debug_peer import Dialogue
from mailrelay.smtp import events as ev
from mailrelay.smtp.counts import CountingConnection
from mailrelay.smtp.framing import CommandLine
from mailrelay.smtp.settings import ServerSettings


class ChattyConnection(CountingConnection):
    """CountingConnection that logs every command and reply line through *dialogue*."""

    def __init__(self, settings: ServerSettings, client: str, dialogue: Dialogue) -> None:
        super().__init__(settings, client=client)
        self.dialogue = dialogue

    def _command(self, line: CommandLine) -> None:
        self.dialogue.client_line(line.data)
        super()._command(line)

    def reply(self, reply: Reply, close: ev.CloseReason | None = None) -> None:
        self.dialogue.server_lines(reply.render())
        super().reply(reply, close)
