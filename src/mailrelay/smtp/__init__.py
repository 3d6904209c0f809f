"""SMTP as state machines without I/O (like h11): bytes in, events out; answers in, bytes out.

The server side is :class:`~mailrelay.smtp.server.ServerConnection`; see its module for the
theory of operation and how a shell drives it.
"""

from mailrelay.smtp.server import ServerConnection, State, UsageError
from mailrelay.smtp.settings import ServerSettings, TlsLevel

__all__ = ["ServerConnection", "ServerSettings", "State", "TlsLevel", "UsageError"]
