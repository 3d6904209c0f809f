"""Server replies as the SMTP client reads them: bytes in, :class:`ServerReply` values out.

Postfix's smtp(8) reads replies leniently and records them faithfully (smtp_chat.c, checked
against Postfix 3.7 with a scripted server, ``tests/golden/smtp_client/``):

* a line ends at LF (a CR before it is dropped); a line longer than ``line_length_limit``
  keeps its first ``line_length_limit`` characters and the rest is skipped;
* non-printable characters become ``?``;
* ``ddd-`` continues a reply, ``ddd `` or a bare ``ddd`` ends it; any other line (garbage) is
  kept in the text and reading goes on -- it is a protocol error, and a session that saw one
  is not reused;
* the lines are joined with ``\\n`` while the text is shorter than ``line_length_limit``;
  later lines are read and dropped (a defence against endless replies);
* the reply code is that of the last line; the enhanced status code is taken from the last
  line when it is valid and agrees with the reply code's class, else it is derived:
  ``2.0.0``, ``4.0.0``, ``5.0.0``, and ``5.5.0`` for any other class (1xx, 3xx).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DSN = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
_CODE = re.compile(r"(\d{3})([ -]?)")


@dataclass(frozen=True, slots=True)
class ServerReply:
    #: The reply code of the last line.
    code: int
    #: The RFC 3463 status code: the server's own, or derived from the reply code.
    dsn: str
    #: The lines as received (censored), joined by ``\\n``.
    text: str
    #: A garbage line was seen inside this reply.
    malformed: bool = False

    @property
    def flat(self) -> str:
        """The text on one line, as Postfix puts it in logs and DSNs."""
        return self.text.replace("\n", " ")

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 300

    @property
    def intermediate(self) -> bool:
        return 300 <= self.code < 400


def reply_dsn(last_line: str) -> str:
    """The enhanced status code of a reply whose last line is *last_line*."""
    first = last_line[:1]
    if first not in ("2", "4", "5"):
        return "5.5.0"
    match = _DSN.match(last_line[4:].lstrip(" "))
    if match and match.group(1) == first:
        return match.group(0)
    return f"{first}.0.0"


def censor(line: bytes) -> str:
    """Postfix's printable(): UTF-8 text kept, anything else that is not printable is ``?``."""
    text = line.decode("utf-8", "replace")
    return "".join("?" if (c < " " or c == "\x7f" or c == "\ufffd") else c for c in text)


class ReplyReader:
    """Feed bytes as they arrive; take complete replies out in order."""

    def __init__(self, line_length_limit: int = 2048) -> None:
        self._limit = line_length_limit
        self._buffer = bytearray()
        #: Lines of the reply being read, the text length so far, and whether it was garbled.
        self._lines: list[str] = []
        self._length = 0
        self._malformed = False
        #: Still skipping the rest of an over-long line.
        self._skipping = False
        self.protocol_error = False
        #: Garbage lines seen (not ``ddd-`` / ``ddd `` / ``ddd``), for the shell to warn about.
        self.garbage: list[str] = []

    @property
    def buffered(self) -> int:
        """Bytes received and not yet part of a returned reply."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_reply(self) -> ServerReply | None:
        """The next complete reply, or None when more bytes are needed."""
        while True:
            line = self._next_line()
            if line is None:
                return None
            reply = self._add(line)
            if reply is not None:
                return reply

    def _next_line(self) -> str | None:
        while True:
            end = self._buffer.find(b"\n")
            if self._skipping:
                if end < 0:
                    self._buffer.clear()
                    return None
                del self._buffer[: end + 1]
                self._skipping = False
                continue
            if end < 0:
                if len(self._buffer) < self._limit:
                    return None
                # Over-long: keep the first part now, skip the rest up to the newline.
                raw = bytes(self._buffer[: self._limit])
                del self._buffer[: self._limit]
                self._skipping = True
                return censor(raw)
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if len(raw) > self._limit:
                raw = raw[: self._limit]
            return censor(raw)

    def _add(self, line: str) -> ServerReply | None:
        if self._length < self._limit:
            if self._lines:
                self._length += 1
            self._lines.append(line)
            self._length += len(line)
        match = _CODE.match(line)
        three_digits = match is not None and not line[3:4].isdigit()
        if three_digits and match is not None:
            if match.group(2) == "-":
                return None
            if match.group(2) == " " or len(line) == 3:
                return self._finish(line)
        # Garbage inside a reply: kept, and reading goes on (smtp_chat.c).
        self._malformed = True
        self.protocol_error = True
        self.garbage.append(line)
        return None

    def _finish(self, last: str) -> ServerReply:
        reply = ServerReply(int(last[:3]), reply_dsn(last), "\n".join(self._lines),
                            self._malformed)
        self._lines = []
        self._length = 0
        self._malformed = False
        return reply
