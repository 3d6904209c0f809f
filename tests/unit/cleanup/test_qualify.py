"""qualify(): trivial-rewrite's local context on envelope addresses (bang path, percent hack,
@myorigin, .mydomain), as captured in tests/golden/cleanup-rewrite-context."""

from __future__ import annotations

import dataclasses

import pytest

from mailrelay.cleanup.qualify import qualify, route_operators
from mailrelay.cleanup.settings import CleanupSettings

SETTINGS = CleanupSettings(
    myhostname="relay.corp.local", myorigin="corp.local", mydomain="corp.local",
    mail_name="Postfix", append_at_myorigin=True, append_dot_mydomain=False,
    always_add_missing_headers=False,
)
OFF = dataclasses.replace(SETTINGS, swap_bangpath=False, allow_percent_hack=False)


@pytest.mark.parametrize(("address", "want"), [
    ("site!alice", "alice@site"),
    ("a!b!c", "b!c@a"),  # the first ! is the site
    ("bob%example.com", "bob@example.com"),
    ("d%e%f", "d%e@f"),  # the last % is the domain
    ("a!b%c", "b%c@a"),  # a bang path wins over the percent hack
    ("carol%x.org@localhost", "carol%x.org@localhost"),  # opened up when resolved, not here
    ("x!y@host", "x!y@host"),
    ("alice", "alice@corp.local"),
    ("", ""),
])
def test_qualify_swaps_bang_paths_and_percent_hacks_by_default(address: str, want: str) -> None:
    assert qualify(address, SETTINGS) == want


def test_with_both_off_the_operators_stay_in_the_local_part() -> None:
    assert qualify("site!alice", OFF) == "site!alice@corp.local"
    assert qualify("bob%example.com", OFF) == "bob%example.com@corp.local"


def test_a_local_part_that_must_be_quoted_is_not_opened_up() -> None:
    assert route_operators("a b!c", SETTINGS) == "a b!c"
    assert route_operators("a b%c", SETTINGS) == "a b%c"


def test_only_the_percent_hack_can_be_on() -> None:
    percent = dataclasses.replace(SETTINGS, swap_bangpath=False)
    assert qualify("a!b%c", percent) == "a!b@c"
