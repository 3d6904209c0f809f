"""Pathological headers go through canonical, masquerading and the checks without a crash."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rewriting_support import config

from mailrelay.cleanup.headers import Arrival
from mailrelay.cleanup.message import cleanup
from mailrelay.cleanup.settings import CleanupSettings

CASES = {
    "a folded To: of 20,000 addresses": b"To: " + b",\r\n ".join(
        b"u%d@h%d.corp.local" % (i, i) for i in range(20000)) + b"\r\n\r\nbody\r\n",
    "thousands of header lines": b"".join(b"X-H%d: v\r\n" % i for i in range(20000))
    + b"\r\nbody\r\n",
    "NULs and 8-bit junk": b"From: \x00\xff\xfe <a@b>\r\nSubject: \x00x\xc3\r\n"
    b'To: "\x80" <@@@>, ,,<>\r\n\r\n\x00\xff\r\n',
    "a 1 MB header line": b"Subject: x" + b"y" * 1_000_000 + b"\r\n\r\nb\r\n",
    "unbalanced brackets, quotes and comments": b'To: <<<<a@b (((( "open\r\nCc: a@b)\r\n\r\n',
}


@pytest.mark.parametrize("content", CASES.values(), ids=list(CASES))
def test_a_pathological_message_is_cleaned_without_error(tmp_path: Path,
                                                         content: bytes) -> None:
    (tmp_path / "checks").write_text("/^Subject: x/ WARN w\n/^To:.*zzz/ REPLACE To: a@b\n")
    settings = CleanupSettings.from_config(config(
        "sender_canonical_maps = inline:{ a@b.example=c@d.example }\n"
        "recipient_canonical_maps = inline:{ a@b.example=c@d.example }\n"
        "masquerade_domains = corp.local\n"
        f"header_checks = regexp:{tmp_path}/checks\nbody_checks = regexp:{tmp_path}/checks\n"))
    arrival = Arrival("Q", time.time(), "h", "n", "192.0.2.1", "ESMTP", ("a@b",))
    cleaned = cleanup(content, "a@b.example", ("a@b.example",), arrival, b"", settings,
                      local_context=True)
    assert cleaned.sender == "c@d.example"
    fields = cleaned.content.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(len(f) <= settings.header_size_limit for f in fields)
