"""cleanup() reproduces, byte for byte, the queue files Postfix 3.7 wrote for the same input.

The fixtures (tests/golden/cleanup/*.postcat, see the README there) are postcat dumps; the
inputs below are what the capture sent.  Time zone is fixed to UTC, as on the capture machine.
"""

from __future__ import annotations

import calendar
import re
import time
from pathlib import Path

import pytest

from mailrelay.cleanup.headers import Arrival, pickup_received_header, received_header
from mailrelay.cleanup.message import cleanup, from_header, split_headers
from mailrelay.cleanup.settings import CleanupSettings

GOLDEN = Path(__file__).parents[2] / "golden" / "cleanup"

SETTINGS = CleanupSettings(
    myhostname="relay.corp.local", myorigin="corp.local", mydomain="corp.local",
    mail_name="Postfix", append_at_myorigin=True, append_dot_mydomain=False,
    always_add_missing_headers=False,
)

LOCAL = ("localhost", "127.0.0.1", True)
REMOTE = ("unknown", "127.0.0.2", False)

CASES = [
    ("esmtp-one-recipient", "client.example", "ESMTP", LOCAL, "alice@srv1.corp.local",
     ["bob@example.com"], b"Subject: one\r\n\r\nbody\r\n"),
    ("esmtp-bare-addresses-two-recipients", "client.example", "ESMTP", LOCAL, "alice",
     ["bob@example.com", "carol"], b"Subject: bare\r\n\r\nbody\r\n"),
    ("esmtp-null-sender-complete-headers", "client.example", "ESMTP", LOCAL, "",
     ["bob@example.com"],
     b"From: x@y\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <a@b>\r\n"
     b"Subject: full\r\n\r\nbody\r\n"),
    ("helo-one-recipient", "client.example", "SMTP", LOCAL, "alice@srv1.corp.local",
     ["bob@example.com"], b"Subject: helo\r\n\r\nbody\r\n"),
    ("remote-client-no-headers", "remote.example", "ESMTP", REMOTE, "alice@host",
     ["bob@example.com"], b"Subject: remote noheaders\r\n\r\nbody\r\n"),
    ("remote-client-bare-addresses", "remote.example", "ESMTP", REMOTE, "alice",
     ["bob@example.com", "carol"],
     b"From: dave\r\nTo: erin, frank@x\r\nSubject: remote bare\r\n\r\nbody\r\n"),
    ("local-null-sender-no-from", "local.example", "ESMTP", LOCAL, "", ["bob@example.com"],
     b"Subject: null sender\r\n\r\nbody\r\n"),
    ("local-body-without-headers", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"], b"just a body line\r\nsecond\r\n"),
    ("local-headers-without-body", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"], b"Subject: headers only\r\nX-A: 1\r\n"),
    ("local-non-header-line-ends-headers", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"], b"Subject: x\r\nbad header line\r\nX-B: 2\r\n\r\nbody\r\n"),
    ("remote-body-without-headers", "remote.example", "ESMTP", REMOTE, "alice@x.example",
     ["bob@example.com"], b"just a body line\r\n"),
    ("remote-non-header-line-ends-headers", "remote.example", "ESMTP", REMOTE,
     "alice@x.example", ["a@example.com", "b@example.com"], b"Subject: x\r\nbad header line\r\n"),
    ("local-client-bare-header-addresses", "local.example", "ESMTP", LOCAL, "alice",
     ["bob@example.com", "carol"],
     b"From: dave\r\nTo: erin, frank@x\r\nSubject: local bare\r\n\r\nbody\r\n"),
    ("header-display-names", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'From: Dave <dave>\r\nTo: "Erin E." <erin>, Frank Smith <frank@x>,  Gina <gina@h>\r\n'
     b'Subject: display names\r\n\r\nbody\r\n'),
    ("header-comments", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'From: dave (Dave D)\r\nTo: root (Cron Daemon)\r\nCc: (lead) carol ,dan@x (Dan)\r\n'
     b'Subject: comments\r\n\r\nbody\r\n'),
    ("header-quoted-local-parts", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'From: "john doe"\r\nTo: "a b"@x, "c.d", "e\\\\"f"\r\nSubject: quoted\r\n\r\nbody\r\n'),
    ("header-groups", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'To: undisclosed:;\r\nCc: team: a, b@x;, c\r\nSubject: groups\r\n\r\nbody\r\n'),
    ("header-folded", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'To: alice,\r\n bob@x,\r\n\tcarol\r\nCc: dave@x,\r\n  erin@y\r\nSubject: folded\r\n'
     b'\r\nbody\r\n'),
    ("header-null-address", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'From: <>\r\nTo: <>, a\r\nCc: <>\r\nSubject: null\r\n\r\nbody\r\n'),
    ("header-already-qualified", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'From: dave@x.example\r\nTo:   erin@corp.local   ,  f@y  \r\nCc:x@y\r\n'
     b'Subject: qualified\r\n\r\nbody\r\n'),
    ("header-route-address", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'To: <@a.example,@b.example:user>, <@a.example:u@b.example>\r\n'
     b'From: <@r.example:dave>\r\nSubject: route\r\n\r\nbody\r\n'),
    ("header-all-address-fields", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'From: f\r\nSender: s\r\nReply-To: r\r\nErrors-To: e\r\nReturn-Receipt-To: rr\r\n'
     b'Disposition-Notification-To: dn\r\nMail-Followup-To: mf\r\nApparently-To: at\r\n'
     b'To: t1\r\nTo: t2\r\nCc: c\r\nDelivered-To: dt\r\nX-Original-To: xo\r\nX-Foo: xf\r\n'
     b'Subject: s\r\nIn-Reply-To: irt\r\nReferences: ref\r\n\r\nbody\r\n'),
    ("header-resent", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'Resent-From: rf\r\nResent-To: rt\r\nResent-Cc: rc\r\nResent-Sender: rs\r\n'
     b'Resent-Reply-To: rr\r\nFrom: f@x\r\nSubject: resent\r\n\r\nbody\r\n'),
    ("header-mixed-case-names", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'FROM: dave\r\nto: erin\r\ncC : x\r\nreply-TO:\tr\r\nSubject: case\r\n\r\nbody\r\n'),
    ("header-long-list", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'To: alpha, bravo, charlie, delta, echo, foxtrot, golf, hotel, india, juliet, kilo, '
     b'lima, mike\r\n'
     b'Subject: long\r\n\r\nbody\r\n'),
    ("header-no-space-after-colon", "local.example", "ESMTP", LOCAL, "alice@x.example",
     ["bob@example.com"],
     b'From:dave\r\nTo:erin,frank\r\nCc:  \r\nSubject: nospace\r\n\r\nbody\r\n'),
]


pytestmark = pytest.mark.usefixtures("utc")  # tests/conftest.py


def postcat(name: str) -> tuple[str, str, list[str], bytes]:
    """(queue id, sender, recipients, content with CRLF) from a postcat dump."""
    text = (GOLDEN / f"{name}.postcat").read_text()
    queue_id = re.search(r"MESSAGE CONTENTS \S+/(\w+) \*\*\*", text).group(1)
    sender = re.search(r"^sender: (.*)$", text, re.M).group(1)
    recipients = re.findall(r"^recipient: (.*)$", text, re.M)
    contents = re.search(r"\*\*\* MESSAGE CONTENTS [^\n]*\n(.*?)\*\*\* HEADER EXTRACTED", text,
                         re.S).group(1)
    return queue_id, sender, recipients, contents.replace("\n", "\r\n").encode()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cleanup_writes_what_postfix_wrote(case):
    name, helo, protocol, (client_name, client_address, local), sender, rcpts, content = case
    queue_id, want_sender, want_rcpts, want = postcat(name)
    stamp = re.search(rb"\t[^\r]*?(\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d) \+0000", want)
    when = calendar.timegm(time.strptime(stamp.group(1).decode(), "%a, %d %b %Y %H:%M:%S"))
    arrival = Arrival(queue_id, when, helo, client_name, client_address, protocol, tuple(rcpts))
    cleaned = cleanup(content, sender, tuple(rcpts), arrival, received_header(arrival, SETTINGS),
                      SETTINGS, local_context=local)
    assert cleaned.content == want
    assert cleaned.sender == want_sender
    assert list(cleaned.recipients) == want_rcpts


def test_the_logged_message_id_is_the_written_or_added_one_or_empty():
    when = calendar.timegm((2026, 11, 24, 21, 59, 2, 0, 0, 0))
    arrival = Arrival("1818920C673", when, "h", "localhost", "127.0.0.1", "ESMTP",
                      ("b@x",))
    received = received_header(arrival, SETTINGS)
    added = cleanup(b"Subject: s\r\n\r\nb\r\n", "a@x", ("b@x",), arrival, received, SETTINGS,
                    local_context=True)
    assert added.message_id == "<20261124215902.1818920C673@relay.corp.local>"
    kept = cleanup(b"Message-ID: <a@b>\r\n\r\nb\r\n", "a@x", ("b@x",), arrival, received,
                   SETTINGS, local_context=False)
    assert kept.message_id == "<a@b>"
    none = cleanup(b"Subject: s\r\n\r\nb\r\n", "a@x", ("b@x",), arrival, received, SETTINGS,
                   local_context=False)
    assert none.message_id == ""


def test_a_one_digit_day_is_padded_with_a_space_as_mail_date_does():
    arrival = Arrival("ID", calendar.timegm((2026, 12, 1, 8, 5, 3, 0, 0, 0)), "h", "n", "1.2.3.4",
                      "ESMTP", ("a@b", "c@d"))
    want = b"\tTue,  1 Dec 2026 08:05:03 +0000 (UTC)\r\n"
    assert received_header(arrival, SETTINGS).endswith(want)


def test_folded_headers_stay_in_the_header_section():
    section = split_headers(b"Subject: a\r\n b\r\nMessage-ID:\r\n <x@y>\r\n\r\nbody\r\n")
    assert section.names == {"subject", "message-id"}
    assert section.message_id == "<x@y>"
    assert section.rest == b"\r\nbody\r\n"


def test_local_submission_gets_pickups_received_and_a_from_with_the_full_name():
    queue_id, _, _, want = postcat("sendmail-t-i-F")
    when = calendar.timegm((2026, 11, 24, 22, 7, 14, 0, 0, 0))
    arrival = Arrival(queue_id, when, None, "localhost", "127.0.0.1", "local",
                      ("bob@example.com",))
    content = b"To: bob@example.com\r\nSubject: via sendmail\r\n\r\nhello\r\n.\r\nafter dot\r\n"
    cleaned = cleanup(content, "root", ("bob@example.com",), arrival,
                      pickup_received_header(arrival, "0", SETTINGS), SETTINGS,
                      local_context=True, full_name="Cron Daemon")
    assert cleaned.content == want
    assert cleaned.sender == "root@corp.local"


def test_a_full_name_with_specials_is_quoted():
    assert from_header("jqp@x", "John Q. Public") == 'From: "John Q. Public" <jqp@x>'
    assert from_header("a@x", 'say "hi"') == 'From: "say \\"hi\\"" <a@x>'
    assert from_header("", "ignored") == "From: MAILER-DAEMON"


SENDMAIL_CASES = [
    # sendmail -t -i (root, GECOS "root"): the header addresses are qualified, as for a
    # local SMTP client; the -t recipients are the internal forms.
    ("header-sendmail-t", "root", "root", ["erin", "frank@x", "a", "b"],
     b"From: Dave <dave>\r\nTo: erin, frank@x (Frank)\r\nCc: team: a, b;\r\n"
     b"Subject: via sendmail hdr\r\n\r\nhello\r\n"),
    # sendmail -i -F "Cron Daemon" bob@example.com
    ("header-sendmail-full-name", "root", "Cron Daemon", ["bob@example.com"],
     b"To: erin\r\nSubject: via sendmail rcpt\r\n\r\nhello\r\n"),
]


@pytest.mark.parametrize("case", SENDMAIL_CASES, ids=[c[0] for c in SENDMAIL_CASES])
def test_local_submission_header_addresses_are_qualified(case):
    name, sender, full_name, rcpts, content = case
    queue_id, want_sender, want_rcpts, want = postcat(name)
    stamp = re.search(rb"\t[^\r]*?(\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d) \+0000", want)
    when = calendar.timegm(time.strptime(stamp.group(1).decode(), "%a, %d %b %Y %H:%M:%S"))
    arrival = Arrival(queue_id, when, None, "localhost", "127.0.0.1", "local", tuple(rcpts))
    cleaned = cleanup(content, sender, tuple(rcpts), arrival,
                      pickup_received_header(arrival, "0", SETTINGS), SETTINGS,
                      local_context=True, full_name=full_name)
    assert cleaned.content == want
    assert cleaned.sender == want_sender
    assert list(cleaned.recipients) == want_rcpts


def test_a_resent_message_gets_resent_headers_and_logs_no_message_id():
    arrival = Arrival("ID", 0, "h", "localhost", "127.0.0.1", "ESMTP", ("b@x",))
    cleaned = cleanup(b"Resent-To: r@x\r\n\r\nb\r\n", "a@x", ("b@x",), arrival, b"", SETTINGS,
                      local_context=True)
    assert cleaned.content.startswith(b"Resent-To: r@x\r\nResent-Message-Id: <")
    assert b"\r\nResent-From: a@x\r\n\r\n" in cleaned.content
    assert cleaned.message_id == ""


def test_a_remote_client_keeps_its_header_addresses_as_written():
    arrival = Arrival("ID", 0, "h", "unknown", "127.0.0.2", "ESMTP", ("b@x",))
    content = b"From: dave\r\nTo: erin,\r\n frank\r\n\r\nb\r\n"
    cleaned = cleanup(content, "a@x", ("b@x",), arrival, b"", SETTINGS, local_context=False)
    assert cleaned.content == content
