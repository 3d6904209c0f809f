"""Lines in, content out: command lines, DATA and BDAT content, as Postfix's smtpd reads them.

Postfix reads input with ``smtp_get(buf, stream, line_length_limit)``; this module reproduces
what that means, because it decides what ends a message and what counts toward its size:

* A read takes at most ``line_length_limit`` bytes.  A line that is longer comes in *pieces*
  of that many bytes; only the last piece of a line ends it.  (When the limit falls between
  the CR and the LF of a line end, that is still a line end.)  A command line that is too
  long is cut at the limit and the rest of it is skipped.
* A line ends at LF.  With ``smtpd_forbid_bare_newline`` at ``normalize``, ``note`` or
  ``reject``, one CR before the LF belongs to the line end and any other CR is content; with
  ``no``, every CR before the LF is dropped (Postfix < 3.9).  An LF without a CR before it is
  a *bare LF*; it still ends the line (``reject`` refuses the command or message later).
* The content of a message is the lines, each ended with CRLF (a bare LF becomes CRLF; a bare
  CR stays content), exactly as cleanup receives them as records.  Its size is the sum of
  ``len(piece) + 2`` over all pieces, Postfix's count against ``message_size_limit``; once
  over the limit nothing more is kept and the message is refused at its end.
* DATA ends only at ``.`` on a line of its own that ends in CRLF and follows a line that ended
  in CRLF: ``<CR><LF>.<CR><LF>``.  ``\\n.\\n``, ``\\r\\n.\\n`` and ``\\n.\\r\\n`` are not ends
  of data; that line is dropped, as Postfix 3.9 does (``\\r.\\r\\n`` is an ordinary line).  With
  ``smtpd_forbid_bare_newline = no`` Postfix < 3.9 would end the message there and let a
  client smuggle a second one in; mailrelay never does (SPEC.md §3.1).  Other lines that
  begin with a dot lose that dot (RFC 5321 section 4.5.2).
* BDAT content has no dot-stuffing and no terminator: the chunk sizes frame it.  Lines may
  span chunks; a partial line at the end of the last chunk is a line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

_CR = 13
_LF = 10
_DOT = 46
_CRLF = b"\r\n"


class BareNewline(enum.Enum):
    """``smtpd_forbid_bare_newline``: what a line ending in LF without CR does."""

    NO = "no"
    NORMALIZE = "normalize"
    #: Like normalize, and the server reports each bare LF as a notice (for the log).
    NOTE = "note"
    REJECT = "reject"

    @classmethod
    def parse(cls, text: str) -> BareNewline:
        value = text.strip().lower()
        if value == "yes":  # Postfix's compatibility alias
            return cls.NORMALIZE
        return cls(value)


@dataclass(frozen=True, slots=True)
class CommandLine:
    #: The line without its line end (CR handling as described above), at most the limit.
    data: bytes
    bare_lf: bool
    #: Longer than ``line_length_limit``: cut, the rest skipped.
    truncated: bool


class CommandReader:
    """Command lines from a buffer, with Postfix's length limit and skip of the excess."""

    __slots__ = ("_held", "_limit", "_strip_all_cr")

    def __init__(self, line_length_limit: int, bare_newline: BareNewline):
        self._limit = max(line_length_limit, 2)
        self._strip_all_cr = bare_newline is BareNewline.NO
        #: A cut line, waiting for the LF that ends the part being skipped.
        self._held: bytes | None = None

    def read(self, buf: bytearray) -> CommandLine | None:
        """Take the next line out of *buf*; None when it is not complete yet."""
        if self._held is not None:
            lf = buf.find(b"\n")
            if lf < 0:
                del buf[:]  # bounded memory: the excess of a long line is never kept
                return None
            del buf[: lf + 1]
            line, self._held = self._held, None
            return CommandLine(line, False, True)
        limit = self._limit
        lf = buf.find(b"\n", 0, limit)
        if lf >= 0:
            line = self._strip(bytes(buf[:lf]))
            bare = lf == 0 or buf[lf - 1] != _CR
            del buf[: lf + 1]
            return CommandLine(line, bare, False)
        if len(buf) < limit or (len(buf) == limit and buf[limit - 1] == _CR):
            return None
        if buf[limit - 1] == _CR and buf[limit] == _LF:
            line = self._strip(bytes(buf[: limit + 1][:-1]))
            del buf[: limit + 1]
            return CommandLine(line, False, False)
        self._held = bytes(buf[:limit])
        del buf[:limit]
        return self.read(buf)

    def _strip(self, line: bytes) -> bytes:
        if line.endswith(b"\r"):
            line = line.rstrip(b"\r") if self._strip_all_cr else line[:-1]
        return line


class ContentDecoder:
    """DATA or BDAT content: line ends, dot-stuffing, end of data, size and bare LF."""

    __slots__ = (
        "_dot",
        "_limit",
        "_line_limit",
        "_pending",
        "_prev_bare",
        "_prev_cont",
        "_strip_all_cr",
        "bare_lf",
        "done",
        "size",
        "too_big",
    )

    def __init__(
        self,
        *,
        message_size_limit: int,
        line_length_limit: int,
        bare_newline: BareNewline,
        dot_stuffing: bool,
    ):
        self._limit = message_size_limit
        self._line_limit = max(line_length_limit, 2)
        self._strip_all_cr = bare_newline is BareNewline.NO
        self._dot = dot_stuffing
        self._pending = bytearray()
        #: The previous piece did not end its line (a long line in pieces).
        self._prev_cont = False
        #: The previous line ended in a bare LF.
        self._prev_bare = False
        #: Postfix's act_size: sum of len(piece) + 2.
        self.size = 0
        self.too_big = False
        #: A line of this content ended in a bare LF.
        self.bare_lf = False
        #: The DATA terminator was seen.
        self.done = False

    def feed(self, data: bytes | bytearray) -> tuple[bytes, bytes]:
        """Consume *data*: (content produced, bytes after the end of DATA if it was seen)."""
        buf = self._pending
        buf += data
        out: list[bytes] = []
        pos = 0
        end_of_data = -1
        while True:
            pos = self._bulk(buf, pos, out)
            piece = self._piece(buf, pos)
            if piece is None:
                break
            start, end, nxt, complete, bare = piece
            pos = nxt
            if self._dot and not self._prev_cont and start < end and buf[start] == _DOT:
                if complete and end - start == 1:
                    # Only <CR><LF>.<CR><LF> ends DATA: a "." whose line end had extra CRs
                    # stripped (smtpd_forbid_bare_newline = no) is content, never the end.
                    if not bare and not self._prev_bare and buf[start:nxt] == b".\r\n":
                        end_of_data = nxt
                        break
                    self._prev_bare = bare  # a non-standard end of data: dropped
                    self.bare_lf = True
                    continue
                start += 1
            self._account(buf, start, end, complete, out)
            self._prev_cont = not complete
            if complete:
                self._prev_bare = bare
                self.bare_lf = self.bare_lf or bare
        if end_of_data >= 0:
            self.done = True
            rest = bytes(buf[end_of_data:])
            del buf[:]
            return b"".join(out), rest
        del buf[:pos]
        return b"".join(out), b""

    def finish(self) -> bytes:
        """End of the last BDAT chunk: a partial line left over is a line of its own."""
        buf = self._pending
        out: list[bytes] = []
        if buf:
            self._account(buf, 0, len(buf), True, out)
            del buf[:]
        self._prev_cont = False
        return b"".join(out)

    def _bulk(self, buf: bytearray, pos: int, out: list[bytes]) -> int:
        """Take the ordinary lines from *pos* on in one step; return where they end.

        The fast path of every message past a few lines (a 1 KB message: 29 µs line by
        line, 12 µs here; most relayed mail is that small): a run of whole lines, each ending
        in CRLF, none starting with a dot, none too long, within the size limit, is exactly
        what the line by line path would produce (the size of a line is its length plus 2, so
        the run's size is its length).  Anything else is left to that path.
        """
        if self._prev_cont or self._prev_bare or self.too_big or not self._dot:
            return pos
        if pos >= len(buf) or buf[pos] == _DOT:
            return pos
        last = buf.rfind(b"\r\n", pos)
        if last < 0:
            return pos
        dot = buf.find(b"\r\n.", pos, last + 1)
        stop = (dot if dot >= 0 else last) + 2
        if stop - pos < 256:
            return pos  # a few lines: the line by line path costs no more
        data = bytes(buf[pos:stop])
        if self._limit > 0 and self._limit - self.size < len(data):
            return pos
        lines = data.split(b"\n")
        if data.count(b"\r\n") != len(lines) - 1:
            return pos  # a bare LF
        if self._strip_all_cr and b"\r\r\n" in data:
            return pos
        if max(map(len, lines)) >= self._line_limit - 1:
            return pos  # a line the line by line path cuts into pieces
        out.append(data)
        self.size += len(data)
        return stop

    def _account(
        self, buf: bytearray, start: int, end: int, complete: bool, out: list[bytes]
    ) -> None:
        length = end - start
        if self._limit > 0 and not self.too_big and self._limit - self.size < length + 2:
            self.too_big = True  # Postfix stops writing to cleanup; the message is refused
        if self.too_big:
            return
        self.size += length + 2
        out.append(bytes(buf[start:end]))
        if complete:
            out.append(_CRLF)

    def _piece(self, buf: bytearray, pos: int) -> tuple[int, int, int, bool, bool] | None:
        """The next piece at *pos*: (start, end, next position, ends its line, bare LF)."""
        limit = self._line_limit
        stop = pos + limit
        lf = buf.find(b"\n", pos, stop)
        if lf >= 0:
            end = lf
            bare = end == pos or buf[end - 1] != _CR
            if not bare:
                end -= 1
                if self._strip_all_cr:
                    while end > pos and buf[end - 1] == _CR:
                        end -= 1
            return pos, end, lf + 1, True, bare
        available = len(buf) - pos
        if available < limit or (available == limit and buf[stop - 1] == _CR):
            return None
        if buf[stop - 1] == _CR and buf[stop] == _LF:
            end = stop - 1
            if self._strip_all_cr:
                while end > pos and buf[end - 1] == _CR:
                    end -= 1
            return pos, end, stop + 1, True, False
        return pos, stop, stop, False, False

