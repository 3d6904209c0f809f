"""What a notification reports: its kind, and one entry per recipient (pure values).

`mailrelay.bounce.notice` re-exports both; they live here so that the modules that write the
parts of a notice can use them without importing the module that assembles it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailrelay.queue.record import Notify


class NoticeKind(enum.Enum):
    """Which notification: Postfix's failure, delay and success templates."""

    FAILURE = "failure"
    DELAY = "delay"
    SUCCESS = "success"

    @property
    def notify(self) -> Notify:
        """The NOTIFY bit that asks for this kind of notification."""
        return {NoticeKind.FAILURE: Notify.FAILURE, NoticeKind.DELAY: Notify.DELAY,
                NoticeKind.SUCCESS: Notify.SUCCESS}[self]


@dataclass(frozen=True, slots=True)
class NoticeEntry:
    """One recipient in the notification."""

    #: The final recipient, internal form.
    address: str
    #: DSN ORCPT as stored (``rfc822;user@x``), or "".
    orcpt: str
    #: The address before rewriting, or "" (``expanded from <...>`` when it differs).
    original: str
    #: Enhanced status code: ``5.1.1``.
    status: str
    #: ``failed``, ``delayed``, ``delivered``, ``relayed`` or ``expanded``.
    action: str
    #: The text Postfix logs in parentheses after ``status=``.
    reason: str
    #: DSN Diagnostic-Code (``smtp; 550 5.1.1 ...``), or "" for ``X-Postfix; <reason>``.
    diagnostic: str = ""
    #: DSN Remote-MTA (``dns; mx.example.com``), or "".
    remote_mta: str = ""
    #: The ``relay=`` of the log line (``host[addr]:port``).  A success notice says
    #: ``delivery via RELAY: REASON``, as Postfix's trace does; "" uses the reason alone.
    relay: str = ""
    #: The recipient's NOTIFY; None looks it up in the envelope (by address and ORCPT).
    notify: Notify | None = None

    def text(self, kind: NoticeKind) -> str:
        """The reason as the notification shows it."""
        if kind is NoticeKind.SUCCESS and self.relay:
            return f"delivery via {self.relay}: {self.reason}"
        return self.reason
