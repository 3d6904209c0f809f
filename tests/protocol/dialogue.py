"""Replaying SMTP dialogues into the server state machine, with a minimal in-memory shell.

A ``.dialogue`` file (tests/golden/smtpd/README.md) is a list of steps: ``C:`` one client write
(escaped bytes), ``S:`` one server reply line (CRLF implied), ``= starttls`` / ``= timeout`` /
``= closed`` for what happened between them.  :func:`replay` plays the client side into a
:class:`ServerConnection` and returns the server's output cut at the same places, so that a
test compares the two transcripts segment by segment.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mailrelay.mail.reply import Reply
from mailrelay.smtp import ServerConnection, ServerSettings
from mailrelay.smtp.events import (
    ConnectionClosed,
    Decision,
    MessageAborted,
    MessageComplete,
    MessageData,
    NeedData,
    Pause,
    StartTls,
)

GOLDEN = Path(__file__).parent.parent / "golden" / "smtpd"

#: Captured dialogues where mailrelay deliberately answers otherwise (SPEC §3.1: only
#: <CR><LF>.<CR><LF> ends DATA, whatever smtpd_forbid_bare_newline says).
DELIBERATE = {
    "legacy-smuggle-dot-cr-cr": "Postfix with smtpd_forbid_bare_newline = no ends DATA at "
                                "<LF>.<CR><CR><LF>; mailrelay keeps it as content",
}


@dataclass(frozen=True)
class Step:
    kind: str  # "C", "S", "S~" or "="
    data: bytes


@dataclass(frozen=True)
class Dialogue:
    name: str
    service: str
    steps: tuple[Step, ...]

    def expected(self) -> list[bytes]:
        """The server's output between client actions (one segment per C: or = step)."""
        segments = [b""]
        for step in self.steps:
            if step.kind == "S":
                segments[-1] += step.data + b"\r\n"
            elif step.kind == "S~":
                segments[-1] += step.data
            elif step.data != b"closed":
                segments.append(b"")
        return segments


def unescape(text: str) -> bytes:
    return codecs.escape_decode(text.encode("ascii"))[0]


def load(path: Path) -> Dialogue:
    service = "default"
    steps: list[Step] = []
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line:
            continue
        if line.startswith("@service "):
            service = line.split()[1]
        elif line[:3] in ("C: ", "S: ", "S~ "):
            steps.append(Step(line[:2].rstrip(":"), unescape(line[3:])))
        elif line.startswith("= "):
            steps.append(Step("=", line[2:].encode()))
        else:
            raise ValueError(f"{path}: cannot parse {line!r}")
    return Dialogue(path.stem, service, tuple(steps))


Policy = Callable[[Decision], Reply | None]


def accept_all(decision: Decision) -> Reply | None:
    return None


@dataclass
class Shell:
    """Drives the machine the way the asyncio shell will, minus the sockets."""

    conn: ServerConnection
    policy: Policy = accept_all
    queue_id: str = "QUEUEID"
    messages: list[bytes] = field(default_factory=list)
    content: bytearray = field(default_factory=bytearray)
    events: list[object] = field(default_factory=list)
    closed: ConnectionClosed | None = None

    def run(self) -> bytes:
        """Process events until the machine needs input, starts TLS or closes."""
        out = bytearray()
        while True:
            event = self.conn.next_event()
            out += self.conn.data_to_send()
            self.events.append(event)
            if isinstance(event, NeedData | StartTls):
                return bytes(out)
            if isinstance(event, ConnectionClosed):
                self.closed = event
                return bytes(out)
            if isinstance(event, MessageData):
                self.content += event.data
            elif isinstance(event, MessageAborted):
                self.content.clear()
            elif isinstance(event, Pause):
                pass
            elif isinstance(event, MessageComplete):
                reply = self.policy(event)
                if reply is None:
                    self.messages.append(bytes(self.content))
                    self.conn.accept(queue_id=self.queue_id)
                else:
                    self.conn.reject(reply)
                self.content.clear()
            elif isinstance(event, Decision):
                reply = self.policy(event)
                if reply is None:
                    self.conn.accept()
                else:
                    self.conn.reject(reply)

    def send(self, data: bytes) -> bytes:
        self.conn.receive_data(data)
        return self.run()


def replay(
    dialogue: Dialogue,
    settings: ServerSettings,
    policy: Policy = accept_all,
    client: str = "localhost[127.0.0.1]",
) -> tuple[list[bytes], Shell]:
    shell = Shell(ServerConnection(settings, client), policy)
    segments: list[bytes] = []
    steps = [s for s in dialogue.steps if s.kind not in ("S", "S~")]
    if steps and steps[0].kind == "C" and dialogue.steps[0].kind == "C":
        shell.conn.receive_data(steps[0].data)  # the client spoke before the greeting
        segments += [b"", shell.run()]
        steps = steps[1:]
    else:
        segments.append(shell.run())
    for step in steps:
        if step.kind == "C":
            segments.append(shell.send(step.data) if shell.closed is None else b"")
        elif step.data == b"starttls":
            shell.conn.tls_started()
            segments.append(shell.run())
        elif step.data == b"timeout":
            shell.conn.timeout()
            segments.append(shell.run())
    return segments, shell
