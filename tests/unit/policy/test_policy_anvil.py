"""anvil counters over a fake clock, and smtpd's limit replies as Postfix 3.7 gives them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from policy_support import config, settings, untrusted

from mailrelay.policy.anvil import (
    Anvil,
    Counts,
    Limits,
    check_connect,
    check_mail,
    check_rcpt,
    exempt,
)

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "policy" / "cases.json"
CASES = {c["id"]: c for c in json.loads(GOLDEN.read_text())}
NAMADDR = "localhost[127.0.0.1]"
ADDR = "127.0.0.1"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def captured(case_id: str) -> tuple[str, str, str]:
    """(the refusing reply, the warning, the service name) of an anvil case."""
    case = CASES[case_id]
    reply = next(r for _, r in case["dialogue"] if r[:1] == "4")
    warning = next(line for line in case["log"] if line.startswith("warning: "))
    service = re.search(r"for service (\S+)", warning)
    assert service is not None
    return reply, warning.removeprefix("warning: "), service.group(1)


def test_a_second_simultaneous_connection_is_refused_over_a_limit_of_one() -> None:
    reply, warning, service = captured("anvil-connection-count")
    anvil = Anvil(FakeClock())
    limits = Limits("relay.corp.local", connection_count=1)
    assert check_connect(limits, anvil.connect(service, ADDR), NAMADDR, ADDR, service) is None
    refusal = check_connect(limits, anvil.connect(service, ADDR), NAMADDR, ADDR, service)
    assert refusal is not None
    assert str(refusal.reply) == reply
    assert refusal.warning == warning


def test_the_third_connection_in_the_time_unit_is_refused_over_a_rate_of_two() -> None:
    reply, warning, service = captured("anvil-connection-rate")
    anvil = Anvil(FakeClock())
    limits = Limits("relay.corp.local", connection_rate=2)
    for _ in range(2):
        assert check_connect(limits, anvil.connect(service, ADDR), NAMADDR, ADDR,
                             service) is None
        anvil.disconnect(service, ADDR)
    refusal = check_connect(limits, anvil.connect(service, ADDR), NAMADDR, ADDR, service)
    assert refusal is not None and str(refusal.reply) == reply
    assert refusal.warning == warning


def test_the_second_mail_is_refused_over_a_message_rate_of_one() -> None:
    reply, warning, service = captured("anvil-message-rate")
    anvil = Anvil(FakeClock())
    limits = Limits("relay.corp.local", message_rate=1)
    assert check_mail(limits, anvil.mail(service, ADDR), NAMADDR, ADDR, service) is None
    refusal = check_mail(limits, anvil.mail(service, ADDR), NAMADDR, ADDR, service)
    assert refusal is not None and str(refusal.reply) == reply
    assert refusal.warning == warning


def test_the_third_recipient_is_refused_over_a_recipient_rate_of_two() -> None:
    reply, warning, service = captured("anvil-recipient-rate")
    anvil = Anvil(FakeClock())
    limits = Limits("relay.corp.local", recipient_rate=2)
    rates = [anvil.rcpt(service, ADDR) for _ in range(3)]
    assert [check_rcpt(limits, r, NAMADDR, ADDR, service) is None for r in rates] == [
        True, True, False]
    refusal = check_rcpt(limits, rates[2], NAMADDR, ADDR, service)
    assert refusal is not None and str(refusal.reply) == reply
    assert refusal.warning == warning


def test_the_rate_window_restarts_with_the_first_event_after_the_time_unit() -> None:
    clock = FakeClock()
    anvil = Anvil(clock, time_unit=60)
    assert [anvil.mail("smtp", ADDR) for _ in range(3)] == [1, 2, 3]
    clock.now += 60  # not yet past the window: start + unit < now is false
    assert anvil.mail("smtp", ADDR) == 4
    clock.now += 1
    assert anvil.mail("smtp", ADDR) == 1


def test_one_window_covers_connections_mail_and_recipients_together() -> None:
    clock = FakeClock()
    anvil = Anvil(clock, time_unit=60)
    anvil.connect("smtp", ADDR)
    anvil.mail("smtp", ADDR)
    anvil.rcpt("smtp", ADDR)
    clock.now += 61
    assert anvil.rcpt("smtp", ADDR) == 1
    assert anvil.mail("smtp", ADDR) == 1
    assert anvil.connect("smtp", ADDR) == Counts(count=2, rate=1)


def test_counters_are_kept_per_service_and_per_client() -> None:
    anvil = Anvil(FakeClock())
    anvil.connect("smtp", ADDR)
    assert anvil.connect("submission", ADDR) == Counts(1, 1)
    assert anvil.connect("smtp", "192.0.2.1") == Counts(1, 1)
    assert anvil.connect("smtp", ADDR) == Counts(2, 2)


def test_a_client_without_connections_is_forgotten_after_a_time_unit() -> None:
    clock = FakeClock()
    anvil = Anvil(clock, time_unit=60)
    anvil.connect("smtp", ADDR)
    anvil.disconnect("smtp", ADDR)
    clock.now += 30
    anvil.expire()
    assert len(anvil) == 1
    clock.now += 30
    anvil.expire()
    assert len(anvil) == 0
    assert anvil.connect("smtp", ADDR) == Counts(1, 1)


def test_disconnect_without_connect_is_harmless() -> None:
    anvil = Anvil(FakeClock())
    anvil.disconnect("smtp", ADDR)
    assert anvil.connect("smtp", ADDR).count == 1


def test_zero_limits_never_refuse() -> None:
    limits = Limits("relay.corp.local", connection_count=0, connection_rate=0)
    assert check_connect(limits, Counts(1000, 1000), NAMADDR, ADDR, "smtp") is None
    assert check_mail(limits, 1000, NAMADDR, ADDR, "smtp") is None
    assert check_rcpt(limits, 1000, NAMADDR, ADDR, "smtp") is None


def test_mynetworks_are_exempt_by_default_and_others_are_not() -> None:
    trusted = settings()  # mynetworks = 127.0.0.0/8
    assert exempt(trusted.event_limit_exceptions, "localhost", ADDR)
    assert not exempt(untrusted().event_limit_exceptions, "localhost", ADDR)


def test_exceptions_can_be_set_explicitly() -> None:
    s = untrusted({"smtpd_client_event_limit_exceptions": "127.0.0.0/8"})
    assert exempt(s.event_limit_exceptions, "localhost", ADDR)
    assert CASES["anvil-exception"]["log"] == []


def test_limits_come_from_the_configuration() -> None:
    limits = Limits.from_config(config({
        "smtpd_client_message_rate_limit": "7", "anvil_rate_time_unit": "2m"}))
    assert limits.message_rate == 7
    assert limits.time_unit == 120
    assert limits.connection_count == 50
    assert limits.myhostname == "relay.corp.local"
