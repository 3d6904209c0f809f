"""Header-section facts and the headers cleanup writes (Received:, Message-Id:, Date:, From:).

Formats are Postfix 3.7's, captured in tests/golden/cleanup: the date is mail_date()'s
``%a, %e %b %Y %H:%M:%S %z (%Z)`` (a one-digit day is padded with a space), the Message-Id
is ``<YYYYMMDDHHMMSS.QUEUEID@myhostname>``, and Received: names the recipient only when
there is exactly one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.mail.date import mail_date

#: RFC 5322 field name (printable ASCII but ':'), optional white space, then ':'.
HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")


@dataclass(frozen=True, slots=True)
class Arrival:
    """What smtpd knows about how a message arrived, for its Received: header."""

    queue_id: str
    when: float
    helo: str | None
    client_name: str
    #: The address as Received: shows it: ``127.0.0.1`` or ``IPv6:::1``.
    client_address: str
    #: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA (or "local" for sendmail's pickup).
    protocol: str
    recipients: tuple[str, ...]
    #: The "(using TLS...)" comment lines, already folded, when smtpd_tls_received_header.
    tls_comment: tuple[str, ...] = ()


def received_header(arrival: Arrival, settings: CleanupSettings) -> bytes:
    date = mail_date(arrival.when)
    lines = [
        f"Received: from {arrival.helo or arrival.client_name} "
        f"({arrival.client_name} [{arrival.client_address}])"
    ]
    lines += [f"\t{line}" for line in arrival.tls_comment]
    by = (f"\tby {settings.myhostname} ({settings.mail_name}) with {arrival.protocol} "
          f"id {arrival.queue_id}")
    if len(arrival.recipients) == 1:
        lines += [by, f"\tfor <{arrival.recipients[0]}>; {date}"]
    else:
        lines += [by + ";", f"\t{date}"]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")


def pickup_received_header(arrival: Arrival, user: str, settings: CleanupSettings) -> bytes:
    """The Received: that pickup(8) writes for mail from sendmail(1)."""
    date = mail_date(arrival.when)
    return (f"Received: by {settings.myhostname} ({settings.mail_name}, from userid {user})\r\n"
            f"\tid {arrival.queue_id}; {date}\r\n").encode("utf-8", "surrogateescape")


def message_id(queue_id: str, when: float, settings: CleanupSettings) -> str:
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(when))
    return f"<{stamp}.{queue_id}@{settings.myhostname}>"
