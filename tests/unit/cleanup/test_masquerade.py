"""masquerade_domains, as captured in tests/golden/rewriting/masquerade."""

from __future__ import annotations

import time

from rewriting_support import config

from mailrelay.cleanup.canonical import AddressClass
from mailrelay.cleanup.headers import Arrival
from mailrelay.cleanup.masquerade import Masquerade, masquerade_header
from mailrelay.cleanup.message import cleanup
from mailrelay.cleanup.settings import CleanupSettings

GUIDE = "masquerade_domains = !srv9.corp.local, corp.local\nmasquerade_exceptions = root\n"


def masquerade(extra: str = GUIDE) -> Masquerade:
    found = Masquerade.from_config(config(extra))
    assert found is not None
    return found


def test_a_host_under_a_listed_domain_becomes_the_domain() -> None:
    assert masquerade().address("alice@srv1.corp.local") == "alice@corp.local"
    assert masquerade().address("alice@a.b.corp.local") == "alice@corp.local"


def test_the_domain_itself_other_domains_and_excepted_users_are_kept() -> None:
    m = masquerade()
    assert m.address("eve@corp.local") == "eve@corp.local"
    assert m.address("frank@other.example") == "frank@other.example"
    assert m.address("root@srv1.corp.local") == "root@srv1.corp.local"


def test_a_bang_entry_keeps_that_domain_and_the_hosts_under_it() -> None:
    m = masquerade()
    assert m.address("carol@srv9.corp.local") == "carol@srv9.corp.local"
    assert m.address("dan@a.srv9.corp.local") == "dan@a.srv9.corp.local"


def test_the_first_listed_parent_wins() -> None:
    m = masquerade("masquerade_domains = sub.corp.local, corp.local\n")
    assert m.address("x@h.sub.corp.local") == "x@sub.corp.local"


def test_the_default_classes_leave_envelope_recipients_alone() -> None:
    m = masquerade()
    assert m.applies(AddressClass.ENVELOPE_SENDER) and m.applies(AddressClass.HEADER_RECIPIENT)
    assert not m.applies(AddressClass.ENVELOPE_RECIPIENT)
    assert Masquerade.from_config(config()) is None


def test_headers_are_masqueraded_by_their_class() -> None:
    m = masquerade()
    assert masquerade_header(b"Reply-To: ops@srv3.corp.local\r\n", m) == (
        b"Reply-To: ops@corp.local\r\n")
    assert masquerade_header(b"Subject: x@srv3.corp.local\r\n", m) is None


def test_cleanup_masquerades_the_sender_and_headers_but_not_the_recipient() -> None:
    settings = CleanupSettings.from_config(config(GUIDE))
    arrival = Arrival("Q", time.time(), "h", "localhost", "127.0.0.1", "ESMTP", ())
    cleaned = cleanup(b"From: Alice <alice@srv1.corp.local>\r\nTo: bob@srv2.corp.local\r\n\r\n",
                      "alice@srv1.corp.local", ("bob@srv2.corp.local",), arrival, b"",
                      settings, local_context=False)
    assert cleaned.sender == "alice@corp.local"
    assert cleaned.recipients == ("bob@srv2.corp.local",)
    assert cleaned.content == b"From: Alice <alice@corp.local>\r\nTo: bob@corp.local\r\n\r\n"
