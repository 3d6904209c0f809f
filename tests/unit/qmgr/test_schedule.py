"""qmgr's scheduling arithmetic: retry times, lifetimes, warnings, destination windows."""

from __future__ import annotations

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.qmgr.schedule import (
    QmgrSettings,
    TransportLimits,
    Window,
    batches,
    pretty_delay,
    transport_value,
)


def config(text: str = "") -> Config:
    return Config(parse_main_cf(text, "main.cf"), "/etc/postfix")


def test_defaults_are_postfixs() -> None:
    s = QmgrSettings.from_config(config())
    assert (s.queue_run_delay, s.minimal_backoff_time, s.maximal_backoff_time) == (300, 300, 4000)
    assert s.maximal_queue_lifetime == 5 * 86400 and s.bounce_queue_lifetime == 5 * 86400
    assert s.delay_warning_time == 0 and s.message_active_limit == 20000


def test_the_retry_delay_is_the_age_clipped_between_the_backoff_times() -> None:
    s = QmgrSettings.from_config(config())
    assert s.next_attempt(1000.0, 1001.0) == 1001.0 + 300  # young: the minimum
    assert s.next_attempt(1000.0, 1000.0 + 1000) == 2000.0 + 1000  # the age: doubling
    assert s.next_attempt(0.0, 100000.0) == 100000.0 + 4000  # old: the maximum


def test_a_message_expires_after_its_lifetime_and_a_bounce_after_bounce_queue_lifetime() -> None:
    s = QmgrSettings.from_config(config("maximal_queue_lifetime = 2d\nbounce_queue_lifetime = 1d"))
    day = 86400.0
    assert not s.expired(0.0, 1.5 * day, "sender@example.com")
    assert s.expired(0.0, 2 * day, "sender@example.com")
    assert s.expired(0.0, 1.5 * day, "")  # a notification gives up sooner


def test_a_delay_warning_is_due_once_after_delay_warning_time() -> None:
    off = QmgrSettings.from_config(config())
    assert not off.warning_due(0.0, 1e9, False)
    s = QmgrSettings.from_config(config("delay_warning_time = 4h"))
    assert not s.warning_due(0.0, 3 * 3600.0, False)
    assert s.warning_due(0.0, 4 * 3600.0, False)
    assert not s.warning_due(0.0, 5 * 3600.0, True)


def test_per_transport_limits_follow_the_transport_then_the_default() -> None:
    c = config("default_destination_recipient_limit = 7\nrelay_destination_concurrency_limit = 3")
    smtp = TransportLimits.from_config(c, "smtp")
    assert smtp.recipients == 7 and smtp.concurrency == 20 and smtp.initial_concurrency == 5
    relay = TransportLimits.from_config(c, "relay")
    assert relay.concurrency == 3 and relay.initial_concurrency == 3  # capped by the limit
    assert TransportLimits.from_config(c, "local").recipients == 1  # Postfix's local default


def test_a_custom_master_cf_transport_honours_its_main_cf_parameters() -> None:
    c = config("smtp-o365_destination_concurrency_limit = 2")
    assert transport_value(c, "smtp-o365", "destination_concurrency_limit",
                           "default_destination_concurrency_limit") == 2
    assert transport_value(c, "other", "destination_concurrency_limit",
                           "default_destination_concurrency_limit") == 20


def test_the_window_grows_with_successes_up_to_the_limit() -> None:
    w = Window(TransportLimits(10, 2, 50, 1, "1/concurrency", "1/concurrency"))
    assert w.limit == 2
    for _ in range(80):
        w.succeeded()
    assert w.limit == 10


def test_the_window_shrinks_and_a_failed_pseudo_cohort_marks_the_site_dead() -> None:
    w = Window(TransportLimits(10, 2, 50, 1, "1/concurrency", "1"))
    w.failed(100.0, "connect refused", 300.0)
    assert w.limit == 1 and not w.is_dead(100.0)
    w.failed(101.0, "connect refused", 300.0)
    assert w.is_dead(200.0) and w.dead_reason == "connect refused"
    assert not w.is_dead(401.0)


def test_may_start_respects_active_deliveries() -> None:
    w = Window(TransportLimits(2, 2, 50, 1, "1/concurrency", "1/concurrency"))
    assert w.may_start()
    w.active = 2
    assert not w.may_start()


@pytest.mark.parametrize(("items", "limit", "expected"), [
    ([1, 2, 3], 0, [[1, 2, 3]]),
    ([1, 2, 3], 3, [[1, 2, 3]]),
    ([1, 2, 3, 4, 5], 2, [[1, 2], [3, 4], [5]]),
    ([1, 2], 1, [[1], [2]]),
])
def test_recipients_are_cut_into_requests_of_the_recipient_limit(
        items: list[int], limit: int, expected: list[list[int]]) -> None:
    assert batches(items, limit) == expected


@pytest.mark.parametrize(("seconds", "text"), [
    # Figures seen in Postfix 3.7's log: delay=0.01, 0.2, 0.21, 0.1, 0.16; delays=0/0/0.05/0.15
    (0.0, "0"), (0.004, "0"), (0.01, "0.01"), (0.2, "0.2"), (0.21, "0.21"), (0.159, "0.16"),
    (1.4, "1.4"), (12.3, "12"), (3634.2, "3634"),
])
def test_delays_are_printed_as_postfix_prints_them(seconds: float, text: str) -> None:
    assert pretty_delay(seconds) == text
