"""cleanup's settings per service: content_filter and receive_override_options."""

from __future__ import annotations

from pathlib import Path

from rewriting_support import config

from mailrelay.cleanup.content_checks import FILTER_ATTRIBUTE, Outcome
from mailrelay.cleanup.message import filter_attributes
from mailrelay.cleanup.settings import CleanupSettings, receive_overrides

TABLES = """\
header_checks = inline:{ {/^Subject: x/ FILTER smtp:[127.0.0.1]:10024} }
canonical_maps = inline:{ a@corp.local=b@corp.local }
virtual_alias_maps = inline:{ sales@corp.local=bob@corp.local }
masquerade_domains = corp.local
"""


def test_the_services_content_filter_is_kept_and_a_filter_action_overrides_it() -> None:
    settings = CleanupSettings.from_config(config("content_filter = smtp:[127.0.0.1]:10024\n"))
    assert settings.content_filter == "smtp:[127.0.0.1]:10024"
    assert filter_attributes(settings, None) == ((FILTER_ATTRIBUTE, "smtp:[127.0.0.1]:10024"),)
    assert filter_attributes(settings, Outcome(filter="lmtp:unix:x")) == (
        (FILTER_ATTRIBUTE, "lmtp:unix:x"),)
    # captured: "warning: bad FILTER command smtp in header_checks -- need
    # transport:destination", and the message is routed as if there were no FILTER
    assert filter_attributes(settings, Outcome(filter="smtp")) == (
        (FILTER_ATTRIBUTE, "smtp:[127.0.0.1]:10024"),)
    plain = CleanupSettings.from_config(config(""))
    assert filter_attributes(plain, Outcome(filter="smtp")) == ()
    assert filter_attributes(plain, Outcome()) == ()


def test_without_override_options_every_table_is_used() -> None:
    settings = CleanupSettings.from_config(config(TABLES))
    assert settings.checks is not None
    assert settings.canonical is not None
    assert settings.virtual is not None
    assert settings.masquerade is not None


def test_no_header_body_checks_drops_the_checks_only() -> None:
    settings = CleanupSettings.from_config(config(
        TABLES + "receive_override_options = no_header_body_checks\n"))
    assert settings.checks is None
    assert settings.canonical is not None and settings.virtual is not None


def test_no_address_mappings_drops_canonical_virtual_and_masquerading() -> None:
    settings = CleanupSettings.from_config(config(
        TABLES + "receive_override_options = no_unknown_recipient_checks, "
                 "no_address_mappings, NO_MILTERS\n"))
    assert (settings.canonical, settings.virtual, settings.masquerade) == (None, None, None)
    assert settings.checks is not None


def test_override_options_are_read_in_lower_case(tmp_path: Path) -> None:
    assert receive_overrides(config("receive_override_options = No_Milters, bogus\n")) == {
        "no_milters", "bogus"}
