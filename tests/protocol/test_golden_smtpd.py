"""Every dialogue captured from Postfix 3.7.11 replays byte for byte into the state machine."""

from __future__ import annotations

import dataclasses

import pytest

from mailrelay.mail.reply import Reply
from mailrelay.smtp import ServerSettings, TlsLevel
from mailrelay.smtp.events import Connected, Decision, RcptTo
from mailrelay.smtp.framing import BareNewline

from .dialogue import DELIBERATE, GOLDEN, Policy, accept_all, load, replay

#: The oracle's main.cf (tests/golden/smtpd/README.md), as ServerSettings.
BASE = ServerSettings(
    myhostname="relay.corp.local",
    banner="relay.corp.local ESMTP Postfix",
    error_sleep_time=0,
    bare_newline=BareNewline.NORMALIZE,
    forbid_unauth_pipelining=True,
)

#: Each master.cf service of the oracle: its -o overrides.
SERVICES: dict[str, ServerSettings] = {
    "default": BASE,
    "untrusted": BASE,
    "client-reject": BASE,
    "timeout": BASE,
    "tls": dataclasses.replace(BASE, tls_level=TlsLevel.MAY),
    "tls-encrypt": dataclasses.replace(BASE, tls_level=TlsLevel.ENCRYPT),
    "wrapper": dataclasses.replace(BASE, tls_level=TlsLevel.MAY, tls_wrapper=True),
    "limits": dataclasses.replace(
        BASE, message_size_limit=2000, recipient_limit=3, hard_error_limit=4, soft_error_limit=2
    ),
    "strict": dataclasses.replace(BASE, disable_vrfy_command=True, helo_required=True),
    "legacy": dataclasses.replace(
        BASE, forbid_unauth_pipelining=False, bare_newline=BareNewline.NO
    ),
    "reject-lf": dataclasses.replace(BASE, bare_newline=BareNewline.REJECT),
    "reject-lf-521": dataclasses.replace(
        BASE, bare_newline=BareNewline.REJECT, bare_newline_reject_code=521
    ),
    "discard": dataclasses.replace(
        BASE,
        discard_ehlo_keywords=frozenset({"chunking", "dsn", "pipelining"}),
        smtputf8_enable=False,
    ),
    "size5000": dataclasses.replace(BASE, message_size_limit=5000),
    "unlimited": dataclasses.replace(BASE, message_size_limit=0),
    "tls-legacy": dataclasses.replace(BASE, tls_level=TlsLevel.MAY, forbid_unauth_pipelining=False),
    "discard-all": dataclasses.replace(
        BASE,
        tls_level=TlsLevel.MAY,
        discard_ehlo_keywords=frozenset(
            [
                "pipelining",
                "size",
                "vrfy",
                "etrn",
                "starttls",
                "enhancedstatuscodes",
                "8bitmime",
                "dsn",
                "smtputf8",
                "chunking",
                "silent-discard",
            ]
        ),
    ),
}

LOCAL_DOMAINS = {"relay.corp.local", "localhost.corp.local", "localhost"}


def deny_relay(decision: Decision) -> Reply | None:
    """The oracle's smtpd_relay_restrictions for a client outside mynetworks (compat 3.6)."""
    if isinstance(decision, RcptTo):
        address = decision.address
        routed = any(c in address.localpart for c in "@%!")
        if routed or address.domain.lower().rstrip(".") not in LOCAL_DOMAINS:
            return Reply(454, "4.7.1", f"<{address.address}>: Relay access denied")
    return None


def deny_client(decision: Decision) -> Reply | None:
    if isinstance(decision, Connected):
        return Reply(554, "5.7.1", "<localhost[127.0.0.1]>: Client host rejected: Access denied")
    return None


POLICIES: dict[str, Policy] = {"untrusted": deny_relay, "client-reject": deny_client}

FILES = sorted(GOLDEN.glob("*.dialogue"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_the_server_answers_every_captured_dialogue_as_postfix_did(path):
    dialogue = load(path)
    if dialogue.name in DELIBERATE:
        pytest.skip(f"deliberate difference: {DELIBERATE[dialogue.name]}")
    settings = SERVICES[dialogue.service]
    actual, shell = replay(dialogue, settings, POLICIES.get(dialogue.service, accept_all))
    expected = dialogue.expected()
    assert [a.decode("latin-1") for a in actual] == [e.decode("latin-1") for e in expected]
    closed = any(s.kind == "=" and s.data == b"closed" for s in dialogue.steps)
    assert (shell.closed is not None) == closed


def test_there_are_captured_dialogues():
    assert len(FILES) > 50
