"""header_checks(5) and body_checks(5): the table lookup and its action, for one line.

Theory of operation.  Each logical header (folded lines joined with a newline, as Postfix's
header buffer holds them, so that ``.`` in a regexp sees the whole field) or each body line is
looked up in the table; the value's first word is the action, the rest its text.  What the
action does to the message is the caller's business (cleanup on the way in, the smtp client
on the way out, which allows only the actions that do not change the delivery).  This module
parses the action, and writes the log line Postfix writes for it::

    QUEUEID: replace: header From: x <a@b>: From: y <c@d>              (smtp client)
    QUEUEID: warning: header Subject: x from host[ip]; from=<a> to=<b> proto=ESMTP helo=<h>: t

The header text in the log is cut at 200 characters in cleanup, as Postfix's ``%.200s``,
and at 60 in the smtp client (``%.60s``, captured in tests/golden/mime_checks), and each
control character (the newline and tab of a folded header) is shown as ``?``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailrelay.cleanup.address_map import CleanupDefer
from mailrelay.cleanup.mime import MIME_FIELDS, is_mime
from mailrelay.maps.base import MapError, MapLookupError
from mailrelay.maps.lookup import Maps

if TYPE_CHECKING:  # the registry imports lmdb: sendmail imports cleanup without it
    from mailrelay.maps.registry import MapCache

__all__ = ["MIME_FIELDS", "OUTPUT_ACTIONS", "Action", "ContentChecks", "Verdict", "Where",
           "is_mime", "log_line", "parse_action"]


class Action(enum.Enum):
    REJECT = "reject"
    WARN = "warning"
    IGNORE = "ignore"
    #: IGNORE, logged (Postfix 3.2 and later).
    STRIP = "strip"
    REPLACE = "replace"
    PREPEND = "prepend"
    HOLD = "hold"
    DISCARD = "discard"
    DUNNO = "dunno"
    OK = "ok"
    INFO = "info"
    REDIRECT = "redirect"
    BCC = "bcc"
    FILTER = "filter"
    #: Log, and inspect nothing more of this message (Postfix 3.2 and later; cleanup only).
    PASS = "pass"
    #: Not an action Postfix knows: logged, and the line is kept.
    UNKNOWN = "unknown"


#: What the smtp client allows (smtp_header_checks, smtp_body_checks): nothing that changes
#: the delivery.
OUTPUT_ACTIONS = frozenset({Action.WARN, Action.IGNORE, Action.STRIP, Action.REPLACE,
                            Action.PREPEND,
                           Action.DUNNO, Action.OK, Action.INFO})


class Where(enum.Enum):
    """The word of the log line: Postfix writes "header" for a field of any header (primary,
    MIME part, attached message) and "body" for a body line (captured:
    tests/golden/mime_checks)."""

    HEADER = "header"
    BODY = "body"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    #: The action's text (``REPLACE`` header, ``REJECT`` reply, ``REDIRECT`` address...).
    text: str
    #: The action word as written (for the "unknown action" warning).
    word: str = ""


def parse_action(value: str) -> Verdict:
    """A table value (``REPLACE From: x``) as an action and its text."""
    word, _, text = value.strip().partition(" ")
    text = text.strip(" \t")
    return Verdict(Action.__members__.get(word.upper(), Action.UNKNOWN), text, word)


def log_line(queue_id: str, verdict: Verdict, where: Where, line: str,
             context: str = "", width: int = 200) -> str:
    """Postfix's log line for an action (the smtp client passes no *context*; cleanup gives
    `` from host[ip]; from=<...> to=<...> proto=ESMTP helo=<...>``)."""
    shown = "".join(c if c.isprintable() else "?" for c in line[:width])
    tail = f": {verdict.text}" if verdict.text else ""
    return f"{queue_id}: {verdict.action.value}: {where.value} {shown}{context}{tail}"


@dataclass(frozen=True, slots=True)
class ContentChecks:
    """One ``*_checks`` parameter: its tables, opened per message."""

    title: str
    spec: str
    cache: MapCache

    def tables(self) -> Maps:
        try:
            return self.cache.maps(self.spec, self.title)
        except MapError as error:
            raise CleanupDefer.lookup_problem(self.title, error) from error

    def check(self, maps: Maps, line: str) -> Verdict | None:
        """The verdict for one logical line, or None when no pattern matches."""
        try:
            value = maps.find(line)
        except MapLookupError as error:
            raise CleanupDefer.lookup_problem(self.title) from error
        return None if value is None else parse_action(value)
