"""Writing one message into a Maildir, as Postfix's local(8) does (local/maildir.c).

SECURITY: writes files: creates ``tmp/``, ``new/`` and ``cur/`` (mode 0700) and message files
(mode 0600) under the directory it is given, and nothing else.  When given an owner (the
delivery runs as root), every directory and file it creates is handed to that user, so the
mailbox belongs to its user as when Postfix writes it with the user's privileges.

Theory of operation.  A message file is complete before anybody can see it: it is written
under ``tmp/`` with a name no other delivery uses (``<seconds>.P<pid>Q<count>.<host>``:
this process delivers many messages concurrently, where Postfix's one-process-per-delivery
name ``<seconds>.P<pid>.<host>`` would collide), fsynced, then hard-linked into ``new/``
under Postfix's name ``<seconds>.V<device>I<inode>M<microseconds>.<host>`` (device and
inode in hex: unique as long as the file exists), and ``new/`` is fsynced so that the link
survives a crash.  The ``tmp/`` name is removed in every case.

Failures are :class:`MaildirError` with Postfix's text (``create maildir file X:
Permission denied``, ``error writing message: File too large``, ``link to X: ...``) and
status: ``mbox_dsn()`` -- 5.2.2 for a full mailbox (EDQUOT, EFBIG, or over
``mailbox_size_limit``), 4.3.0 for a full disk, 4.2.0 for ESTALE/EAGAIN -- and deferred only
for ENOSPC and ESTALE; every other error bounces, as Postfix does.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import socket
import time
from dataclasses import dataclass

#: Which errors defer rather than bounce (Postfix: a full disk, a stale NFS handle).
_DEFER_ERRNOS = frozenset({errno.ENOSPC, errno.ESTALE})
_counter = itertools.count(1)


class MaildirError(Exception):
    def __init__(self, reason: str, dsn: str, temporary: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.dsn = dsn
        self.temporary = temporary


@dataclass(frozen=True, slots=True)
class Owner:
    uid: int
    gid: int


def mbox_dsn(err: int, default: str) -> str:
    """Postfix's mbox_dsn(): the enhanced status code of a mailbox write error."""
    if err in (errno.EAGAIN, errno.ESTALE):
        return "4.2.0"
    if err == errno.ENOSPC:
        return "4.3.0"
    if err in (errno.EDQUOT, errno.EFBIG):
        return "5.2.2"
    return default


def _failure(text: str, err: int, default: str) -> MaildirError:
    temporary = err in _DEFER_ERRNOS
    dsn = mbox_dsn(err, default)
    if not temporary and not dsn.startswith("5"):
        dsn = "5.0.0"  # bounce_append() accepts only 5.x.x codes
    return MaildirError(text, dsn, temporary)


def hostname() -> str:
    """The host part of Maildir names: ``/`` and ``:`` escaped as the Maildir spec says."""
    return socket.gethostname().replace("/", "\\057").replace(":", "\\072")


def _make_dirs(path: str, owner: Owner | None) -> None:
    """``mkdir -p`` with mode 0700 for what is created; chown the new ones to *owner*."""
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        current = os.path.dirname(current)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue
        if owner is not None:
            os.chown(directory, owner.uid, owner.gid)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create(tmpdir: str, name: str, owner: Owner | None) -> tuple[str, int, os.stat_result]:
    path = os.path.join(tmpdir, name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        try:
            fd = os.open(path, flags, 0o600)
        except FileNotFoundError:
            _make_dirs(tmpdir, owner)
            fd = os.open(path, flags, 0o600)
    except OSError as e:
        raise _failure(f"create maildir file {path}: {e.strerror}", e.errno or 0, "5.2.0") from e
    try:
        if owner is not None:
            os.fchown(fd, owner.uid, owner.gid)
        return path, fd, os.fstat(fd)
    except OSError:
        os.close(fd)
        os.unlink(path)
        raise


def _write(fd: int, data: bytes, size_limit: int) -> None:
    """Write and fsync; over *size_limit* fails as Postfix's file size rlimit makes it fail."""
    try:
        if size_limit > 0 and len(data) > size_limit:
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as e:
        raise _failure(f"error writing message: {e.strerror}", e.errno or 0, "5.3.0") from e
    finally:
        os.close(fd)


def _link(tmpfile: str, maildir: str, name: str, owner: Owner | None) -> str:
    newdir = os.path.join(maildir, "new")
    newfile = os.path.join(newdir, name)
    try:
        try:
            os.link(tmpfile, newfile)
        except FileNotFoundError:
            _make_dirs(os.path.join(maildir, "cur"), owner)
            _make_dirs(newdir, owner)
            os.link(tmpfile, newfile)
        _fsync_dir(newdir)
    except OSError as e:
        raise _failure(f"link to {newfile}: {e.strerror}", e.errno or 0, "5.2.0") from e
    return newfile


def deliver(maildir: str, data: bytes, *, owner: Owner | None = None,
            size_limit: int = 0) -> str:
    """Put *data* (the file's bytes, LF line ends) into *maildir*; the new file's path."""
    now = time.time()
    seconds, micros = int(now), int((now % 1) * 1_000_000)
    host = hostname()
    tmpname = f"{seconds}.P{os.getpid()}Q{next(_counter)}.{host}"
    tmpfile, fd, stat = _create(os.path.join(maildir, "tmp"), tmpname, owner)
    try:
        _write(fd, data, size_limit)
        name = f"{seconds}.V{stat.st_dev:x}I{stat.st_ino:x}M{micros}.{host}"
        return _link(tmpfile, maildir, name, owner)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmpfile)
