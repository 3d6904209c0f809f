"""master_service_disable, as the master reads it for its internal services."""

from __future__ import annotations

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.master.roles import service_disabled


def config(value: str) -> Config:
    return Config(parse_main_cf(f"master_service_disable = {value}\n", "main.cf"), "/etc")


@pytest.mark.parametrize(("value", "qmgr", "pickup"), [
    ("", False, False),
    ("qmgr/unix", True, False),
    ("pickup/fifo", False, True),
    ("unix", True, True),
    ("inet", False, False),
    ("smtp/inet", False, False),
])
def test_master_service_disable_pauses_only_the_services_it_names(
        value: str, qmgr: bool, pickup: bool) -> None:
    assert service_disabled(config(value), "qmgr") is qmgr
    assert service_disabled(config(value), "pickup") is pickup
