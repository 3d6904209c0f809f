"""metrics_http_address: host:port forms, off when empty, errors that name the parameter."""

from __future__ import annotations

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.metrics.address import metrics_address, parse_address
from mailrelay.util.diagnostic import Fatal


def config(text: str) -> Config:
    return Config(parse_main_cf(text, "main.cf"), "/etc/postfix")


@pytest.mark.parametrize(("value", "expected"), [
    ("127.0.0.1:9154", ("127.0.0.1", 9154)),
    ("localhost:9154", ("localhost", 9154)),
    ("[::1]:9154", ("::1", 9154)),
    (":9154", ("", 9154)),
])
def test_the_address_forms_give_host_and_port(value: str, expected: tuple[str, int]) -> None:
    assert parse_address(value) == expected


@pytest.mark.parametrize("value", ["127.0.0.1", "127.0.0.1:http", "127.0.0.1:0",
                                   "127.0.0.1:65536", "::1:9154"])
def test_a_value_that_is_no_address_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="bad value"):
        parse_address(value)


def test_metrics_are_off_by_default() -> None:
    assert metrics_address(config("")) is None


def test_a_bad_value_is_fatal_naming_the_parameter_and_its_line() -> None:
    with pytest.raises(Fatal) as caught:
        metrics_address(config("myhostname = x\nmetrics_http_address = 9154\n"))
    assert str(caught.value) == ('main.cf, line 2: metrics_http_address: bad value "9154": '
                                 "expected host:port")
