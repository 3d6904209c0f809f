"""canonical mapping in cleanup(): envelope and header addresses, by class."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rewriting_support import config

from mailrelay.cleanup.address_map import CleanupDefer
from mailrelay.cleanup.canonical import AddressClass, Canonical, address_classes
from mailrelay.cleanup.headers import Arrival
from mailrelay.cleanup.message import Cleaned, cleanup
from mailrelay.cleanup.settings import CleanupSettings
from mailrelay.maps.registry import MapCache

SENDER_TABLE = "inline:{ www-data=webmaster@corp.com, {backup@srv1.corp.local=backup@corp.com} }"


def run(extra: str, content: bytes, sender: str = "www-data",
        recipients: tuple[str, ...] = ("bob@example.com",), *,
        local_context: bool = False) -> Cleaned:
    settings = CleanupSettings.from_config(config(extra))
    arrival = Arrival("4ABC", time.time(), "app1", "localhost", "127.0.0.1", "ESMTP",
                      recipients)
    return cleanup(content, sender, recipients, arrival, b"", settings,
                   local_context=local_context)


def test_no_canonical_parameter_means_no_canonical_stage() -> None:
    assert Canonical.from_config(config(), MapCache()) is None


def test_sender_canonical_maps_the_qualified_envelope_sender_and_sender_headers() -> None:
    cleaned = run(f"sender_canonical_maps = {SENDER_TABLE}\n",
                  b'From: "Web" <www-data>\r\nSender: backup@srv1.corp.local\r\n'
                  b"To: www-data@corp.local\r\n\r\nbody\r\n")
    assert cleaned.sender == "webmaster@corp.com"
    assert cleaned.content == (b'From: "Web" <webmaster@corp.com>\r\nSender: backup@corp.com\r\n'
                               b"To: www-data@corp.local\r\n\r\nbody\r\n")


def test_recipient_canonical_maps_envelope_recipients_and_recipient_headers_only() -> None:
    cleaned = run("recipient_canonical_maps = inline:{ {bob@example.com=robert@example.com} }\n",
                  b"From: bob@example.com\r\nCc: Bob <bob@example.com>\r\n\r\n",
                  sender="bob@example.com")
    assert cleaned.sender == "bob@example.com"
    assert cleaned.recipients == ("robert@example.com",)
    assert cleaned.content == b"From: bob@example.com\r\nCc: Bob <robert@example.com>\r\n\r\n"


def test_canonical_classes_limit_where_canonical_maps_applies() -> None:
    cleaned = run("canonical_maps = inline:{ {bob@example.com=robert@example.com} }\n"
                  "canonical_classes = envelope_recipient\n",
                  b"To: bob@example.com\r\n\r\n", sender="bob@example.com")
    assert cleaned.sender == "bob@example.com"
    assert cleaned.recipients == ("robert@example.com",)
    assert cleaned.content == b"To: bob@example.com\r\n\r\n"


def test_sender_canonical_comes_before_canonical_maps() -> None:
    cleaned = run("sender_canonical_maps = inline:{ {a@x.example=b@x.example} }\n"
                  "canonical_maps = inline:{ {b@x.example=c@x.example} }\n",
                  b"\r\n", sender="a@x.example")
    assert cleaned.sender == "c@x.example"


def test_local_context_qualifies_header_addresses_before_mapping_them() -> None:
    cleaned = run(f"sender_canonical_maps = {SENDER_TABLE}\n", b"From: www-data\r\n\r\n",
                  local_context=True)
    assert cleaned.content.startswith(b"From: webmaster@corp.com\r\n")


def test_a_broken_table_defers_the_message_instead_of_passing_it(tmp_path: Path) -> None:
    with pytest.raises(CleanupDefer, match="sender_canonical_maps"):
        run(f"sender_canonical_maps = hash:{tmp_path}/absent\n", b"\r\n")


def test_address_classes_read_the_class_names_postfix_documents() -> None:
    classes = address_classes(config("canonical_classes = envelope_sender, header_recipient\n"),
                              "canonical_classes")
    assert classes == AddressClass.ENVELOPE_SENDER | AddressClass.HEADER_RECIPIENT


def test_each_address_header_is_mapped_as_sender_or_recipient_as_postfix_does() -> None:
    classes = Path(__file__).parents[2] / "golden" / "rewriting" / "classes"
    cleaned = run("sender_canonical_maps = inline:{ {s@example.com=S@mapped.example} }\n"
                  "recipient_canonical_maps = inline:{ {r@example.com=R@mapped.example} }\n",
                  (classes / "c1.in.eml").read_bytes(), sender="a@corp.local",
                  recipients=("x@example.com",), local_context=True)
    postfix = (classes / "c1.ref.eml").read_bytes()

    def fields(content: bytes) -> list[bytes]:
        head = content.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        return [f for f in head if f[:1] not in (b" ", b"\t") and not f.startswith(
            (b"Received:", b"Resent-Message-Id:", b"Resent-Date:"))]

    assert fields(cleaned.content) == fields(postfix)
