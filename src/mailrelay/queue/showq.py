"""What showq(8) reports about queued mail, and postqueue(1)'s two ways of printing it.

Pure: a message's envelope, size, expiry mark and defer log go in; a `ShowqEntry` comes out,
and from entries the text of ``mailq`` / ``postqueue -p`` (`compat_listing`) or the JSON lines
of ``postqueue -j`` (`json_line`).  Reading the queue is the caller's job
(:mod:`mailrelay.cli.postqueue`).

What Postfix 3.7 prints, as captured in tests/golden/queue_commands/ (see the README there):

* The queues are listed in the order maildrop, active, incoming, deferred, hold (`QUEUE_ORDER`);
  within a queue, in directory order.
* Recipients named in the defer log come first, in the log's order, each with its reason; then
  the pending recipients the log does not name, without one.  Done recipients are not listed.
* Addresses are in external form (a local part that needs it is quoted: ``"a b"@x``), the null
  sender is shown as ``empty_address_recipient`` (``MAILER-DAEMON``), and what cannot be shown
  becomes ``?`` (Postfix's printable(): control characters, and with ``smtputf8_enable = no``
  every non-ASCII byte).
* Text: a heading line; per message the queue ID with ``*`` (active) or ``!`` (hold), then
  ``#`` when it is force-expired, the size, the arrival time (asctime, local time) and the
  sender; a ``(reason)`` line, right-aligned to end in column 78 and never wrapped or cut,
  whenever a recipient's reason differs from the previous recipient's (``(reason
  unavailable)`` after one that had a reason); each recipient indented under the sender; a
  blank line between messages; ``-- N Kbytes in M Requests.`` (N rounded down) or ``Mail queue
  is empty``.  Long queue IDs (``enable_long_queue_ids``) have wider columns.
* JSON: one object per message and line, keys in a fixed order, ``delay_reason`` only where
  there is one, strings escaped as Postfix's json_quote() does (only ``\\`` and ``"``: the
  rest is already printable).

The sizes are mailrelay's: the content as stored, with CRLF line ends, where Postfix counts
LF; a message of N lines therefore shows N bytes more than under Postfix.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mailrelay.cleanup.tok822 import quote_822_local
from mailrelay.queue.record import Envelope
from mailrelay.queue.statuslog import StatusLog

#: The order in which showq lists the queues.
QUEUE_ORDER = ("maildrop", "active", "incoming", "deferred", "hold")

_ACTIVE_MARK = {"active": "*", "hold": "!"}
_EXPIRED_MARK = "#"
_REASON_END = 78  # the column that the ")" of a reason line ends in
_NO_REASON = "reason unavailable"


@dataclass(frozen=True, slots=True)
class ShowqRecipient:
    address: str  # external, printable form
    reason: str = ""  # why it is deferred; "" when the defer log does not say


@dataclass(frozen=True, slots=True)
class ShowqEntry:
    """One message as showq reports it; every text already in printable external form."""

    queue_name: str
    queue_id: str
    arrival_time: int  # seconds since the epoch
    message_size: int
    forced_expire: bool
    sender: str
    recipients: tuple[ShowqRecipient, ...]


@dataclass(frozen=True, slots=True)
class Columns:
    """printf widths of the text listing: queue ID, size, arrival time."""

    queue_id: int
    size: int
    arrival: int
    heading: tuple[str, str, str, str]


SHORT_COLUMNS = Columns(11, 7, 20, ("-Queue ID-", "--Size--", "----Arrival Time----",
                                    "-Sender/Recipient-------"))
LONG_COLUMNS = Columns(17, 8, 19, ("----Queue ID-----", "--Size--", "---Arrival Time----",
                                   "--Sender/Recipient------"))


def make_entry(
    queue_name: str,
    queue_id: str,
    envelope: Envelope,
    size: int,
    log: StatusLog | None,
    *,
    forced_expire: bool = False,
    empty_address: str = "MAILER-DAEMON",
    utf8: bool = True,
) -> ShowqEntry:
    """The report on one queued message; *log* is its defer log, if it has one."""
    sender = external(envelope.sender or empty_address, utf8)
    recipients = tuple(
        ShowqRecipient(external(address, utf8), printable(reason, utf8))
        for address, reason in listed_recipients(envelope, log)
    )
    return ShowqEntry(printable(queue_name, utf8), printable(queue_id, utf8),
                      int(envelope.arrival_time), size, forced_expire, sender, recipients)


def listed_recipients(envelope: Envelope, log: StatusLog | None) -> list[tuple[str, str]]:
    """(address, reason) in showq's order: the defer log's first, then the rest pending.

    A log entry counts only for a pending recipient whose index and address both match, so a
    log left behind by an earlier message under a reused short ID adds nothing.
    """
    recipients = envelope.recipients
    listed: list[tuple[str, str]] = []
    seen: set[int] = set()
    for entry in log.entries if log else ():
        index = entry.recipient
        if index in seen or index >= len(recipients):
            continue
        recipient = recipients[index]
        if recipient.done or recipient.address != entry.address:
            continue
        seen.add(index)
        listed.append((recipient.address, entry.reason))
    listed += [(r.address, "") for i, r in enumerate(recipients) if not r.done and i not in seen]
    return listed


def external(address: str, utf8: bool = True) -> str:
    """An address as showq shows it: quoted where needed, then printable."""
    return printable(quote_822_local(address), utf8)


def printable(text: str, utf8: bool = True) -> str:
    """Postfix's printable(): ``?`` for each character (or byte) it would not show."""
    if text.isascii() and text.isprintable():
        return text  # the common case, in one pass
    out = []
    for char in text:
        code = ord(char)
        if code < 0x80:
            out.append(char if 0x20 <= code < 0x7F else "?")
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append("?")
        elif utf8:
            out.append(char)
        else:
            out.append("?" * len(char.encode("utf-8", "surrogatepass")))
    return "".join(out)


# ---------------------------------------------------------------- mailq's text


def compat_listing(entries: Iterable[ShowqEntry], *, long_ids: bool = False) -> Iterator[str]:
    """The text of ``mailq``, a piece per message (written as the queue is read)."""
    columns = LONG_COLUMNS if long_ids else SHORT_COLUMNS
    count = total = 0
    for entry in entries:
        yield "\n" if count else _line(columns, *columns.heading)
        yield entry_text(entry, columns)
        count += 1
        total += entry.message_size
    if count == 0:
        yield "Mail queue is empty\n"
    else:
        yield f"\n-- {total // 1024} Kbytes in {count} Request{'' if count == 1 else 's'}.\n"


def entry_text(entry: ShowqEntry, columns: Columns = SHORT_COLUMNS) -> str:
    """One message: the sender line, then reason lines and recipients."""
    status = entry.queue_id + _ACTIVE_MARK.get(entry.queue_name, "")
    if entry.forced_expire:
        status += _EXPIRED_MARK
    arrival = time.asctime(time.localtime(entry.arrival_time))[: columns.arrival]
    lines = [_line(columns, status, str(entry.message_size), arrival, entry.sender,
                   right_aligned_time=True)]
    previous = ""
    for recipient in entry.recipients:
        if recipient.reason != previous:
            previous = recipient.reason
            lines.append(reason_line(recipient.reason or _NO_REASON))
        lines.append(_line(columns, "", "", "", recipient.address))
    return "".join(lines)


def reason_line(reason: str) -> str:
    """``(reason)`` ending in column 78; a longer reason starts in column 1 and runs on."""
    padding = max(0, _REASON_END - 2 - len(reason.encode("utf-8", "surrogateescape")))
    return f"{'':{padding}}({reason})\n"


def _line(columns: Columns, queue_id: str, size: str, arrival: str, address: str, *,
          right_aligned_time: bool = False) -> str:
    # printf's "%-11s %7s %-20s %s" for headings and recipients, "%20.20s" for the sender
    # line's time: fields that are too long push the rest to the right, as in Postfix.
    align = ">" if right_aligned_time else "<"
    when = f"{arrival:{align}{columns.arrival}}"
    return f"{queue_id:<{columns.queue_id}} {size:>{columns.size}} {when} {address}\n"


# ---------------------------------------------------------------- postqueue -j


def json_line(entry: ShowqEntry) -> str:
    """One message as ``postqueue -j`` prints it, newline included."""
    recipients = ", ".join(
        f'{{"address": {_quote(r.address)}'
        + (f', "delay_reason": {_quote(r.reason)}' if r.reason else "")
        + "}"
        for r in entry.recipients
    )
    return (
        f'{{"queue_name": {_quote(entry.queue_name)}, "queue_id": {_quote(entry.queue_id)}, '
        f'"arrival_time": {entry.arrival_time}, "message_size": {entry.message_size}, '
        f'"forced_expire": {"true" if entry.forced_expire else "false"}, '
        f'"sender": {_quote(entry.sender)}, "recipients": [{recipients}]}}\n'
    )


def _quote(text: str) -> str:
    """json_quote() of printable text: only the backslash and the double quote need it."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
