"""The smtp agent against the scenarios Postfix's smtp(8) was put through.

``tests/golden/smtp_client/scenarios.json`` holds, per scenario, the scripted server's
script, the commands Postfix 3.7 sent to it and the status Postfix logged for each
recipient (see the README there).  Here the real :class:`SmtpAgent` meets the same scripted
server on loopback and must send the same commands and reach the same verdicts, word for
word.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from smtp_server_support import free_port, scripted_server

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.delivery.dns import MxResolver
from mailrelay.delivery.smtp import SmtpAgent
from mailrelay.delivery.tls import TlsClient
from mailrelay.qmgr.request import DeliveryRecipient, DeliveryRequest, RecipientResult
from mailrelay.queue.record import Envelope, Notify, Recipient

GOLDEN = Path(__file__).parents[2] / "golden" / "smtp_client" / "scenarios.json"
SCENARIOS: dict[str, Any] = json.loads(GOLDEN.read_text())
ORACLE_PORT = "3101"
CONTENT = b"From: sender@corp.local\r\nTo: rcpt@example.com\r\nSubject: t\r\n\r\nhello\r\n"
QUEUE_ID = "4XQUEUEID"
#: The size of the message the oracle relayed (the size-limit scenario quotes it).
ORACLE_SIZE = 426
#: The DSN requests the oracle's client made (smtplib), as qmgr would hand them over.
ENVELOPES = {
    "dsn-parameters": dict(ret="HDRS", envid="abc+def=x", orcpt="rfc822;orig+x@example.com",
                           notify=Notify.SUCCESS | Notify.FAILURE),
    "dsn-never": dict(ret="FULL", notify=Notify.NEVER),
    "dsn-never-without-dsn-support": dict(ret="FULL", notify=Notify.NEVER),
}
#: Postfix waited 2 s; these tests wait 1 s (the texts do not depend on it).
MAIN_CF = """\
myhostname = relay.corp.local
smtp_connect_timeout = 1s
smtp_helo_timeout = 1s
smtp_mail_timeout = 1s
smtp_rcpt_timeout = 1s
smtp_data_init_timeout = 1s
smtp_data_xfer_timeout = 1s
smtp_data_done_timeout = 1s
smtp_rset_timeout = 1s
smtp_quit_timeout = 1s
"""


def config(extra: str = "") -> Config:
    return Config(parse_main_cf(MAIN_CF + extra, "main.cf"), "/etc/mailrelay")


def recipients_of(scenario: dict[str, Any]) -> list[str]:
    """In the order Postfix sent them (its queue manager sorts them)."""
    sent = [c.partition("<")[2].partition(">")[0] for c in scenario["commands"]
            if c.startswith("RCPT TO:")]
    return sent or list(scenario["recipients"])


def request(name: str, nexthop: str, recipients: list[str]) -> DeliveryRequest:
    dsn = ENVELOPES.get(name, {})
    # "-old-mail": queued long ago (Postfix's capture flushed it after a first deferral).
    arrival = time.time() - (3600 if name.endswith("-old-mail") else 0)
    rcpts = tuple(
        DeliveryRecipient(i, address, str(dsn.get("orcpt", f"rfc822;{address}")),
                          Notify(dsn.get("notify", Notify.NONE)))
        for i, address in enumerate(recipients))
    envelope = Envelope("sender@corp.local", tuple(Recipient(r.address) for r in rcpts),
                        arrival, dsn_ret=str(dsn.get("ret", "")),
                        dsn_envid=str(dsn.get("envid", "")))
    return DeliveryRequest(QUEUE_ID, "relay", nexthop, "sender@corp.local", rcpts, envelope,
                           ORACLE_SIZE)


def normalized_commands(commands: list[str]) -> list[str]:
    out = []
    for command in commands:
        if command.startswith("** "):
            continue  # the server's own doings
        command = re.sub(r"^<\d+ bytes of data>$", "<data>", command)
        out.append(re.sub(r"SIZE=\d+", "SIZE={size}", command))
    return out


async def run(name: str) -> tuple[list[RecipientResult], list[str], list[str], str]:
    scenario = SCENARIOS[name]
    recipients = recipients_of(scenario)
    logs: list[str] = []
    cfg = config("".join(f"{line}\n" for line in scenario.get("settings", [])))
    agent = SmtpAgent.from_config(cfg, logs.append, resolver=MxResolver.from_config(cfg),
                                  tls=TlsClient.from_config(cfg))
    if scenario["server"] is None:
        port = str(free_port())
        results = await agent.deliver(request(name, f"[127.0.0.1]:{port}", recipients),
                                      CONTENT)
        commands: list[str] = []
    else:
        async with scripted_server(scenario["server"]) as server:
            port = str(server.port)
            results = await agent.deliver(request(name, f"[127.0.0.1]:{port}", recipients),
                                          CONTENT)
            await agent.close()
            commands = [c for session in server.sessions for c in [*session.commands, "<close>"]]
            commands = commands[:-1]
    await agent.close()
    return results, commands, logs, port


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_the_agent_does_what_postfix_did(name: str):
    scenario = SCENARIOS[name]
    results, commands, logs, port = await run(name)
    recipients = recipients_of(scenario)
    got = {recipients[r.index]: (r.status.value, r.dsn, r.reason, r.relay) for r in results}
    expected = {
        address: (want["status"], want["dsn"],
                  want["reason"].replace(f":{ORACLE_PORT}", f":{port}"),
                  want["relay"].replace(f":{ORACLE_PORT}", f":{port}"))
        for address, want in scenario["results"].items()}
    assert got == expected
    assert normalized_commands(commands) == normalized_commands(scenario["commands"])
    assert logs == [line.replace(f":{ORACLE_PORT}", f":{port}").replace("{queue_id}", QUEUE_ID)
                    for line in scenario["log"]]


async def test_results_carry_the_diagnostic_code_and_remote_mta_of_the_reply():
    [result], _, _, _ = await run("rcpt-5xx")
    assert result.diagnostic == "smtp; 550 5.1.1 <rcpt@example.com>: User unknown"
    assert result.remote_mta == "dns; 127.0.0.1"
    [sent], _, _, _ = await run("delivered")
    assert sent.diagnostic == "smtp; 250 2.0.0 Ok: queued as SCRIPTED1"
    assert sent.transmit_time >= 0 and sent.setup_time >= 0


async def test_local_findings_have_no_remote_mta():
    [result], _, _, _ = await run("greeting-silence")
    assert (result.diagnostic, result.remote_mta) == ("", "")
    [refused], _, _, _ = await run("connection-refused")
    assert (refused.relay, refused.diagnostic, refused.remote_mta) == ("none", "", "")


async def test_a_garbled_reply_under_pipelining_is_warned_about_as_postfix_does():
    _, _, logs, port = await run("rcpt-garbage-line")
    assert logs == [
        f"warning: 4XQUEUEID: non-ESMTP response from 127.0.0.1[127.0.0.1]:{port}: garbage here",
        "warning: to prevent loss of mail, turn off command pipelining for 127.0.0.1 with the "
        "smtp_discard_ehlo_keyword_address_maps parameter"]
