"""smtpd's dialogue lines from the state machine, compared with Postfix's own
(tests/golden/debug_peer/smtpd_session.log, smtpd_auth.log, smtp_client.log)."""

from __future__ import annotations

from pathlib import Path

from mailrelay.maillog.debug_peer import MASK, Dialogue
from mailrelay.maillog.smtpd_chat import ChattyConnection
from mailrelay.smtp import ServerSettings
from mailrelay.smtp.events import ConnectionClosed, MessageComplete, NeedData

GOLDEN = Path(__file__).parents[2] / "golden" / "debug_peer"
PEER = "localhost[127.0.0.1]"


def golden(name: str) -> list[str]:
    """The dialogue lines of a capture, without the syslog prefix."""
    lines = []
    for line in (GOLDEN / name).read_text().splitlines():
        text = line.split("]: ", 1)[1]
        if text[:2] in ("< ", "> "):
            lines.append(text)
    return lines


def run(conn: ChattyConnection, data: bytes | None) -> None:
    if data is not None:
        conn.receive_data(data)
    while True:
        event = conn.next_event()
        conn.data_to_send()
        if isinstance(event, NeedData | ConnectionClosed):
            return
        if conn.pending is not None:
            conn.accept(queue_id="B296821224D" if isinstance(event, MessageComplete) else None)


def test_a_session_logs_the_lines_postfix_logs_and_never_the_content() -> None:
    lines: list[str] = []
    settings = ServerSettings(myhostname="relay.corp.local",
                              banner="relay.corp.local ESMTP Postfix", error_sleep_time=0)
    conn = ChattyConnection(settings, PEER, Dialogue(lines.append, PEER, we_are_client=False))
    run(conn, None)
    run(conn, b"EHLO vm\r\n")
    run(conn, b"MAIL FROM:<sender@corp.local>\r\nRCPT TO:<rcpt@example.com>\r\n"
              b"DATA\r\n")
    run(conn, b"Subject: x\r\n\r\nhello body line\r\n.\r\nQUIT\r\n")
    expected = [x for x in golden("smtpd_session.log") if "-AUTH " not in x]  # no SASL here
    assert lines == expected
    assert not any("hello body line" in x for x in lines)


def replay(name: str, we_are_client: bool) -> tuple[list[str], list[str]]:
    """Postfix's dialogue lines through a Dialogue: (Postfix's, ours)."""
    theirs = golden(name)
    ours: list[str] = []
    client_sign = ">" if we_are_client else "<"
    label = theirs[0].split(" ", 1)[1].split(": ", 1)[0]
    dialogue = Dialogue(ours.append, label, we_are_client=we_are_client)
    for text in theirs:
        sign, rest = text.split(" ", 1)
        line = rest.split(": ", 1)[1].encode()
        if sign == client_sign:
            dialogue.client_line(line)
        else:
            dialogue.server_line(line)
    return theirs, ours


def test_postfixs_smtpd_auth_dialogue_is_reproduced_with_the_secrets_masked() -> None:
    theirs, ours = replay("smtpd_auth.log", we_are_client=False)
    assert len(ours) == len(theirs)
    differ = [(t, o) for t, o in zip(theirs, ours, strict=True) if t != o]
    assert differ == [
        (f"< {PEER}: AUTH PLAIN AGFsaWNlAFNlY3IzdFNlcnZlclB3", f"< {PEER}: AUTH PLAIN {MASK}"),
        (f"< {PEER}: YWxpY2U=", f"< {PEER}: {MASK}"),
        (f"< {PEER}: U2VjcjN0U2VydmVyUHc=", f"< {PEER}: {MASK}"),
    ]


def test_postfixs_smtp_client_dialogue_is_reproduced_with_the_secret_masked() -> None:
    theirs, ours = replay("smtp_client.log", we_are_client=True)
    relay = "127.0.0.1[127.0.0.1]:26101"
    differ = [(t, o) for t, o in zip(theirs, ours, strict=True) if t != o]
    assert differ == [(f"> {relay}: AUTH PLAIN AGJvYgBDbDFlbnRTZWNyZXRQdw==",
                       f"> {relay}: AUTH PLAIN {MASK}")]
    assert f"< {relay}: 250 " in ours  # smtp-sink's empty last EHLO line, kept as sent
