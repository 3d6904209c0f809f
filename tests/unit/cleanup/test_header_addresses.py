"""rewrite_header(): one address header in the local context, as Postfix 3.7's cleanup writes it.

Each row is a header of a capture in tests/golden/cleanup (header-*.postcat, see the README
there) and the line Postfix queued for it; None means the header was kept as written.
"""

from __future__ import annotations

import dataclasses

import pytest

from mailrelay.cleanup.header_addresses import rewrite_header
from mailrelay.cleanup.settings import CleanupSettings

SETTINGS = CleanupSettings(
    myhostname="relay.corp.local", myorigin="corp.local", mydomain="corp.local",
    mail_name="Postfix", append_at_myorigin=True, append_dot_mydomain=False,
    always_add_missing_headers=False,
)

ROWS = [
    (b"From: dave", b"From: dave@corp.local"),
    (b"To: erin, frank@x", b"To: erin@corp.local, frank@x"),
    (b"From: Dave <dave>", b"From: Dave <dave@corp.local>"),
    (b'To: "Erin E." <erin>, Frank Smith <frank@x>,  Gina <gina@h>',
     b'To: "Erin E." <erin@corp.local>, Frank Smith <frank@x>, Gina <gina@h>'),
    (b"From: dave (Dave D)", b"From: dave@corp.local (Dave D)"),
    (b"To: root (Cron Daemon)", b"To: root@corp.local (Cron Daemon)"),
    (b"Cc: (lead) carol ,dan@x (Dan)", b"Cc: carol@corp.local (lead), dan@x (Dan)"),
    (b'From: "john doe"', b'From: "john doe"@corp.local'),
    (b'To: "a b"@x, "c.d", "e\\\\"f"',
     b'To: "a b"@x, c.d@corp.local, "e\\\\"@corp.local, f@corp.local, ""'),
    (b"To: undisclosed:;", None),
    (b"Cc: team: a, b@x;, c", b"Cc: team: a@corp.local, b@x;, c@corp.local"),
    (b"To: alice,\r\n bob@x,\r\n\tcarol", b"To: alice@corp.local, bob@x, carol@corp.local"),
    (b"Cc: dave@x,\r\n  erin@y", None),
    (b"From: <>", None),
    (b"To: <>, a", b"To: <>, a@corp.local"),
    (b"From: dave@x.example", None),
    (b"To:   erin@corp.local   ,  f@y  ", None),
    (b"Cc:x@y", None),
    (b"To: <@a.example,@b.example:user>, <@a.example:u@b.example>",
     b"To: <user@corp.local>, <u@b.example>"),
    (b"From: <@r.example:dave>", b"From: <dave@corp.local>"),
    (b"FROM: dave", b"FROM: dave@corp.local"),
    (b"cC : x", b"cC: x@corp.local"),
    (b"reply-TO:\tr", b"reply-TO: r@corp.local"),
    (b"From:dave", b"From: dave@corp.local"),
    (b"Cc:  ", None),
    (b"To: alpha, bravo, charlie, delta, echo, foxtrot, golf, hotel, india, juliet, kilo, "
     b"lima, mike",
     b"To: alpha@corp.local, bravo@corp.local, charlie@corp.local,\r\n"
     b"\tdelta@corp.local, echo@corp.local, foxtrot@corp.local,\r\n"
     b"\tgolf@corp.local, hotel@corp.local, india@corp.local,\r\n"
     b"\tjuliet@corp.local, kilo@corp.local, lima@corp.local, mike@corp.local"),
    (b"Cc: team: a, b;", b"Cc: team: a@corp.local, b@corp.local;"),
]


@pytest.mark.parametrize(("field", "want"), ROWS)
def test_rewrite_header(field: bytes, want: bytes | None) -> None:
    got = rewrite_header(field + b"\r\n", SETTINGS)
    assert got == (None if want is None else want + b"\r\n")


def test_append_dot_mydomain_and_a_trailing_dot() -> None:
    dotted = dataclasses.replace(SETTINGS, append_dot_mydomain=True)  # with its own memo
    assert rewrite_header(b"To: a@host, b@[1.2.3.4], c@x.y\r\n", dotted) == (
        b"To: a@host.corp.local, b@[1.2.3.4], c@x.y\r\n")
    assert rewrite_header(b"To: a@x.y.\r\n", SETTINGS) == b"To: a@x.y\r\n"


def test_a_needlessly_quoted_address_is_rewritten_to_its_normal_form() -> None:
    assert rewrite_header(b'To: "c.d"@x\r\n', SETTINGS) == b"To: c.d@x\r\n"


def test_bang_paths_and_percent_hacks_in_headers_are_turned_round() -> None:
    got = rewrite_header(b"To: erin%example.org, g!h!i, j%k@relay.corp.local\r\n", SETTINGS)
    assert got == b"To: erin@example.org, h!i@g, j%k@relay.corp.local\r\n"


def test_with_swap_bangpath_and_allow_percent_hack_off_they_are_qualified_instead() -> None:
    off = dataclasses.replace(SETTINGS, swap_bangpath=False, allow_percent_hack=False)
    got = rewrite_header(b"From: host!dave, x%y\r\n", off)
    assert got == b"From: host!dave@corp.local, x%y@corp.local\r\n"


def test_a_rewritten_field_is_remembered_per_settings_and_the_memo_stays_bounded() -> None:
    from mailrelay.cleanup import header_addresses
    settings = dataclasses.replace(SETTINGS)
    field = b"From: someone\r\n"
    first = rewrite_header(field, settings)
    assert settings.memo[field] == first == b"From: someone@corp.local\r\n"
    assert rewrite_header(field, settings) is first
    assert field not in dataclasses.replace(settings).memo  # a copy starts empty
    remote = settings.header_context(local_context=False)
    for n in range(header_addresses.MEMO_FIELDS + 10):
        rewrite_header(b"To: u%d\r\n" % n, settings)
    assert len(settings.memo) <= header_addresses.MEMO_FIELDS + 1
    assert settings.header_context(local_context=False) is remote
