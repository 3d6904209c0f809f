"""Detaching the master from the terminal (``mailrelay start``), as Postfix's master does.

SECURITY: forks; points the daemon's standard streams at /dev/null.

The starter forks; the child calls setsid() and forks again, so the master is no session
leader and can never get a controlling terminal back.  The master tells the starter through a
pipe that it is ready (pid file locked, sockets bound), or why it is not, so that ``start``
exits 0 only when the mail system really runs, as Postfix's ``postfix start`` waits for
``master -w``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

Ready = Callable[[], None]
#: The one byte the master writes once it is ready; anything else is an error text.
READY = b"\0"


def _stdio_to_devnull() -> None:
    fd = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(fd, std)
    if fd > 2:
        os.close(fd)


def _daemon(main: Callable[[Ready], int], w: int) -> int:
    """The detached process: run *main*, reporting readiness or the reason it failed."""
    reported = False

    def ready() -> None:
        nonlocal reported
        if not reported:
            reported = True
            os.write(w, READY)
            os.close(w)  # before the master forks: its children must not hold the pipe

    try:
        os.setsid()
        if os.fork():
            return 0
        _stdio_to_devnull()
        return main(ready)
    except BaseException as e:  # whatever it is, the starter prints it
        if not reported:
            reported = True
            os.write(w, (str(e) or type(e).__name__).encode("utf-8", "replace"))
            os.close(w)
        return 1


def detach(main: Callable[[Ready], int]) -> str | None:
    """Run *main* in a detached daemon; None once it called ``ready``, else the error text."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 1
        try:
            code = _daemon(main, w)
        finally:
            os._exit(code)
    os.close(w)
    os.waitpid(pid, 0)
    chunks = []
    while chunk := os.read(r, 4096):
        chunks.append(chunk)
    os.close(r)
    answer = b"".join(chunks)
    if answer == READY:
        return None
    return answer.decode("utf-8", "replace") or "the master exited before it was ready"
