"""Log lines in Postfix's format, to ``maillog_file`` or syslog, and (under ``serve``) stderr.

A line is ``Mmm dd hh:mm:ss HOST SYSLOG_NAME/DAEMON[PID]: TEXT``, as Postfix's postlogd writes
maillog_file, so that pflogsumm and log-based exporters read it unchanged.  HOST is the first
label of myhostname.  Several processes append to the same file: each line is one write(2) on
an O_APPEND descriptor, which the kernel does not interleave.

With maillog_file empty the lines go to syslog instead (``syslog.py``: ``syslog_name/daemon``
with the pid, syslog_facility), as Postfix sends them; stderr under ``serve`` gets them
either way.  A daemon's logger (:meth:`MailLog.logger`) also carries debug_peer_list, so that
smtpd and smtp decide per session whether to log the dialogue (``debug_peer.py``).

SECURITY: opens maillog_file for appending; the path must start with one of
maillog_file_prefixes, as Postfix requires.  Without maillog_file: writes to the syslog socket.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from mailrelay.config.model import Config
from mailrelay.maillog.debug_peer import DebugPeers
from mailrelay.maillog.syslog import Syslog, facility_of
from mailrelay.util.diagnostic import Fatal

Logger = Callable[[str], None]


class DaemonLog:
    """One daemon's logger: a callable that writes a line, plus debug_peer_list for
    :func:`mailrelay.maillog.debug_peer.dialogue_for`."""

    __slots__ = ("daemon", "debug_peers", "maillog")

    def __init__(self, maillog: MailLog, daemon: str) -> None:
        self.maillog = maillog
        self.daemon = daemon
        self.debug_peers: DebugPeers | None = maillog.debug_peers

    def __call__(self, text: str) -> None:
        self.maillog.write(self.daemon, text)


class MailLog:
    def __init__(self, syslog_name: str, host: str, path: str | None,
                 stream: TextIO | None = None, *, syslog: Syslog | None = None,
                 debug_peers: DebugPeers | None = None) -> None:
        self.syslog_name = syslog_name
        self.host = host
        self.path = path
        self.stream = stream
        #: Used only when there is no maillog_file (None: neither, e.g. a quiet check).
        self.syslog = syslog if path is None else None
        self.debug_peers = debug_peers
        self._fd: int | None = None
        #: daemon -> (second, pid, line prefix): strftime once a second, not once a line.
        self._prefixes: dict[str, tuple[int, int, str]] = {}
        #: Sees every (daemon, text) written: the metrics count events from the same lines
        #: that log-based exporters read, so both agree.  None costs nothing.
        self.tap: Callable[[str, str], None] | None = None
        self.reopen()

    @classmethod
    def from_config(cls, config: Config, stream: TextIO | None = None) -> MailLog:
        """maillog_file, else syslog; Fatal for a path outside maillog_file_prefixes, a bad
        syslog_facility (checked either way, as Postfix does) or a bad debug_peer_list."""
        path = config.get_str("maillog_file").strip() or None
        facility = facility_of(config)
        if path is not None:
            prefixes = config.get_list("maillog_file_prefixes")
            absolute = os.path.abspath(path)
            if not any(absolute.startswith(os.path.abspath(p)) or path.startswith(p)
                       for p in prefixes):
                raise Fatal(f"refusing to open maillog_file {path}: its name does not start "
                            f"with one of maillog_file_prefixes ({', '.join(prefixes)})",
                            config.origin("maillog_file"), "maillog_file")
        host = config.get_str("myhostname").split(".")[0]
        name = config.get_str("syslog_name")
        return cls(name, host, path, stream, syslog=Syslog(name, facility, warnings=stream),
                   debug_peers=DebugPeers.from_config(config))

    def reopen(self) -> None:
        """(Re)open maillog_file: after logrotate moved it away."""
        if self.path is None:
            return
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        old, self._fd = self._fd, fd
        if old is not None:
            os.close(old)

    def line(self, daemon: str, text: str, pid: int | None = None) -> str:
        second = int(time.time())
        pid = pid or os.getpid()
        cached, cached_pid, prefix = self._prefixes.get(daemon, (-1, 0, ""))
        if second != cached or pid != cached_pid:
            stamp = time.strftime("%b %e %H:%M:%S", time.localtime(second))
            prefix = f"{stamp} {self.host} {self.syslog_name}/{daemon}[{pid}]: "
            self._prefixes[daemon] = (second, pid, prefix)
        return f"{prefix}{text}\n"

    def write(self, daemon: str, text: str) -> None:
        if self.tap is not None:
            self.tap(daemon, text)
        line = self.line(daemon, text)
        if self._fd is not None:
            try:
                os.write(self._fd, line.encode("utf-8", "backslashreplace"))
            except OSError as e:
                print(f"mailrelay: cannot write {self.path}: {e.strerror}", file=sys.stderr)
        elif self.syslog is not None:
            self.syslog.send(daemon, text)  # no syslog daemon: dropped, as syslog(3) does
        if self.stream is not None:
            self.stream.write(line)
            self.stream.flush()

    def logger(self, daemon: str) -> DaemonLog:
        return DaemonLog(self, daemon)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.syslog is not None:
            self.syslog.close()
