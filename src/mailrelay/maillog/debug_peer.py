"""debug_peer_list: log the SMTP dialogue with chosen peers, with SASL secrets masked.

Theory of operation: Postfix raises its verbose level for a session whose peer matches
debug_peer_list (smtpd at connect time, smtp(8) per server connection), and the verbose level
makes smtpd_chat/smtp_chat log every line: ``< host[addr]: COMMAND`` and ``> host[addr]:
REPLY`` in smtpd, ``> host[addr]:port: COMMAND`` and ``< host[addr]:port: REPLY`` in smtp.
We log exactly those dialogue lines and none of Postfix's other verbose output (table
look-ups, internal state): that is noise for an administrator and would tie the log to
Postfix's internals.  debug_peer_level therefore changes nothing beyond "on".

The decision is made once per session or connection (:func:`dialogue_for`): with an empty
list there is no :class:`Dialogue` at all, and the per-line cost elsewhere is one test for
None.

Secrets: Postfix 3.7 logs AUTH lines as they are (its log shows the base64 of the password).
We do not: the client side of a SASL exchange is masked, in both directions of use.  After a
client line ``AUTH MECH [initial-response]`` the initial response is replaced by
:data:`MASK`; every later client line is masked as a whole until the client sends an SMTP
command again after a reply that is not ``334`` (a line after ``334`` is always masked).
That errs on the side of hiding: a client that pipelines its credentials after a refused
AUTH has them masked too.

SECURITY: reads the files and tables that debug_peer_list names; never logs SASL secrets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mailrelay.config.model import Config
from mailrelay.maps.base import MapError, MapLookupError
from mailrelay.maps.registry import open_map
from mailrelay.policy.networks import HostList, ListKind
from mailrelay.util.diagnostic import Fatal

#: What a masked secret is logged as.
MASK = "*******"

#: Verbs that end a SASL exchange when a client sends them (after a non-334 reply).
_VERBS = frozenset({"HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP",
                    "QUIT", "VRFY", "EXPN", "ETRN", "HELP", "STARTTLS", "AUTH", "XCLIENT",
                    "XFORWARD"})

#: Control characters and malformed UTF-8 become "?", as Postfix's printable() makes them.
_PRINTABLE = {c: "?" for c in (*range(0x20), 0x7f, 0xfffd)}


class DebugPeers:
    """The parsed debug_peer_list (a host list, as mynetworks)."""

    __slots__ = ("_list",)

    def __init__(self, host_list: HostList) -> None:
        self._list = host_list

    @classmethod
    def from_config(cls, config: Config) -> DebugPeers | None:
        """None when debug_peer_list is empty: nobody is debugged, at no cost."""
        items = config.get_list("debug_peer_list")
        if not items:
            return None
        parents = {p.lower() for p in config.get_list("parent_domain_matches_subdomains")}
        try:
            host_list = HostList.parse("debug_peer_list", ListKind.HOST, items, open_map,
                                       parent_style="debug_peer_list" in parents)
        except MapError as e:
            raise Fatal(f"parameter debug_peer_list: {e.text}", config.origin("debug_peer_list"),
                        "debug_peer_list") from None
        return cls(host_list)

    def match(self, name: str, address: str) -> bool:
        """Whether the peer *name* [*address*] is debugged; a table that cannot answer
        means no (debugging is never worth refusing or delaying mail)."""
        try:
            return self._list.match_host(name, address)
        except MapLookupError:
            return False


class Dialogue:
    """The dialogue lines of one session or connection, logged with *label* (Postfix's
    ``host[addr]`` in smtpd, ``host[addr]:port`` in smtp)."""

    __slots__ = ("_in_sasl", "_label", "_last_reply", "_log", "client_sign", "server_sign")

    def __init__(self, log: Callable[[str], None], label: str, *, we_are_client: bool) -> None:
        self._log = log
        self._label = label
        #: The sign of lines from the SMTP client and from the server, as Postfix prints
        #: them: what the logging side received is "<", what it sent ">".
        self.client_sign = ">" if we_are_client else "<"
        self.server_sign = "<" if we_are_client else ">"
        self._in_sasl = False
        self._last_reply = ""

    def client_line(self, line: bytes) -> None:
        """One command line of the SMTP client (without its CRLF)."""
        self._log(f"{self.client_sign} {self._label}: {self._mask(_text(line))}")

    def client_lines(self, data: bytes) -> None:
        for line in _lines(data):
            self.client_line(line)

    def server_line(self, line: bytes) -> None:
        """One reply line of the SMTP server (without its CRLF)."""
        text = _text(line)
        self._last_reply = text[:3]
        self._log(f"{self.server_sign} {self._label}: {text}")

    def server_lines(self, data: bytes) -> None:
        for line in _lines(data):
            self.server_line(line)

    def _mask(self, text: str) -> str:
        word = text.split(" ", 1)[0].upper()
        if self._in_sasl:
            if self._last_reply == "334" or word not in _VERBS:
                return MASK
            self._in_sasl = False
        if word != "AUTH":
            return text
        self._in_sasl = True
        self._last_reply = ""
        parts = text.split(None, 2)
        return f"{parts[0]} {parts[1]} {MASK}" if len(parts) > 2 else text


class LineBuffer:
    """Reply bytes as they arrive, split into whole lines (a read may end mid-line)."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = b""

    def feed(self, data: bytes) -> list[bytes]:
        data = self._held + data
        *lines, self._held = data.split(b"\n")
        return [line.rstrip(b"\r") for line in lines]


def dialogue_for(log: Callable[[str], None], name: str, address: str, label: str, *,
                 we_are_client: bool) -> Dialogue | None:
    """The Dialogue for a peer when *log* is a daemon's logger whose debug_peer_list
    matches it; None otherwise (also for plain callables, as tests pass)."""
    peers: DebugPeers | None = getattr(log, "debug_peers", None)
    if peers is None or not peers.match(name, address):
        return None
    return Dialogue(log, label, we_are_client=we_are_client)


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace").translate(_PRINTABLE)


def _lines(data: bytes) -> Iterable[bytes]:
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return (line.rstrip(b"\r") for line in lines)
