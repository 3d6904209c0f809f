"""Log lines to syslog, as Postfix does when maillog_file is empty.

Postfix calls syslog(3) with ``openlog(syslog_name/daemon, LOG_PID | LOG_NDELAY, facility)``;
glibc then sends one datagram per line to the AF_UNIX socket ``/dev/log``, in RFC 3164's
local form without a host name: ``<PRI>Mmm dd hh:mm:ss IDENT[PID]: TEXT`` (no newline).  The
stdlib ``syslog`` module cannot be pointed at another socket, so this is a small writer of
the same datagrams.  The environment variable ``MAILRELAY_SYSLOG_SOCKET`` names another
socket (tests bind their own).

The priority comes from the text as Postfix's msg_syslog maps its severities: ``warning:``
is LOG_WARNING, ``error:`` LOG_ERR, ``fatal:`` and ``panic:`` LOG_CRIT, everything else
LOG_INFO.  Facility names are Postfix's, lower case only (it refuses ``LOCAL3``).

No syslog daemon (no socket) must never stop mail.  Lines that cannot be sent are dropped,
as glibc's syslog(3) drops them; under ``serve`` they are on stderr anyway, and that stream
(*warnings*) gets one warning.  ``start`` has no stderr (it is /dev/null) and one-shot commands
print their own messages, so neither gets a warning.  A syslog daemon that restarted is
reconnected once per failed line.

SECURITY: writes to the local syslog socket (or $MAILRELAY_SYSLOG_SOCKET); opens nothing else.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TextIO

from mailrelay.config.model import Config
from mailrelay.util.diagnostic import Fatal

SOCKET_ENV = "MAILRELAY_SYSLOG_SOCKET"
DEFAULT_SOCKET = "/dev/log"

#: syslog_facility names Postfix 3.7 accepts on Linux (checked with postlog), as codes.
FACILITIES: Mapping[str, int] = MappingProxyType({
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    **{f"local{n}": 16 + n for n in range(8)},
})

LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_INFO = 2, 3, 4, 6
_SEVERITIES = (("warning: ", LOG_WARNING), ("error: ", LOG_ERR), ("fatal: ", LOG_CRIT),
               ("panic: ", LOG_CRIT))


def facility_of(config: Config) -> int:
    """syslog_facility as a code; Fatal naming the parameter and where it was set."""
    name = config.get_str("syslog_facility").strip()
    code = FACILITIES.get(name)
    if code is None:
        raise Fatal(f"parameter syslog_facility: unrecognized value: {name}",
                    config.origin("syslog_facility"), "syslog_facility")
    return code


def severity(text: str) -> int:
    for prefix, level in _SEVERITIES:
        if text.startswith(prefix):
            return level
    return LOG_INFO


class Syslog:
    """Datagrams to the syslog socket; connects on the first line (a configuration check
    that builds a MailLog and throws it away touches no socket)."""

    def __init__(self, syslog_name: str, facility: int, path: str | None = None,
                 warnings: TextIO | None = None) -> None:
        self.syslog_name = syslog_name
        self.facility = facility
        self.path = path or os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET
        #: Where the warning about a missing syslog daemon goes (None: nowhere).
        self.warnings = warnings
        self._sock: socket.socket | None = None
        self._failed = False
        #: daemon -> (second, pid, "Mmm dd hh:mm:ss IDENT[PID]: "), as MailLog caches.
        self._prefixes: dict[str, tuple[int, int, str]] = {}

    def datagram(self, daemon: str, text: str) -> bytes:
        second, pid = int(time.time()), os.getpid()
        cached, cached_pid, prefix = self._prefixes.get(daemon, (-1, 0, ""))
        if second != cached or pid != cached_pid:
            stamp = time.strftime("%b %e %H:%M:%S", time.localtime(second))
            prefix = f"{stamp} {self.syslog_name}/{daemon}[{pid}]: "
            self._prefixes[daemon] = (second, pid, prefix)
        priority = self.facility * 8 + severity(text)
        return f"<{priority}>{prefix}{text}".encode("utf-8", "backslashreplace")

    def send(self, daemon: str, text: str) -> bool:
        """Send one line; False when it could not be sent (the caller writes it elsewhere)."""
        if self._failed:
            return False
        data = self.datagram(daemon, text)
        for _attempt in range(2):  # a restarted syslog daemon: reconnect once
            try:
                self._socket().send(data)
                return True
            except OSError:
                self._disconnect()
        if not self._connectable():  # no daemon at all: say so once, then stop trying
            self._failed = True
            self._warn()
        return False

    def _socket(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.connect(self.path)
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def _connectable(self) -> bool:
        try:
            self._socket()
        except OSError:
            return False
        return True

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _warn(self) -> None:
        if self.warnings is not None:
            self.warnings.write(f"{self.syslog_name}: warning: cannot send to syslog socket "
                                f"{self.path}: log lines go to stderr only\n")
            self.warnings.flush()

    def close(self) -> None:
        self._disconnect()
