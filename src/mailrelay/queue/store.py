"""The queue store: the only code that writes the queue directories.

SECURITY: writes the mail queue.  maildrop is world-writable (see the permission model); every
other directory belongs to the mail system's user alone.  Files are opened with O_NOFOLLOW and
must be regular files with one link, so that a local user cannot point the daemon at another
file through maildrop.  A maildrop file is untrusted input: it is decoded, never renamed into
incoming; the pickup copies it through cleanup into a new file, as Postfix's pickup does.

Theory of operation
-------------------
The queue is the file system.  Each message is one file, named by its queue ID; the directory
the file is in is its state: maildrop (local submissions), incoming (received, complete),
active (in qmgr's hands), deferred (waiting; the file's mtime is the next attempt, as in
Postfix), hold (by the administrator), corrupt (moved aside, never deleted).  Beside them,
``defer/ID`` and ``bounce/ID`` hold status logs (why recipients are not done yet), and ``tmp/``
holds files being written.  All are in one file system under the queue directory, so that
every state change is one rename(2).  The directories are flat: no hash_queue_depth
subdirectories (ext4 and XFS index large directories; path() is the one place to add it).

Invariants:

1. A file in any queue directory is complete and fsynced.  A new message is written in
   ``tmp/`` (maildrop: a dot-name in maildrop itself, which submitters can write), its data
   flushed with fdatasync, then renamed to its ID, then the directory is fsynced.  Only then
   does commit return, and only then may smtpd say 250.  A crash before the rename leaves a
   temporary file that no reader lists (its name is not a queue ID) and that `recover` removes
   at startup; a crash after the directory fsync loses nothing.
2. A queue ID is unique among live files: it is made from the time and the inode of the
   temporary file, and a queue file keeps its inode for life (moves are renames, never copies;
   the only in-place write is a recipient's done mark).
3. A recipient is marked done (its record type overwritten from R to D, then fdatasync) before
   qmgr moves on, so that after a crash only deliveries in flight can be repeated.  Removing a
   message whose recipients are all done need not be durable: if a crash undoes the unlink,
   qmgr finds every recipient done and removes it again.
4. Moves are rename(2) followed by an fsync of the destination, then the source, directory.
   A move that a crash undoes leaves the message in its old state, which is always safe:
   active is retried at startup, incoming is delivered.

Cost of one commit: one writev of the whole file (content and envelope), one fdatasync, one
rename, one fsync of incoming/.  Group commit (smtpd's committer) is `commit_many`: the
files of a batch fdatasynced (in parallel, given an executor), then renamed, then one fsync
per directory, then the 250 replies: one directory fsync per batch instead of one per
message.  Each file is still
fsynced before its rename, so invariant 1 holds (a file renamed but whose directory is not yet
synced may be delivered early; it is simply not acknowledged yet).

Division of labour: queuefile.py writes the bytes of a new file that is in no queue yet
(`Draft`, in tmp/) and reads queue files (`QueuedMessage`); this module alone puts a file into
a queue directory, moves it, marks it or removes it.

Permission model: the queue directory (0755) and every directory in it (0700) belong to the
user the daemon runs as, except maildrop: 3733 (setgid, sticky, write and search for all, no
listing).  Any local user can create a file there (as with Postfix's postdrop), cannot list,
remove or rename others' files (sticky), and each file gets the daemon's group (setgid) and
mode 0640, so that the daemon can read it and other users cannot.  Nothing here needs root.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import os
import stat
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor
from pathlib import Path

from mailrelay.queue import record
from mailrelay.queue.queue_id import is_valid
from mailrelay.queue.queuefile import TEMP_PREFIX, Draft, QueuedMessage
from mailrelay.queue.record import CorruptQueueFile, Envelope
from mailrelay.queue.statuslog import StatusLog, decode_status_log, encode_status_log
from mailrelay.util.durable import fsync_directory, write_atomically


class Queue(enum.Enum):
    MAILDROP = "maildrop"
    INCOMING = "incoming"
    ACTIVE = "active"
    DEFERRED = "deferred"
    HOLD = "hold"
    CORRUPT = "corrupt"


class LogKind(enum.Enum):
    DEFER = "defer"
    BOUNCE = "bounce"


TEMP = "tmp"
FILE_MODE = 0o600
MAILDROP_FILE_MODE = 0o640
MAILDROP_DIR_MODE = 0o3733
EXPIRED_BIT = 0o010  # Postfix marks a message for "postsuper -e" with the group-execute bit
_SEARCH_ORDER = (Queue.INCOMING, Queue.ACTIVE, Queue.DEFERRED, Queue.HOLD, Queue.MAILDROP,
                 Queue.CORRUPT)  # fmt: skip


class InvalidQueueId(ValueError):
    def __init__(self, queue_id: str) -> None:
        super().__init__(f"invalid queue ID: {queue_id!r}")


class MessageNotFound(LookupError):
    def __init__(self, queue_id: str, queue: Queue | None = None) -> None:
        where = f" in the {queue.value} queue" if queue else ""
        super().__init__(f"{queue_id}: no such message{where}")


@dataclasses.dataclass(frozen=True, slots=True)
class QueueFileStat:
    """What a directory scan knows about a file without opening it."""

    queue: Queue
    queue_id: str
    file_size: int
    mtime: float  # deferred: the next attempt
    uid: int  # maildrop: the submitting user
    expired: bool  # postsuper -e / -f


@dataclasses.dataclass(frozen=True, slots=True)
class RecoveryReport:
    temporary_files: int
    orphan_logs: int


class QueueStore:
    def __init__(self, directory: str | os.PathLike[str], *, long_ids: bool = False) -> None:
        self.directory = Path(directory)
        self.long_ids = long_ids

    # ------------------------------------------------------------ layout

    def path(self, queue: Queue, queue_id: str) -> Path:
        if not is_valid(queue_id):
            raise InvalidQueueId(queue_id)
        return self.directory / queue.value / queue_id

    def log_path(self, kind: LogKind, queue_id: str) -> Path:
        if not is_valid(queue_id):
            raise InvalidQueueId(queue_id)
        return self.directory / kind.value / queue_id

    def create_directories(self) -> None:
        """Make what is missing with the modes of the permission model (umask aside)."""
        _mkdir(self.directory, 0o755)
        for name in [*(q.value for q in Queue), *(k.value for k in LogKind), TEMP]:
            _mkdir(self.directory / name, MAILDROP_DIR_MODE if name == "maildrop" else 0o700)

    # ------------------------------------------------------------ new messages

    def begin(self, queue: Queue = Queue.INCOMING) -> Draft:
        """Start a message; its queue ID is known now (smtpd logs it before DATA ends)."""
        if queue is Queue.INCOMING:
            return Draft(self.directory / TEMP, FILE_MODE, long_ids=self.long_ids)
        if queue is Queue.MAILDROP:  # submitters cannot write tmp/; 0640 whatever their umask
            directory = self.directory / queue.value
            return Draft(directory, MAILDROP_FILE_MODE, long_ids=self.long_ids, maildrop=True)
        raise ValueError(f"new messages go to incoming or maildrop, not {queue.value}")

    def commit(self, draft: Draft, envelope: Envelope, *, hold: bool = False) -> str:
        """Seal *draft* with *envelope* and rename it into its queue; returns the queue ID.

        Durable when this returns (invariant 1).  *hold* (header_checks' HOLD) renames it
        straight into hold/, so that no qmgr scan of incoming/ ever sees it.
        """
        (error,) = self.commit_many([(draft, envelope, hold)])
        if error is not None:
            raise error
        return draft.queue_id

    def commit_many(self, batch: Iterable[tuple[Draft, Envelope, bool]],
                    executor: Executor | None = None) -> list[BaseException | None]:
        """Commit several (draft, envelope, hold) at once, durable when this returns; one
        outcome per item: None, or the error that made it fail (its draft then aborted).

        Each file is sealed (fdatasynced), then renamed into its queue, then one fsync per
        directory covers every rename of the batch.  With *executor* the files are sealed
        in parallel: each fdatasync waits for a device flush, and the block layer merges
        flushes that wait together, as it merges those of Postfix's cleanup processes;
        one after another, a batch of eight waited for eight flushes."""
        items = list(batch)
        sealed: list[Path | BaseException]
        if executor is not None and len(items) > 1:
            sealed = list(executor.map(_seal, items))
        else:
            sealed = [_seal(item) for item in items]
        errors: list[BaseException | None] = []
        renamed: dict[Queue, list[int]] = {}
        for i, ((draft, _, hold), temp) in enumerate(zip(items, sealed, strict=True)):
            if isinstance(temp, BaseException):  # _seal aborted the draft
                errors.append(temp)
                continue
            queue = _destination(draft, hold)
            try:
                os.rename(temp, self.path(queue, draft.queue_id))
            except BaseException as error:
                draft.abort()
                errors.append(error)
                continue
            draft.committed()
            errors.append(None)
            renamed.setdefault(queue, []).append(i)
        for queue, indices in renamed.items():
            try:
                self.sync(queue)
            except BaseException as error:  # renamed, but not known to be durable: not told
                for i in indices:
                    errors[i] = error
        return errors

    def enqueue(self, envelope: Envelope, content: bytes) -> str:
        """Write a message held in memory into incoming; durable when this returns."""
        with self.begin() as draft:
            draft.write(content)
            return self.commit(draft, envelope)

    def submit_maildrop(self, envelope: Envelope, content: Iterable[bytes]) -> str:
        """sendmail(1)'s half: runs as the submitting user, needs only maildrop's modes."""
        with self.begin(Queue.MAILDROP) as draft:
            for chunk in content:
                draft.write(chunk)
            return self.commit(draft, envelope)

    def sync(self, queue: Queue) -> None:
        """Make the renames into *queue* durable (the second half of a group commit)."""
        try:
            fsync_directory(self.directory / queue.value)
        except PermissionError:
            # A submitter cannot open maildrop (no read bit) to fsync it: flush everything.
            os.sync()

    # ------------------------------------------------------------ reading

    def ids(self, queue: Queue) -> Iterator[str]:
        """The queue IDs in *queue*, in directory order; temporary and stray names skipped."""
        with os.scandir(self.directory / queue.value) as entries:
            for entry in entries:
                if is_valid(entry.name):
                    yield entry.name

    def scan(self, queue: Queue) -> Iterator[QueueFileStat]:
        for queue_id in self.ids(queue):
            with contextlib.suppress(MessageNotFound):  # moved or removed meanwhile
                yield self.stat(queue, queue_id)

    def stat(self, queue: Queue, queue_id: str) -> QueueFileStat:
        try:
            st = os.lstat(self.path(queue, queue_id))
        except FileNotFoundError:
            raise MessageNotFound(queue_id, queue) from None
        expired = bool(st.st_mode & EXPIRED_BIT)
        return QueueFileStat(queue, queue_id, st.st_size, st.st_mtime, st.st_uid, expired)

    def locate(self, queue_id: str) -> Queue:
        """Which queue holds *queue_id*; looks twice, since a move may race the search."""
        for _ in range(2):
            for queue in _SEARCH_ORDER:
                if os.path.lexists(self.path(queue, queue_id)):
                    return queue
        raise MessageNotFound(queue_id)

    def open(self, queue: Queue, queue_id: str, *, writable: bool = False) -> QueuedMessage:
        """Open a message and decode its envelope; the content is read only on demand.

        Raises MessageNotFound; a QueueFileError for a file to move aside (`quarantine`); or
        PermissionError for a maildrop file that its owner made unreadable (also aside).
        """
        path = self.path(queue, queue_id)
        flags = os.O_RDWR if writable else os.O_RDONLY
        try:
            fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise MessageNotFound(queue_id, queue) from None
        except OSError as exc:
            if os.path.islink(path):
                raise CorruptQueueFile("queue file is a symbolic link", 0) from exc
            raise
        return QueuedMessage(queue, queue_id, fd)

    def mark_done(self, message: QueuedMessage, indices: Iterable[int]) -> None:
        """Mark recipients (by index) delivered, durably (invariant 3); needs ``writable``.

        Writing the mark updates the file's mtime: qmgr does it in active, before defer().
        """
        fd = message.fileno()
        recipients = list(message.envelope.recipients)
        changed = False
        for index in indices:
            offset = message.recipient_offset(index)
            current = os.pread(fd, 1, offset)
            if current == record.DONE:
                continue
            if current != record.PENDING:
                raise CorruptQueueFile("recipient record changed under us", offset)
            os.pwrite(fd, record.DONE, offset)
            recipients[index] = dataclasses.replace(recipients[index], done=True)
            changed = True
        if changed:
            os.fdatasync(fd)
            message.envelope = dataclasses.replace(message.envelope, recipients=tuple(recipients))

    def read_log(self, kind: LogKind, queue_id: str) -> StatusLog | None:
        try:
            data = self.log_path(kind, queue_id).read_bytes()
        except FileNotFoundError:
            return None
        return decode_status_log(data)

    # ------------------------------------------------------------ state changes

    def move(self, queue: Queue, queue_id: str, dst: Queue, *, durable: bool = True) -> None:
        """Rename into *dst*; ``durable=False`` where a lost move is harmless (see 4.)."""
        try:
            os.rename(self.path(queue, queue_id), self.path(dst, queue_id))
        except FileNotFoundError:
            raise MessageNotFound(queue_id, queue) from None
        if durable:
            fsync_directory(self.directory / dst.value)
            fsync_directory(self.directory / queue.value)

    def defer(self, queue: Queue, queue_id: str, log: StatusLog, next_attempt: float) -> None:
        """Record why recipients wait, then move to deferred with mtime = next attempt.

        The log goes first: a crash in between leaves the message where it was, with reasons.
        The mtime is set before the rename so that no scan sees a deferred file without it;
        it is not fsynced: if a crash loses it, the message is only retried sooner.
        """
        self.write_log(LogKind.DEFER, queue_id, log)
        try:
            os.utime(self.path(queue, queue_id), (next_attempt, next_attempt))
        except FileNotFoundError:  # deleted meanwhile (postsuper -d): no orphan log
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.log_path(LogKind.DEFER, queue_id))
            raise MessageNotFound(queue_id, queue) from None
        if queue is not Queue.DEFERRED:
            self.move(queue, queue_id, Queue.DEFERRED)

    def postpone(self, queue: Queue, queue_id: str, next_attempt: float) -> None:
        """Into deferred, due at *next_attempt*, with the reasons it already has (qmgr, when
        a delivery ended without a verdict: never leave a file in active/ until a restart)."""
        try:
            os.utime(self.path(queue, queue_id), (next_attempt, next_attempt))
        except FileNotFoundError:
            raise MessageNotFound(queue_id, queue) from None
        if queue is not Queue.DEFERRED:
            self.move(queue, queue_id, Queue.DEFERRED)

    def write_log(self, kind: LogKind, queue_id: str, log: StatusLog) -> None:
        write_atomically(self.log_path(kind, queue_id), encode_status_log(log), FILE_MODE)

    def hold(self, queue: Queue, queue_id: str) -> None:
        self.move(queue, queue_id, Queue.HOLD)

    def release(self, queue_id: str) -> None:
        """Out of hold into deferred, due now (Postfix's postsuper -H)."""
        now = time.time()
        try:
            os.utime(self.path(Queue.HOLD, queue_id), (now, now))
        except FileNotFoundError:
            raise MessageNotFound(queue_id, Queue.HOLD) from None
        self.move(Queue.HOLD, queue_id, Queue.DEFERRED)

    def requeue(self, queue: Queue, queue_id: str) -> None:
        """Into maildrop, to pass through cleanup again (postsuper -r).  The mtime becomes
        now, as Postfix's requeue does: pickup takes it as the arrival time, and a deferred
        file's mtime is its next attempt, not when it came."""
        now = time.time()
        try:
            os.utime(self.path(queue, queue_id), (now, now))
        except FileNotFoundError:
            raise MessageNotFound(queue_id, queue) from None
        self.move(queue, queue_id, Queue.MAILDROP)

    def quarantine(self, queue: Queue, queue_id: str) -> None:
        """Move a file that cannot be read aside, into corrupt; never delete it."""
        self.move(queue, queue_id, Queue.CORRUPT)

    def expire(self, queue: Queue, queue_id: str) -> None:
        """Mark for expiry: qmgr returns it to the sender at its next attempt (postsuper -e)."""
        try:
            fd = os.open(self.path(queue, queue_id), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise MessageNotFound(queue_id, queue) from None
        try:
            os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) | EXPIRED_BIT)
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self, queue: Queue, queue_id: str, *, durable: bool = True) -> None:
        """Delete a message and its logs (logs first: a log never outlives its message)."""
        path = self.path(queue, queue_id)
        if not os.path.lexists(path):  # never a live message's logs for a wrong queue name
            raise MessageNotFound(queue_id, queue)
        for kind in LogKind:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.log_path(kind, queue_id))
        try:
            os.unlink(path)
        except FileNotFoundError:
            raise MessageNotFound(queue_id, queue) from None
        if durable:
            fsync_directory(path.parent)

    def remove_temporary(self, pid: int) -> int:
        """Remove the temporary files in tmp/ of process *pid*, which has ended (a killed
        smtpd worker's unfinished messages and spare drafts); returns how many."""
        prefix = f"{TEMP_PREFIX}{pid}."
        removed = 0
        with os.scandir(self.directory / TEMP) as entries:
            for entry in entries:
                if entry.name.startswith(prefix):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed += 1
        return removed

    def recover(self, *, maildrop_grace: float = 86400.0) -> RecoveryReport:
        """At startup, before any writer runs: remove what crashed writers left behind.

        Temporary files in tmp/ and in the log directories are removed; in maildrop only those
        older than *maildrop_grace* seconds, since a sendmail(1) may be writing one right now.
        Logs whose message is in no queue are removed too.
        """
        temporary = 0
        for entry in os.scandir(self.directory / TEMP):
            os.unlink(entry.path)
            temporary += 1
        cutoff = time.time() - maildrop_grace
        for entry in os.scandir(self.directory / Queue.MAILDROP.value):
            if (
                entry.name.startswith(TEMP_PREFIX)
                and entry.stat(follow_symlinks=False).st_mtime < cutoff
            ):
                os.unlink(entry.path)
                temporary += 1
        live = {queue_id for queue in Queue for queue_id in self.ids(queue)}
        orphans = 0
        for kind in LogKind:
            for entry in os.scandir(self.directory / kind.value):
                if entry.name.startswith("."):
                    os.unlink(entry.path)
                    temporary += 1
                elif entry.name not in live:
                    os.unlink(entry.path)
                    orphans += 1
        return RecoveryReport(temporary, orphans)


def _seal(item: tuple[Draft, Envelope, bool]) -> Path | BaseException:
    """The draft sealed (its temporary path), or the error that aborted it."""
    draft, envelope, _ = item
    try:
        return draft.seal(envelope)
    except BaseException as error:  # (an envelope the trailer refuses left it open)
        draft.abort()
        return error


def _destination(draft: Draft, hold: bool) -> Queue:
    return Queue.MAILDROP if draft.maildrop else Queue.HOLD if hold else Queue.INCOMING


def _mkdir(path: Path, mode: int) -> None:
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        return
    os.chmod(path, mode)  # mkdir's mode is filtered by the umask; the model's is not
