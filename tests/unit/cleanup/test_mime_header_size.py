"""header_size_limit cuts long fields in every header, primary, part and attached message,
as Postfix 3.7.11 did (tests/golden/mime_checks/header-size-limit-200.body.ref)."""

from __future__ import annotations

import time
from pathlib import Path

from rewriting_support import config

from mailrelay.cleanup.fields import cut_part_fields
from mailrelay.cleanup.headers import Arrival
from mailrelay.cleanup.message import cleanup
from mailrelay.cleanup.mime import MimeLimits
from mailrelay.cleanup.settings import CleanupSettings

GOLDEN = Path(__file__).parents[2] / "golden" / "mime_checks"
LONG = b"X-Long: " + b" ".join(b"word%03d" % i for i in range(60))
#: The message sent to Postfix (smtplib).
MESSAGE = (b"Subject: t\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n"
           + LONG + b"\r\n\r\n--BB\r\nContent-Type: text/plain\r\n" + LONG
           + b"\r\n\r\npart body\r\n--BB\r\nContent-Type: message/rfc822\r\n\r\n"
           b"Subject: inner\r\n" + LONG + b"\r\n\r\ninner body\r\n--BB--\r\n")


def cleaned(extra: str = "") -> bytes:
    settings = CleanupSettings.from_config(config("header_size_limit = 200\n" + extra))
    arrival = Arrival("QID", time.time(), "x", "localhost", "127.0.0.1", "ESMTP",
                      ("hs@example.org",))
    return cleanup(MESSAGE, "a@corp.local", ("hs@example.org",), arrival, b"", settings,
                   local_context=True).content


def test_long_fields_are_cut_in_the_primary_header_in_parts_and_in_attached_messages() -> None:
    content = cleaned()
    header, _, body = content.partition(b"\r\n\r\n")
    expected = (GOLDEN / "header-size-limit-200.body.ref").read_bytes().replace(b"\n", b"\r\n")
    assert body == expected
    assert LONG[:200] + b"\r\n" in header + b"\r\n"


def test_with_mime_processing_disabled_only_the_primary_header_is_cut() -> None:
    body = cleaned("disable_mime_input_processing = yes\n").partition(b"\r\n\r\n")[2]
    assert body.count(LONG + b"\r\n") == 2


def test_a_message_without_parts_is_not_walked() -> None:
    plain = b"Subject: x\r\n\r\n--BB\r\n" + LONG + b"\r\n"
    assert cut_part_fields(plain, 20, MimeLimits()) is plain
