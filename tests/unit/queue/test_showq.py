"""showq's entries and postqueue's two formats, against what Postfix 3.7 printed.

The golden files (tests/golden/queue_commands/, see the README there) hold, for the same queue
at the same moment, Postfix's ``postqueue -j`` and its ``mailq``.  The JSON gives every value
of every message; the formatters must turn those values into both files byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailrelay.queue.record import Envelope, Recipient
from mailrelay.queue.showq import (
    ShowqEntry,
    ShowqRecipient,
    compat_listing,
    json_line,
    listed_recipients,
    make_entry,
    printable,
    reason_line,
)
from mailrelay.queue.statuslog import RecipientStatus, StatusLog

GOLDEN = Path(__file__).parents[2] / "golden" / "queue_commands"
CAPTURES = ["short", "reasons", "long", "maildrop"]

pytestmark = pytest.mark.usefixtures("utc")  # the captures were made in UTC


def entries_from_json(name: str) -> list[ShowqEntry]:
    entries = []
    for line in (GOLDEN / f"postqueue-j-{name}.ref").read_text().splitlines():
        obj = json.loads(line)
        recipients = tuple(ShowqRecipient(r["address"], r.get("delay_reason", ""))
                           for r in obj["recipients"])
        entries.append(ShowqEntry(obj["queue_name"], obj["queue_id"], obj["arrival_time"],
                                  obj["message_size"], obj["forced_expire"], obj["sender"],
                                  recipients))
    return entries


def has_long_ids(entries: list[ShowqEntry]) -> bool:
    return any("z" in e.queue_id for e in entries)


@pytest.mark.parametrize("name", CAPTURES)
def test_the_mailq_text_is_postfixs_byte_for_byte(name: str) -> None:
    entries = entries_from_json(name)
    text = "".join(compat_listing(entries, long_ids=has_long_ids(entries)))
    assert text == (GOLDEN / f"mailq-{name}.ref").read_text()


@pytest.mark.parametrize("name", CAPTURES)
def test_the_json_lines_are_postfixs_byte_for_byte(name: str) -> None:
    text = "".join(json_line(e) for e in entries_from_json(name))
    assert text == (GOLDEN / f"postqueue-j-{name}.ref").read_text()


def test_an_empty_queue_says_so() -> None:
    assert "".join(compat_listing([])) == "Mail queue is empty\n"
    assert "".join(compat_listing([], long_ids=True)) == "Mail queue is empty\n"


def test_one_request_is_singular_and_kbytes_are_rounded_down() -> None:
    entry = ShowqEntry("deferred", "3F2A1C0DE5", 0, 2047, False, "a@x", ())
    assert "".join(compat_listing([entry])).endswith("\n-- 1 Kbytes in 1 Request.\n")


def test_the_marks_are_star_for_active_bang_for_hold_and_hash_for_expired() -> None:
    def first_word(queue: str, expired: bool) -> str:
        entry = ShowqEntry(queue, "3F2A1C0DE5", 0, 1, expired, "a@x", ())
        return "".join(compat_listing([entry])).splitlines()[1].split()[0]

    assert first_word("active", False) == "3F2A1C0DE5*"
    assert first_word("hold", True) == "3F2A1C0DE5!#"
    assert first_word("deferred", True) == "3F2A1C0DE5#"
    assert first_word("incoming", False) == "3F2A1C0DE5"


def test_a_reason_line_ends_in_column_78_unless_it_is_longer() -> None:
    assert reason_line("deferred transport") == " " * 58 + "(deferred transport)\n"
    long = "x" * 100
    assert reason_line(long) == f"({long})\n"
    assert reason_line("é" * 10) == " " * 56 + "(" + "é" * 10 + ")\n"  # bytes, as strlen()


SENDER = "cron@host.example.com"
RECIPIENTS = (Recipient("ops@example.com"), Recipient("dba@example.net", done=True),
              Recipient("x@example.org"), Recipient("y@example.org"))
ENVELOPE = Envelope(SENDER, RECIPIENTS, 1_795_565_837.75)


def test_logged_recipients_come_first_in_log_order_then_the_other_pending_ones() -> None:
    log = StatusLog((RecipientStatus(3, "y@example.org", "4.4.1", "delayed", "refused"),
                     RecipientStatus(0, "ops@example.com", "4.2.0", "delayed", "greylisted")))
    assert listed_recipients(ENVELOPE, log) == [
        ("y@example.org", "refused"), ("ops@example.com", "greylisted"), ("x@example.org", "")]


def test_done_recipients_and_log_entries_of_another_message_are_not_listed() -> None:
    log = StatusLog((RecipientStatus(1, "dba@example.net", "4.4.1", "delayed", "done now"),
                     RecipientStatus(2, "someone@else", "4.4.1", "delayed", "stale"),
                     RecipientStatus(9, "x@example.org", "4.4.1", "delayed", "out of range"),
                     RecipientStatus(0, "ops@example.com", "4.4.1", "delayed", "first"),
                     RecipientStatus(0, "ops@example.com", "4.4.1", "delayed", "twice")))
    assert listed_recipients(ENVELOPE, log) == [
        ("ops@example.com", "first"), ("x@example.org", ""), ("y@example.org", "")]
    assert listed_recipients(ENVELOPE, None) == [
        ("ops@example.com", ""), ("x@example.org", ""), ("y@example.org", "")]


def test_an_entry_has_the_whole_seconds_and_the_null_sender_as_mailer_daemon() -> None:
    entry = make_entry("hold", "3F2A1C0DE5", Envelope("", RECIPIENTS[:1], 5.9), 120, None,
                       forced_expire=True)
    assert entry == ShowqEntry("hold", "3F2A1C0DE5", 5, 120, True, "MAILER-DAEMON",
                               (ShowqRecipient("ops@example.com"),))
    assert make_entry("hold", "X", Envelope("", (), 0), 1, None,
                      empty_address="postmaster").sender == "postmaster"


def test_addresses_are_quoted_and_made_printable_as_postfix_shows_them() -> None:
    envelope = Envelope("john doe@x.example", (Recipient("a\tb@x"), Recipient("\udcff@x"),
                                                Recipient("jörg@x")), 0)
    log = StatusLog((RecipientStatus(2, "jörg@x", "4.0.0", "delayed", "bad\r\nreply"),))
    entry = make_entry("deferred", "3F2A1C0DE5", envelope, 1, log)
    assert entry.sender == '"john doe"@x.example'
    assert [(r.address, r.reason) for r in entry.recipients] == [
        ("jörg@x", "bad??reply"), ('"a?b"@x', ""), ("?@x", "")]
    ascii_only = make_entry("deferred", "3F2A1C0DE5", envelope, 1, log, utf8=False)
    assert ascii_only.recipients[0].address == "j??rg@x"


def test_printable_leaves_ordinary_text_alone_and_replaces_controls() -> None:
    assert printable("host said: 450 4.2.0 try again") == "host said: 450 4.2.0 try again"
    assert printable("a\x00b\x7fc\x1b") == "a?b?c?"


def test_json_escapes_backslashes_and_quotes_and_leaves_utf8_as_is() -> None:
    entry = ShowqEntry("deferred", "3F2A1C0DE5", 7, 9, False, '"a\\b"@x',
                       (ShowqRecipient("jörg@x", 'said "no"'), ShowqRecipient("b@x")))
    assert json_line(entry) == (
        '{"queue_name": "deferred", "queue_id": "3F2A1C0DE5", "arrival_time": 7, '
        '"message_size": 9, "forced_expire": false, "sender": "\\"a\\\\b\\"@x", '
        '"recipients": [{"address": "jörg@x", "delay_reason": "said \\"no\\""}, '
        '{"address": "b@x"}]}\n')
    assert json.loads(json_line(entry))["sender"] == '"a\\b"@x'
