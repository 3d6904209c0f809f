"""swap_bangpath, allow_percent_hack and remote_header_rewrite_domain, against Postfix 3.7.

The fixtures (tests/golden/cleanup-rewrite-context, see the README there) are postcat dumps
of what Postfix queued for the inputs below; cleanup() must write the same bytes.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
import time
from pathlib import Path

import pytest

from mailrelay.cleanup.headers import Arrival, received_header
from mailrelay.cleanup.message import cleanup
from mailrelay.cleanup.settings import CleanupSettings

GOLDEN = Path(__file__).parents[2] / "golden" / "cleanup-rewrite-context"

SETTINGS = CleanupSettings(
    myhostname="relay.corp.local", myorigin="corp.local", mydomain="corp.local",
    mail_name="Postfix", append_at_myorigin=True, append_dot_mydomain=False,
    always_add_missing_headers=False,
)
REWRITE_DOMAIN = dataclasses.replace(SETTINGS, remote_header_rewrite_domain="example.net")
NO_OPERATORS = dataclasses.replace(REWRITE_DOMAIN, append_dot_mydomain=True,
                                   swap_bangpath=False, allow_percent_hack=False)

LOCAL = ("localhost", "127.0.0.1", True)
REMOTE = ("unknown", "127.0.0.2", False)

FIRST = (b"From: host!dave, x%y\r\nTo: erin%example.org, g!h!i, j%k@relay.corp.local\r\n"
         b"Cc: bare\r\nSubject: t\r\n\r\nbody\r\n")
SECOND = (b"From: host!dave, x%y\r\nTo: erin%example.org, g!h!i, j%k@relay.corp.local, k@l\r\n"
          b"Cc: bare\r\nSubject: t\r\n\r\nbody\r\n")
THIRD = b"From: host!dave, x%y, m@n\r\nTo: bare\r\nSubject: t\r\n\r\nbody\r\n"

CASES = [
    ("local-bangpath-percent", SETTINGS, LOCAL,
     ["bob%example.com", "carol%x.org@localhost", "a!b!c", "d%e%f"], FIRST),
    ("remote-no-rewrite-domain", SETTINGS, REMOTE, ["bob%example.com"], SECOND),
    ("remote-rewrite-domain", REWRITE_DOMAIN, REMOTE, ["bob%example.com"], SECOND),
    ("remote-rewrite-domain-no-bang-no-percent-dot-mydomain", NO_OPERATORS, REMOTE,
     ["bob%example.com", "c@d"], THIRD),
    ("local-no-bang-no-percent-dot-mydomain", NO_OPERATORS, LOCAL,
     ["bob%example.com", "c@d"], THIRD),
]

pytestmark = pytest.mark.usefixtures("utc")  # tests/conftest.py


def postcat(name: str) -> tuple[str, str, list[str], bytes]:
    """(queue id, sender, recipients, content with CRLF) from a postcat dump."""
    text = (GOLDEN / f"{name}.postcat").read_text()
    found = re.search(r"MESSAGE CONTENTS \S+/(\w+) \*\*\*\n(.*?)\*\*\* HEADER EXTRACTED", text,
                      re.S)
    assert found is not None
    sender = re.findall(r"^sender: (.*)$", text, re.M)[0]
    recipients = re.findall(r"^recipient: (.*)$", text, re.M)
    return found.group(1), sender, recipients, found.group(2).replace("\n", "\r\n").encode()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cleanup_writes_what_postfix_wrote_in_each_rewriting_context(case: tuple) -> None:
    name, settings, (client_name, client_address, local), rcpts, content = case
    queue_id, want_sender, want_rcpts, want = postcat(name)
    stamp = re.search(rb"(\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d) \+0000", want)
    assert stamp is not None
    when = calendar.timegm(time.strptime(stamp.group(1).decode(), "%a, %d %b %Y %H:%M:%S"))
    arrival = Arrival(queue_id, when, "client.example", client_name, client_address, "ESMTP",
                      tuple(rcpts))
    cleaned = cleanup(content, "site!alice", tuple(rcpts), arrival,
                      received_header(arrival, settings), settings, local_context=local)
    assert cleaned.content == want
    assert cleaned.sender == want_sender
    assert list(cleaned.recipients) == want_rcpts


def test_a_remote_client_gets_no_header_context_without_a_rewrite_domain() -> None:
    assert SETTINGS.header_context(False) is None
    assert SETTINGS.header_context(True) is SETTINGS


def test_the_remote_context_uses_the_rewrite_domain_as_origin_and_domain() -> None:
    remote = REWRITE_DOMAIN.header_context(False)
    assert remote is not None
    assert (remote.myorigin, remote.mydomain) == ("example.net", "example.net")
    assert REWRITE_DOMAIN.header_context(True) is REWRITE_DOMAIN
