"""local_header_rewrite_clients, decided per message from the client's facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.maps.base import MapLookupError
from mailrelay.maps.registry import MapCache
from mailrelay.policy.settings import PolicySettings
from mailrelay.smtpd.spool import ClientFacts
from mailrelay.smtpd.worker import LocalRewriteClients

BASE = """\
compatibility_level = 3.6
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.corp.local
mydomain = corp.local
mynetworks = 10.1.0.0/16
"""


def clients(value: str, extra: str = "") -> tuple[LocalRewriteClients, list[str]]:
    cfg = Config(parse_main_cf(BASE + extra + f"local_header_rewrite_clients = {value}\n",
                               "main.cf"), "/etc/postfix")
    warnings: list[str] = []
    found = LocalRewriteClients.from_config(cfg, PolicySettings.from_config(cfg), MapCache(),
                                            warnings.append)
    return found, warnings


def client(address: str, **session: str | bool) -> ClientFacts:
    return ClientFacts("unknown", address, "4711", address, False, **session)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "address", "local"), [
    ("permit_inet_interfaces", "127.0.0.1", True),     # the default: only this host
    ("permit_inet_interfaces", "10.1.2.3", False),
    ("permit_mynetworks", "10.1.2.3", True),
    ("permit_mynetworks", "10.2.0.1", False),
    ("static:all", "192.0.2.9", True),                  # a table alone: check_address_map
    ("check_address_map static:all", "192.0.2.9", True),
    ("check_address_map inline:{ 192.0.2.9=OK }", "192.0.2.9", True),
    ("check_address_map inline:{ 192.0.2.9=OK }", "192.0.2.10", False),
    ("", "127.0.0.1", False),
])
def test_each_item_matches_the_clients_postfix_lets_it(value: str, address: str,
                                                       local: bool) -> None:
    found, warnings = clients(value)
    assert found.local(client(address)) is local
    assert warnings == []


def test_an_unknown_item_is_skipped_with_postfixs_warning() -> None:
    found, warnings = clients("frobnicate, permit_mynetworks")
    assert warnings == ["parameter local_header_rewrite_clients: invalid request: frobnicate"]
    assert found.local(client("10.1.0.1"))


def test_a_sasl_login_counts_only_when_smtpd_sasl_auth_is_enabled() -> None:
    off, _ = clients("permit_sasl_authenticated")
    on, _ = clients("permit_sasl_authenticated", "smtpd_sasl_auth_enable = yes\n")
    assert not off.local(client("192.0.2.1", sasl_username="alice"))
    assert on.local(client("192.0.2.1", sasl_username="alice"))
    assert not on.local(client("192.0.2.1"))


def test_client_certificates_count_when_verified_and_listed() -> None:
    fingerprint = "AB:CD"
    extra = f"relay_clientcerts = inline:{{ {fingerprint}=host1 }}\n"
    listed, _ = clients("permit_tls_clientcerts", extra)
    every, _ = clients("permit_tls_all_clientcerts", extra)
    verified = client("192.0.2.1", ccert_verified=True, ccert_fingerprint=fingerprint)
    other = client("192.0.2.1", ccert_verified=True, ccert_fingerprint="EF:01")
    unverified = client("192.0.2.1", ccert_fingerprint=fingerprint)
    assert listed.local(verified) and not listed.local(other)
    assert not listed.local(unverified)
    assert every.local(other) and not every.local(unverified)


def test_a_table_that_cannot_answer_is_not_taken_for_no(tmp_path: Path) -> None:
    class Broken:
        spec = "broken:x"
        is_pattern = False

        def lookup(self, key: str) -> str | None:
            raise MapLookupError("broken:x lookup error")

    found, _ = clients("static:all")
    table = found.items[0][1]
    assert table is not None
    object.__setattr__(table, "tables", (Broken(),))
    with pytest.raises(MapLookupError):
        found.local(client("192.0.2.1"))
