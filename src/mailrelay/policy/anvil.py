"""Client connection and rate limits: anvil(8)'s counters and smtpd's checks of them.

Theory of operation.  Postfix keeps, per service and client address, the number of
simultaneous connections and, over a window of ``anvil_rate_time_unit`` seconds, the number
of connections, MAIL commands and recipients.  The window starts at the first event and is
restarted by the first event after it has run out (it does not slide).  An entry whose
client has no connection left is forgotten after one time unit.  smtpd asks for the counter
*after* counting the event, so the limit is exceeded by the event that makes the count go
over it: with ``smtpd_client_message_rate_limit = 1`` the second MAIL is refused.

:class:`Anvil` holds the counters and reads time from an injected :class:`Clock`, so it is
tested without waiting; it is pure state, no I/O.  In a running server one Anvil must serve
every smtpd worker (Postfix's anvil is a single process): the master holds it and the
workers ask it over a local socket.  The ``check_*`` functions are smtpd's side: given a
count, they return the refusal (reply and warning log line, Postfix 3.7's exact words) or
None.  Clients matching ``smtpd_client_event_limit_exceptions`` (default: $mynetworks) are
not counted at all; the shell asks :func:`exempt` first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from mailrelay.config.model import Config
from mailrelay.mail.reply import Reply
from mailrelay.policy.networks import HostList


class Clock(Protocol):
    def monotonic(self) -> float: ...


@dataclass(slots=True)
class _Remote:
    count: int = 0
    start: float = 0.0
    rate: int = 0
    mail: int = 0
    rcpt: int = 0
    idle_since: float | None = None


@dataclass(frozen=True, slots=True)
class Counts:
    """What anvil answers to a connect: simultaneous connections and connection rate."""

    count: int
    rate: int


class Anvil:
    """Per-(service, client address) counters over fixed windows of *time_unit* seconds."""

    def __init__(self, clock: Clock, time_unit: float = 60.0) -> None:
        self._clock = clock
        self._unit = time_unit
        self._remotes: dict[tuple[str, str], _Remote] = {}

    def _remote(self, service: str, address: str) -> tuple[_Remote, float]:
        now = self._clock.monotonic()
        key = (service, address)
        remote = self._remotes.get(key)
        if remote is None or (remote.idle_since is not None
                              and now - remote.idle_since >= self._unit):
            remote = self._remotes[key] = _Remote(start=now)
        elif remote.start + self._unit < now:
            remote.start, remote.rate, remote.mail, remote.rcpt = now, 0, 0, 0
        return remote, now

    def connect(self, service: str, address: str) -> Counts:
        remote, _ = self._remote(service, address)
        remote.count += 1
        remote.rate += 1
        remote.idle_since = None
        return Counts(remote.count, remote.rate)

    def disconnect(self, service: str, address: str) -> None:
        remote = self._remotes.get((service, address))
        if remote is None or remote.count == 0:
            return
        remote.count -= 1
        if remote.count == 0:
            remote.idle_since = self._clock.monotonic()

    def mail(self, service: str, address: str) -> int:
        remote, _ = self._remote(service, address)
        remote.mail += 1
        return remote.mail

    def rcpt(self, service: str, address: str) -> int:
        remote, _ = self._remote(service, address)
        remote.rcpt += 1
        return remote.rcpt

    def expire(self) -> None:
        """Forget clients without connections whose time unit has run out."""
        now = self._clock.monotonic()
        for key, remote in list(self._remotes.items()):
            if remote.idle_since is not None and now - remote.idle_since >= self._unit:
                del self._remotes[key]

    def __len__(self) -> int:
        return len(self._remotes)


@dataclass(frozen=True, slots=True)
class Limits:
    """The smtpd_client_*_limit parameters (0: no limit)."""

    myhostname: str
    connection_count: int = 50
    connection_rate: int = 0
    message_rate: int = 0
    recipient_rate: int = 0
    time_unit: int = 60

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        return cls(
            myhostname=config.get_str("myhostname"),
            connection_count=config.get_int("smtpd_client_connection_count_limit"),
            connection_rate=config.get_int("smtpd_client_connection_rate_limit"),
            message_rate=config.get_int("smtpd_client_message_rate_limit"),
            recipient_rate=config.get_int("smtpd_client_recipient_rate_limit"),
            time_unit=config.get_time("anvil_rate_time_unit"),
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    reply: Reply
    #: The warning smtpd logs (without the ``warning: `` prefix).
    warning: str = field(default="")


def exempt(exceptions: HostList, client_name: str, client_address: str) -> bool:
    """smtpd_client_event_limit_exceptions: such clients are neither counted nor limited."""
    return exceptions.match_host(client_name, client_address)


def check_connect(limits: Limits, counts: Counts, namaddr: str, address: str,
                  service: str) -> Refusal | None:
    """At connect: too many simultaneous connections, or too many in the time unit."""
    reply = Reply(421, "4.7.0", f"{limits.myhostname} Error: too many connections from "
                                f"{address}")
    if limits.connection_count > 0 and counts.count > limits.connection_count:
        return Refusal(reply, f"Connection concurrency limit exceeded: {counts.count} from "
                              f"{namaddr} for service {service}")
    if limits.connection_rate > 0 and counts.rate > limits.connection_rate:
        return Refusal(reply, f"Connection rate limit exceeded: {counts.rate} from {namaddr} "
                              f"for service {service}")
    return None


def check_mail(limits: Limits, rate: int, namaddr: str, address: str,
               service: str) -> Refusal | None:
    """At MAIL FROM: smtpd_client_message_rate_limit."""
    if limits.message_rate > 0 and rate > limits.message_rate:
        return Refusal(Reply(450, "4.7.1", f"Error: too much mail from {address}"),
                       f"Message delivery request rate limit exceeded: {rate} from {namaddr} "
                       f"for service {service}")
    return None


def check_rcpt(limits: Limits, rate: int, namaddr: str, address: str,
               service: str) -> Refusal | None:
    """At RCPT TO: smtpd_client_recipient_rate_limit."""
    if limits.recipient_rate > 0 and rate > limits.recipient_rate:
        return Refusal(Reply(450, "4.7.1", f"Error: too many recipients from {address}"),
                       f"Recipient address rate limit exceeded: {rate} from {namaddr} "
                       f"for service {service}")
    return None
