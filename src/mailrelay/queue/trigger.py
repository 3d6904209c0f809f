"""Wake-ups between processes: one datagram on a Unix socket under the queue directory.

SECURITY: binds and sends to Unix datagram sockets under ``$queue_directory/public`` (pickup,
mode 0666: any local user may wake it, as Postfix's public/pickup FIFO) and
``$queue_directory/private`` (qmgr, mode 0600: the mail system only).

A trigger carries no authority: the receiver always looks at the queue directory itself, so a
forged or lost datagram at worst causes a useless scan or a wait until the next periodic one.
Sends never block: when the receiver is gone or its buffer is full, the sender carries on.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from pathlib import Path

#: pickup's wake-up socket and qmgr's, relative to the queue directory.
PICKUP = "public/pickup"
QMGR = "private/qmgr"
#: Postfix's TRIGGER_REQ_WAKEUP; qmgr also takes ``I<queue id>`` (new in incoming), ``F``
#: (flush: every deferred message now), ``F<queue id>`` (that one) and ``S<domain>`` (the
#: deferred mail for that site): postqueue -f, -i and -s.
WAKEUP = b"W"
INCOMING = b"I"
FLUSH = b"F"
SITE = b"S"


def send(queue_directory: str | os.PathLike[str], name: str, data: bytes) -> bool:
    """One datagram to *name*; False when nobody listens or it would block."""
    path = os.path.join(queue_directory, name)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(data, path)
    except OSError:
        return False
    return True


class Sender:
    """A sender that keeps its socket: smtpd sends one trigger per message it queues."""

    def __init__(self, queue_directory: str | os.PathLike[str], name: str) -> None:
        self.path = os.path.join(queue_directory, name)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def send(self, data: bytes) -> bool:
        try:
            self._sock.sendto(data, self.path)
        except OSError:
            return False
        return True

    def close(self) -> None:
        self._sock.close()


def bind(queue_directory: str | os.PathLike[str], name: str, mode: int) -> socket.socket:
    """Bind *name* (its directory made if missing), replacing a stale socket file."""
    directory = Path(queue_directory) / os.path.dirname(name)
    dir_mode = 0o755 if name.startswith("public/") else 0o700
    try:
        os.mkdir(directory, dir_mode)
        os.chmod(directory, dir_mode)
    except FileExistsError:
        pass
    path = Path(queue_directory) / name
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(str(path))
        os.chmod(path, mode)
    except BaseException:
        sock.close()
        raise
    return sock


def receive(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting on *sock*."""
    datagrams = []
    with contextlib.suppress(OSError):
        while True:
            data = sock.recv(256)
            if not data:
                break
            datagrams.append(data)
    return datagrams
