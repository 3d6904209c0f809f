"""debug_peer_list matching and the dialogue lines, with SASL secrets masked."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.maillog.debug_peer import MASK, DebugPeers, Dialogue, LineBuffer, dialogue_for
from mailrelay.util.diagnostic import Fatal


def config(text: str) -> Config:
    return Config(parse_main_cf(text, "main.cf"), "/etc/mailrelay")


def peers(value: str, extra: str = "") -> DebugPeers:
    found = DebugPeers.from_config(config(f"debug_peer_list = {value}\n{extra}"))
    assert found is not None
    return found


class Recorder:
    """A daemon's logger: records lines; carries debug_peers as MailLog's loggers do."""

    def __init__(self, debug_peers: DebugPeers | None = None) -> None:
        self.lines: list[str] = []
        self.debug_peers = debug_peers

    def __call__(self, text: str) -> None:
        self.lines.append(text)


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


def test_an_empty_debug_peer_list_debugs_nobody_and_builds_nothing() -> None:
    assert DebugPeers.from_config(config("")) is None
    assert dialogue_for(Recorder(None), "localhost", "127.0.0.1", "x", we_are_client=False) \
        is None


@pytest.mark.parametrize(("value", "name", "address", "expected"), [
    ("127.0.0.1", "localhost", "127.0.0.1", True),
    ("127.0.0.1", "localhost", "127.0.0.2", False),
    ("192.0.2.0/24", "unknown", "192.0.2.77", True),
    ("[2001:db8::]/32", "unknown", "2001:db8::5", True),
    ("mx.example.com", "mx.example.com", "192.0.2.1", True),
    ("example.com", "mx.example.com", "192.0.2.1", True),  # parent_domain_matches_subdomains
    ("!192.0.2.1, 192.0.2.0/24", "unknown", "192.0.2.1", False),
])
def test_debug_peer_list_matches_names_and_addresses_as_mynetworks_style_lists_do(
        value: str, name: str, address: str, expected: bool) -> None:
    assert peers(value).match(name, address) is expected


def test_dot_domains_are_needed_for_subdomains_when_the_list_is_not_parent_style() -> None:
    strict = "parent_domain_matches_subdomains = smtpd_access_maps\n"
    assert not peers("example.com", strict).match("mx.example.com", "192.0.2.1")
    assert peers(".example.com", strict).match("mx.example.com", "192.0.2.1")


def test_a_file_of_patterns_is_read_in_place(tmp_path: Path) -> None:
    listing = tmp_path / "peers"
    listing.write_text("# debugged\n198.51.100.7\n")
    assert peers(str(listing)).match("unknown", "198.51.100.7")
    assert not peers(str(listing)).match("unknown", "198.51.100.8")


def test_a_bad_network_is_fatal_naming_the_parameter() -> None:
    with pytest.raises(Fatal, match="parameter debug_peer_list: non-null host address bits"):
        DebugPeers.from_config(config("debug_peer_list = 192.0.2.1/24\n"))


def test_dialogue_for_a_plain_callable_is_none_and_a_match_gives_a_dialogue() -> None:
    assert dialogue_for(print, "localhost", "127.0.0.1", "x", we_are_client=False) is None
    log = Recorder(peers("127.0.0.1"))
    assert dialogue_for(log, "localhost", "127.0.0.2", "x", we_are_client=False) is None
    assert dialogue_for(log, "localhost", "127.0.0.1", "x", we_are_client=False) is not None


def test_the_server_side_logs_received_commands_with_lt_and_replies_with_gt() -> None:
    log = Recorder()
    d = Dialogue(log, "localhost[127.0.0.1]", we_are_client=False)
    d.server_lines(b"220 relay.corp.local ESMTP Postfix\r\n")
    d.client_line(b"EHLO vm")
    d.server_lines(b"250-relay.corp.local\r\n250 CHUNKING\r\n")
    assert log.lines == ["> localhost[127.0.0.1]: 220 relay.corp.local ESMTP Postfix",
                         "< localhost[127.0.0.1]: EHLO vm",
                         "> localhost[127.0.0.1]: 250-relay.corp.local",
                         "> localhost[127.0.0.1]: 250 CHUNKING"]


def test_the_client_side_logs_sent_commands_with_gt_and_replies_with_lt() -> None:
    log = Recorder()
    d = Dialogue(log, "127.0.0.1[127.0.0.1]:26101", we_are_client=True)
    d.server_line(b"220 smtp-sink ESMTP")
    d.client_lines(b"MAIL FROM:<s@corp.local>\r\nRCPT TO:<r@example.com>\r\nDATA\r\n")
    assert log.lines == ["< 127.0.0.1[127.0.0.1]:26101: 220 smtp-sink ESMTP",
                         "> 127.0.0.1[127.0.0.1]:26101: MAIL FROM:<s@corp.local>",
                         "> 127.0.0.1[127.0.0.1]:26101: RCPT TO:<r@example.com>",
                         "> 127.0.0.1[127.0.0.1]:26101: DATA"]


@pytest.mark.parametrize("we_are_client", [False, True])
def test_auth_plain_and_xoauth2_initial_responses_are_masked(we_are_client: bool) -> None:
    log = Recorder()
    d = Dialogue(log, "p", we_are_client=we_are_client)
    secret = b64("\0bob\0Sup3rSecret")
    d.client_line(b"AUTH PLAIN " + secret)
    d.server_line(b"235 2.7.0 Authentication successful")
    d.client_line(b"auth xoauth2 " + b64("user=bob\x01auth=Bearer ya29.T0ken\x01\x01"))
    d.server_line(b"235 2.7.0 Authentication successful")
    d.client_line(b"MAIL FROM:<bob@corp.local>")
    sign = ">" if we_are_client else "<"
    assert log.lines[0] == f"{sign} p: AUTH PLAIN {MASK}"
    assert log.lines[2] == f"{sign} p: auth xoauth2 {MASK}"
    assert log.lines[4] == f"{sign} p: MAIL FROM:<bob@corp.local>"
    assert not any("Sup3rSecret" in x or secret.decode() in x or "T0ken" in x
                   for x in log.lines)


def test_every_client_line_of_an_auth_login_exchange_is_masked_until_it_ends() -> None:
    log = Recorder()
    d = Dialogue(log, "p", we_are_client=False)
    d.client_line(b"AUTH LOGIN")
    d.server_line(b"334 VXNlcm5hbWU6")
    d.client_line(b64("bob"))
    d.server_line(b"334 UGFzc3dvcmQ6")
    d.client_line(b"QUIT")  # a password that looks like a command is still a password
    d.server_line(b"235 2.7.0 Authentication successful")
    d.client_line(b"QUIT")
    assert log.lines == ["< p: AUTH LOGIN", "> p: 334 VXNlcm5hbWU6", f"< p: {MASK}",
                         "> p: 334 UGFzc3dvcmQ6", f"< p: {MASK}",
                         "> p: 235 2.7.0 Authentication successful", "< p: QUIT"]


def test_credentials_pipelined_after_a_refused_auth_are_masked_too() -> None:
    log = Recorder()
    d = Dialogue(log, "p", we_are_client=False)
    d.client_line(b"AUTH LOGIN")
    d.server_line(b"503 5.5.1 Error: authentication not enabled")
    d.client_line(b64("bob"))
    d.server_line(b"500 5.5.2 Error: command not recognized")
    d.client_line(b64("Sup3rSecret"))
    d.server_line(b"500 5.5.2 Error: command not recognized")
    d.client_line(b"RSET")
    d.client_line(b"Y2Fyb2w=")  # a junk line after a real command: no longer an exchange
    assert [x.split(": ", 1)[1] for x in log.lines if x.startswith("<")] == [
        "AUTH LOGIN", MASK, MASK, "RSET", "Y2Fyb2w="]


def test_control_characters_and_bad_utf8_are_logged_as_question_marks() -> None:
    log = Recorder()
    Dialogue(log, "p", we_are_client=False).client_line(b"HELO a\rb\x1b[31m\xff")
    assert log.lines == ["< p: HELO a?b?[31m?"]


def test_a_line_buffer_keeps_a_reply_line_split_across_reads() -> None:
    buffer = LineBuffer()
    assert buffer.feed(b"250-first\r\n250 sec") == [b"250-first"]
    assert buffer.feed(b"ond\r\n") == [b"250 second"]
    assert buffer.feed(b"") == []
