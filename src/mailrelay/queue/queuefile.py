"""One queue file's bytes: a new one being written (`Draft`), a queued one read (`QueuedMessage`).

A `Draft` writes a file that is in no queue yet: a temporary name in tmp/ (or, for sendmail,
a dot-name in maildrop), content chunks as they arrive, buffered and written with writev, the
CRC computed on the way; `seal` adds the envelope, patches the content length, fdatasyncs and
closes.  Only the store then renames it into a queue.  The queue ID is fixed when the draft
is created, from the time and the temporary file's inode (see queue_id).

A `QueuedMessage` only reads.  The store opens the file (O_NOFOLLOW, the path built from a
validated ID) and hands the descriptor over; the one in-place write, a recipient's done mark,
is ``QueueStore.mark_done``, which uses `fileno` and `recipient_offset`.

A queued file must be a regular file with exactly one link: in maildrop, which any local user can
write, that refuses a FIFO (which would block a reader), a device, and a hard link to a file
the submitter could not read themselves.  A small file is read in one pread; a large one in
two (head, then the envelope after the content), and its content only when asked for.  The
content's CRC is checked when the stream reaches its end, so a consumer must not act on the
content (deliver it) before the iterator has finished without raising.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from mailrelay.queue import record
from mailrelay.queue.queue_id import make_queue_id

if TYPE_CHECKING:
    from mailrelay.queue.store import Queue

TEMP_PREFIX = ".tmp."  # never a queue ID, so a temporary file is never listed as a message
_SMALL_FILE = 1 << 16  # read such a file whole: one pread instead of two
_FLUSH_BYTES = 1 << 20
_FLUSH_CHUNKS = 256  # well under IOV_MAX


class Draft:
    """A message being written.  As a context manager, leaving it unsealed removes the file."""

    def __init__(
        self, directory: Path, mode: int, *, long_ids: bool, maildrop: bool = False
    ) -> None:
        self.maildrop = maildrop
        self._temp: Path | None = directory / f"{TEMP_PREFIX}{os.getpid()}.{secrets.token_hex(6)}"
        seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        self._fd: int | None = os.open(self._temp, flags, mode)
        try:
            if mode & ~0o600:
                os.fchmod(self._fd, mode)  # bits the creator's umask may have taken away
            inode = os.fstat(self._fd).st_ino
        except BaseException:
            self.abort()
            raise
        self.queue_id = make_queue_id(seconds, micros, inode, long=long_ids)
        self._chunks: list[bytes] = [record.content_header(0)]  # length patched at seal
        self._pending = 0  # content bytes in _chunks
        self._written = 0  # bytes already in the file
        self._length = 0
        self._crc = 0

    def write(self, data: bytes) -> None:
        self._require_open()
        self._length += len(data)
        if self._length > record.MAX_CONTENT:
            raise ValueError("message too large for a queue file")
        self._crc = zlib.crc32(data, self._crc)
        self._chunks.append(data)
        self._pending += len(data)
        if self._pending >= _FLUSH_BYTES or len(self._chunks) >= _FLUSH_CHUNKS:
            self._flush()

    def seal(self, envelope: record.Envelope) -> Path:
        """Finish the file: envelope, length, fdatasync, close.  Returns its temporary path."""
        fd = self._require_open()
        trailer = record.trailer(envelope, self._length, self._crc)  # may refuse the envelope
        header = record.content_header(self._length)
        patch = self._written > 0  # the placeholder header is in the file already
        if not patch:
            self._chunks[0] = header
        self._chunks.append(trailer)
        try:
            self._flush()
            if patch:
                os.pwrite(fd, header[record.LENGTH_OFFSET :], record.LENGTH_OFFSET)
            os.fdatasync(fd)
        except BaseException:
            self.abort()
            raise
        os.close(fd)
        self._fd = None
        assert self._temp is not None
        return self._temp

    def committed(self) -> None:
        """The store renamed the file into a queue: nothing is left to clean up."""
        self._temp = None

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temp)
            self._temp = None

    def _require_open(self) -> int:
        if self._fd is None:
            raise ValueError("draft already sealed or aborted")
        return self._fd

    def _flush(self) -> None:
        fd = self._require_open()
        chunks, self._chunks, self._pending = self._chunks, [], 0
        want = sum(len(c) for c in chunks)
        done = os.writev(fd, chunks)
        if done < want:  # a short write (signal, nearly full disk): finish it plainly
            rest = b"".join(chunks)[done:]
            while rest:
                rest = rest[os.write(fd, rest) :]
        self._written += want

    def __enter__(self) -> Draft:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()


class QueuedMessage:
    """Takes ownership of *fd*: closes it on `close`, or at once if the file is refused."""

    def __init__(self, queue: Queue, queue_id: str, fd: int) -> None:
        self.queue = queue
        self.queue_id = queue_id
        self._fd: int | None = fd
        try:
            self.stat = os.fstat(fd)
            if not stat.S_ISREG(self.stat.st_mode) or self.stat.st_nlink != 1:
                raise record.CorruptQueueFile("not a regular file with exactly one link", 0)
            size = self.stat.st_size
            if size <= _SMALL_FILE:
                data = os.pread(fd, size, 0)
                self.span = record.decode_head(data[: record.CONTENT_OFFSET], len(data))
                tail = data[self.span.end :]
            else:
                head = os.pread(fd, record.CONTENT_OFFSET, 0)
                self.span = record.decode_head(head, size)
                tail = os.pread(fd, size - self.span.end, self.span.end)
            decoded = record.decode_trailer(tail, self.span)
        except BaseException:
            self.close()
            raise
        self.envelope = decoded.envelope
        self._content_crc = decoded.content_crc
        self._offsets = decoded.recipient_offsets

    @property
    def size(self) -> int:
        """The message size as mailq shows it: the content's length."""
        return self.span.length

    def content(self, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """The content in chunks; raises CorruptQueueFile at the end if it does not check."""
        fd = self.fileno()
        crc, offset, end = 0, self.span.offset, self.span.end
        while offset < end:
            chunk = os.pread(fd, min(chunk_size, end - offset), offset)
            if not chunk:
                raise record.TruncatedQueueFile("file shrank while being read", offset)
            crc = zlib.crc32(chunk, crc)
            offset += len(chunk)
            yield chunk
        record.check_content(crc, self.span, self._content_crc)

    def read_content(self) -> bytes:
        return b"".join(self.content())

    def recipient_offset(self, index: int) -> int:
        """Where recipient *index*'s R/D type byte is in the file."""
        return self._offsets[index]

    def fileno(self) -> int:
        if self._fd is None:
            raise ValueError("queue file is closed")
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> QueuedMessage:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
