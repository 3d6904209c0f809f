"""The ``error``, ``retry`` and ``discard`` transports: Postfix's error(8) and discard(8).

SECURITY: touches nothing: no network, no files.  The verdict is the nexthop text that
routing gave (``transport_maps``: ``example.com error:5.1.1 no such domain``).

* ``error:text`` bounces every recipient; ``retry:text`` (the master.cf service named
  ``retry``) defers them.  The text may start with an enhanced status code; a code of the
  wrong class (``error:4.7.1 ...``, ``retry:5.1.1 ...``) is dropped with Postfix's warning
  (``bounce_append: ignoring dsn code "4.7.1"``) and the default ``5.0.0`` / ``4.0.0`` used.
  An empty ``error:`` reads ``Address is undeliverable`` (routing supplies that text).
* ``discard:text`` counts every recipient as delivered (``status=sent (text)``,
  ``relay=none``); without a text the nexthop is the recipient domain, which Postfix logs.
  A non-2.x.x code in front of the text is dropped (``sent: ignoring dsn code "5.1.1"``).

Texts and codes were checked against Postfix 3.7 (tests/golden/local/README.md).
"""

from __future__ import annotations

from collections.abc import Callable

from mailrelay.config.model import Config
from mailrelay.qmgr.request import DeliveryRequest, RecipientResult, Status

Log = Callable[[str], None]
#: The master.cf service whose error(8) defers instead of bouncing.
RETRY_SERVICE = "retry"


def dsn_valid(text: str) -> int:
    """The length of the RFC 3463 code *text* starts with (``5.1.1``), or 0."""
    if len(text) < 2 or text[0] not in "245" or text[1] != ".":
        return 0
    i = 2
    for limit, end_ok in ((3, "."), (3, "")):
        start = i
        while i < len(text) and text[i].isascii() and text[i].isdigit():
            i += 1
        if not 1 <= i - start <= limit:
            return 0
        if end_ok:
            if i >= len(text) or text[i] != end_ok:
                return 0
            i += 1
        elif i < len(text) and not text[i].isspace():
            return 0
    return i


def split_dsn(text: str, default: str) -> tuple[str, str]:
    """Postfix's dsn_split(): (the leading enhanced status code or *default*, the rest)."""
    text = text.lstrip()
    length = dsn_valid(text)
    if length:
        return text[:length], text[length:].lstrip()
    return default, text


def _outcome(text: str, status: Status, log: Log) -> tuple[str, str]:
    """The code and text for *status*; a code of the wrong class is replaced, with a warning."""
    first, default, caller = {
        Status.SENT: ("2", "2.0.0", "sent"),
        Status.DEFERRED: ("4", "4.0.0", "defer_append"),
        Status.BOUNCED: ("5", "5.0.0", "bounce_append"),
    }[status]
    dsn, reason = split_dsn(text, default)
    if not dsn.startswith(first):
        log(f'warning: {caller}: ignoring dsn code "{dsn}"')
        dsn = default
    return dsn, reason


def _results(request: DeliveryRequest, status: Status, log: Log) -> list[RecipientResult]:
    results = []
    for recipient in request.recipients:
        # Postfix warns once per recipient, as each goes through bounce_append/sent.
        dsn, reason = _outcome(request.nexthop, status, log)
        results.append(RecipientResult(recipient.index, status, dsn, reason, relay="none"))
    return results


class ErrorAgent:
    """error(8): bounce (or, as the ``retry`` service, defer) with the nexthop's text."""

    def __init__(self, log: Log) -> None:
        self._log = log

    @classmethod
    def from_config(cls, config: Config, log: Log) -> ErrorAgent:
        return cls(log)

    async def deliver(self, request: DeliveryRequest, content: bytes) -> list[RecipientResult]:
        status = Status.DEFERRED if request.transport == RETRY_SERVICE else Status.BOUNCED
        return _results(request, status, self._log)

    async def close(self) -> None:
        return None


class DiscardAgent:
    """discard(8): every recipient is delivered -- to nowhere -- with the nexthop as reason."""

    def __init__(self, log: Log) -> None:
        self._log = log

    @classmethod
    def from_config(cls, config: Config, log: Log) -> DiscardAgent:
        return cls(log)

    async def deliver(self, request: DeliveryRequest, content: bytes) -> list[RecipientResult]:
        return _results(request, Status.SENT, self._log)

    async def close(self) -> None:
        return None
