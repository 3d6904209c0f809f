"""The smtp delivery agent against real loopback servers: routing over several servers,
connection reuse, content conversion, and the texts of what goes wrong."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from smtp_server_support import ScriptedServer, free_port, scripted_server

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.delivery.dns import LookupFailure, MxResolver, Target
from mailrelay.delivery.smtp import SmtpAgent
from mailrelay.qmgr.request import DeliveryRecipient, DeliveryRequest, RecipientResult, Status
from mailrelay.queue.record import Envelope, Recipient
from mailrelay.route.nexthop import Nexthop

CONTENT = b"From: s@corp.local\r\nTo: a@example.com\r\nSubject: test\r\n\r\nhello\r\n"
MAIN_CF = """\
myhostname = relay.corp.local
smtp_connect_timeout = 1s
smtp_helo_timeout = 1s
smtp_mail_timeout = 1s
smtp_rcpt_timeout = 1s
smtp_data_init_timeout = 1s
smtp_data_xfer_timeout = 2s
smtp_data_done_timeout = 1s
"""


def config(extra: str = "") -> Config:
    return Config(parse_main_cf(MAIN_CF + extra, "main.cf"), "/etc/mailrelay")


def make_request(nexthop: str, *recipients: str, content: bytes = CONTENT,
                 fallback: Sequence[str] = (), body_type: str = "", smtputf8: bool = False,
                 sender: str = "s@corp.local", queue_id: str = "4XQUEUEID",
                 arrival: float | None = None) -> DeliveryRequest:
    rcpts = tuple(DeliveryRecipient(i, a, f"rfc822;{a}")
                  for i, a in enumerate(recipients or ("a@example.com",)))
    envelope = Envelope(sender, tuple(Recipient(r.address) for r in rcpts),
                        time.time() if arrival is None else arrival, body_type=body_type,
                        smtputf8=smtputf8)
    return DeliveryRequest(queue_id, "smtp", nexthop, sender, rcpts, envelope, len(content),
                           tuple(fallback))


class Agent:
    """An SmtpAgent with its log, closed at the end of the test."""

    def __init__(self, extra: str = "", resolver: Any = None) -> None:
        cfg = config(extra)
        self.log: list[str] = []
        self.agent = SmtpAgent.from_config(cfg, self.log.append,
                                           resolver=resolver or MxResolver.from_config(cfg))

    async def deliver(self, request: DeliveryRequest,
                      content: bytes = CONTENT) -> list[RecipientResult]:
        return await self.agent.deliver(request, content)

    async def __aenter__(self) -> Agent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.agent.close()


def statuses(results: list[RecipientResult]) -> list[tuple[str, str]]:
    return [(r.status.value, r.dsn) for r in results]


# -- several servers --------------------------------------------------------------------------


async def test_the_next_nexthop_host_is_tried_when_the_first_refuses_the_connection():
    dead = free_port()
    async with scripted_server() as good, Agent() as agent:
        results = await agent.deliver(make_request(f"[127.0.0.1]:{dead}, [127.0.0.1]:{good.port}"))
    assert statuses(results) == [("sent", "2.0.0")]
    assert results[0].relay == f"127.0.0.1[127.0.0.1]:{good.port}"
    assert agent.log == [f"connect to 127.0.0.1[127.0.0.1]:{dead}: Connection refused"]


async def test_a_4xx_moves_on_to_the_next_host_and_is_logged_not_deferred():
    async with scripted_server({"mail": "451 4.3.0 later"}) as busy, \
            scripted_server() as good, Agent() as agent:
        results = await agent.deliver(make_request(
            f"[127.0.0.1]:{busy.port}, [127.0.0.1]:{good.port}", "a@x", "b@x"))
    assert statuses(results) == [("sent", "2.0.0"), ("sent", "2.0.0")]
    assert agent.log == ["4XQUEUEID: host 127.0.0.1[127.0.0.1] said: 451 4.3.0 later (in reply "
                         "to MAIL FROM command)"]


async def test_a_5xx_is_final_even_when_more_hosts_remain():
    async with scripted_server({"mail": "550 5.7.1 no"}) as strict, \
            scripted_server() as good, Agent() as agent:
        results = await agent.deliver(make_request(
            f"[127.0.0.1]:{strict.port}, [127.0.0.1]:{good.port}"))
    assert statuses(results) == [("bounced", "5.7.1")]
    assert good.sessions == []


async def test_recipients_deferred_by_one_host_are_offered_to_the_next():
    async with scripted_server({"rcpt:b@x": "450 4.2.0 greylisted"}) as first, \
            scripted_server() as second, Agent() as agent:
        results = await agent.deliver(make_request(
            f"[127.0.0.1]:{first.port}, [127.0.0.1]:{second.port}", "a@x", "b@x"))
    assert [(r.status, r.relay.rsplit(":", 1)[1]) for r in results] == [
        (Status.SENT, str(first.port)), (Status.SENT, str(second.port))]
    assert [c for c in second.commands if c.startswith("RCPT")] == [
        "RCPT TO:<b@x> ORCPT=rfc822;b@x"]


async def test_a_5xx_greeting_is_skipped_for_the_next_host():
    async with scripted_server({"greeting": "554 5.3.2 no"}) as first, \
            scripted_server() as second, Agent() as agent:
        results = await agent.deliver(make_request(
            f"[127.0.0.1]:{first.port}, [127.0.0.1]:{second.port}"))
    assert statuses(results) == [("sent", "2.0.0")]
    assert agent.log == ["4XQUEUEID: host 127.0.0.1[127.0.0.1] refused to talk to me: "
                         "554 5.3.2 no"]
    assert first.sessions[0].commands == ["QUIT"]


async def test_the_fallback_relay_takes_the_mail_when_the_nexthop_is_down():
    dead = free_port()
    async with scripted_server() as fallback, Agent() as agent:
        results = await agent.deliver(make_request(
            f"[127.0.0.1]:{dead}", fallback=[f"[127.0.0.1]:{fallback.port}"]))
    assert statuses(results) == [("sent", "2.0.0")]


async def test_when_every_server_fails_the_last_failure_is_the_reason():
    dead = free_port()
    async with scripted_server({"greeting": "421 4.3.2 fallback busy"}) as fallback, \
            Agent() as agent:
        results = await agent.deliver(make_request(
            f"[127.0.0.1]:{dead}", fallback=[f"[127.0.0.1]:{fallback.port}"]))
    [result] = results
    assert (result.status, result.dsn, result.relay) == (
        Status.DEFERRED, "4.3.2", f"127.0.0.1[127.0.0.1]:{fallback.port}")
    assert result.reason == ("host 127.0.0.1[127.0.0.1] refused to talk to me: 421 4.3.2 "
                             "fallback busy")


class FailingResolver:
    def __init__(self, failure: LookupFailure) -> None:
        self.failure = failure

    async def targets(self, nexthop: Nexthop, default_port: int) -> list[Target]:
        raise self.failure


async def test_a_relayhost_that_does_not_resolve_is_a_configuration_problem_not_a_bounce():
    failure = LookupFailure("Host or domain name not found. Name service error for "
                            "name=smtp.invalid type=A: Host not found", "5.4.4")
    async with Agent("relayhost = [smtp.invalid]:587\n", FailingResolver(failure)) as agent:
        [result] = await agent.deliver(make_request("[smtp.invalid]:587"))
    assert (result.status, result.dsn, result.relay) == (Status.DEFERRED, "4.3.5", "none")
    assert result.reason == failure.reason
    assert agent.log == ["warning: relayhost configuration problem"]


async def test_a_destination_that_does_not_resolve_bounces_with_the_lookup_text():
    failure = LookupFailure("Host or domain name not found. Name service error for "
                            "name=example.invalid type=MX: Host not found", "5.4.4")
    async with Agent("", FailingResolver(failure)) as agent:
        [result] = await agent.deliver(make_request("example.invalid"))
    assert (result.status, result.dsn, result.reason) == (Status.BOUNCED, "5.4.4",
                                                         failure.reason)


class ListResolver:
    def __init__(self, *ports: int) -> None:
        self.ports = ports

    async def targets(self, nexthop: Nexthop, default_port: int) -> list[Target]:
        return [Target(f"mx{i}.example.com", "127.0.0.1", port, 10 * i)
                for i, port in enumerate(self.ports)]


async def test_mx_hosts_are_tried_in_order_and_named_by_their_host_name():
    async with scripted_server({"greeting": "421 4.3.2 busy"}) as first, \
            scripted_server() as second, Agent("", ListResolver(0, 0)) as agent:
        agent.agent._resolver = ListResolver(first.port, second.port)  # type: ignore[assignment]
        [result] = await agent.deliver(make_request("example.com"))
    assert result.relay == f"mx1.example.com[127.0.0.1]:{second.port}"
    assert result.remote_mta == "dns; mx1.example.com"


async def test_smtp_mx_session_limit_stops_after_that_many_sessions():
    async with scripted_server({"mail": "451 4.3.0 later"}) as one, \
            scripted_server({"mail": "451 4.3.0 later"}) as two, \
            scripted_server() as three, Agent("smtp_mx_session_limit = 2\n") as agent:
        agent.agent._resolver = ListResolver(one.port, two.port, three.port)  # type: ignore
        [result] = await agent.deliver(make_request("example.com"))
    assert (result.status, result.relay) == (Status.DEFERRED,
                                             f"mx1.example.com[127.0.0.1]:{two.port}")
    assert three.sessions == []


# -- connection reuse -------------------------------------------------------------------------


async def test_a_cached_connection_carries_the_next_delivery_after_an_rset_probe():
    async with scripted_server() as server:
        async with Agent("smtp_connection_cache_destinations = 127.0.0.1\n") as agent:
            first = await agent.deliver(make_request(f"[127.0.0.1]:{server.port}", "a@x"))
            second = await agent.deliver(make_request(f"[127.0.0.1]:{server.port}", "b@x"))
        await asyncio.sleep(0.1)
    assert statuses(first + second) == [("sent", "2.0.0")] * 2
    assert [r.conn_use for r in first + second] == [1, 2]  # qmgr logs conn_use=2
    assert len(server.sessions) == 1
    commands = server.sessions[0].commands
    assert commands[:5] == ["EHLO relay.corp.local", "MAIL FROM:<s@corp.local> SIZE=63",
                            "RCPT TO:<a@x> ORCPT=rfc822;a@x", "DATA", "<data>"]
    assert commands[5:] == ["RSET", "MAIL FROM:<s@corp.local> SIZE=63",
                            "RCPT TO:<b@x> ORCPT=rfc822;b@x", "DATA", "<data>", "QUIT"]


async def test_without_caching_each_delivery_has_its_own_connection_and_quits():
    async with scripted_server() as server, Agent() as agent:
        await agent.deliver(make_request(f"[127.0.0.1]:{server.port}"))
        await agent.deliver(make_request(f"[127.0.0.1]:{server.port}"))
    assert [s.commands[-1] for s in server.sessions] == ["QUIT", "QUIT"]


async def test_an_idle_cached_connection_is_closed_without_quit_after_the_time_limit():
    extra = ("smtp_connection_cache_destinations = 127.0.0.1\n"
             "smtp_connection_cache_time_limit = 1s\n")
    async with scripted_server() as server, Agent(extra) as agent:
        await agent.deliver(make_request(f"[127.0.0.1]:{server.port}"))
        await asyncio.sleep(1.3)
        assert server.sessions[0].ending == "eof"
        assert server.sessions[0].commands[-1] == "<data>"


async def test_the_reuse_count_limit_retires_a_connection():
    extra = ("smtp_connection_cache_destinations = 127.0.0.1\n"
             "smtp_connection_reuse_count_limit = 1\n")
    async with scripted_server() as server, Agent(extra) as agent:
        for _ in range(3):
            await agent.deliver(make_request(f"[127.0.0.1]:{server.port}"))
    # Used once, reused once (then QUIT), then a new connection.
    assert [s.commands.count("<data>") for s in server.sessions] == [2, 1]
    assert server.sessions[0].commands[-1] == "QUIT"


async def test_concurrent_deliveries_to_one_destination_keep_connections_on_demand():
    async with scripted_server() as server, Agent() as agent:
        nexthop = f"[127.0.0.1]:{server.port}"
        await asyncio.gather(*(agent.deliver(make_request(nexthop)) for _ in range(3)))
        await agent.deliver(make_request(nexthop))
    assert sum(s.commands.count("<data>") for s in server.sessions) == 4
    assert any("RSET" in s.commands for s in server.sessions)


async def test_a_cached_connection_that_died_is_replaced_by_a_new_one():
    extra = "smtp_connection_cache_destinations = 127.0.0.1\n"
    async with scripted_server() as server, Agent(extra) as agent:
        await agent.deliver(make_request(f"[127.0.0.1]:{server.port}"))
        server.script["rset"] = "421 4.4.2 gone"
        [result] = await agent.deliver(make_request(f"[127.0.0.1]:{server.port}"))
    assert result.status is Status.SENT and len(server.sessions) == 2


# -- content ----------------------------------------------------------------------------------

EIGHT_BIT = (b"From: s@corp.local\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
             b"Gr\xc3\xbc\xc3\x9fe\r\n.\r\n")


async def test_8bit_mail_is_converted_for_a_server_without_8bitmime():
    async with scripted_server({"ehlo_keywords": ["PIPELINING", "SIZE 1000"]}) as server, \
            Agent() as agent:
        [result] = await agent.deliver(
            make_request(f"[127.0.0.1]:{server.port}", content=EIGHT_BIT, body_type="8BITMIME"),
            EIGHT_BIT)
    assert result.status is Status.SENT
    assert server.commands[1] == "MAIL FROM:<s@corp.local>"
    assert server.sessions[0].messages == [
        b"From: s@corp.local\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8"
        b"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe\r\n..\r\n.\r\n"]


async def test_8bit_mail_goes_unchanged_with_body_8bitmime_to_a_server_that_takes_it():
    async with scripted_server() as server, Agent() as agent:
        await agent.deliver(make_request(f"[127.0.0.1]:{server.port}", content=EIGHT_BIT,
                                         body_type="8BITMIME"), EIGHT_BIT)
    assert server.commands[1] == f"MAIL FROM:<s@corp.local> SIZE={len(EIGHT_BIT)} BODY=8BITMIME"
    assert server.sessions[0].messages[0].endswith(b"Gr\xc3\xbc\xc3\x9fe\r\n..\r\n.\r\n")


async def test_disable_mime_output_conversion_sends_8bit_as_it_is():
    async with scripted_server({"ehlo_keywords": ["PIPELINING"]}) as server, \
            Agent("disable_mime_output_conversion = yes\n") as agent:
        await agent.deliver(make_request(f"[127.0.0.1]:{server.port}", content=EIGHT_BIT,
                                         body_type="8BITMIME"), EIGHT_BIT)
    assert b"Content-Transfer-Encoding: 8bit" in server.sessions[0].messages[0]


async def test_too_deeply_nested_mime_bounces_when_it_must_be_converted():
    nested = b"Content-Transfer-Encoding: 8bit\r\n" + b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(5))
    async with scripted_server({"ehlo_keywords": ["PIPELINING"]}) as server, \
            Agent("mime_nesting_limit = 2\n") as agent:
        [result] = await agent.deliver(make_request(f"[127.0.0.1]:{server.port}",
                                                    content=nested, body_type="8BITMIME"),
                                       nested)
    assert (result.status, result.dsn, result.reason) == (
        Status.BOUNCED, "5.6.0", "MIME nesting exceeds safety limit")


async def test_smtputf8_mail_bounces_at_a_server_without_smtputf8():
    async with scripted_server({"ehlo_keywords": ["PIPELINING", "8BITMIME"]}) as server, \
            Agent() as agent:
        [result] = await agent.deliver(make_request(f"[127.0.0.1]:{server.port}",
                                                    "jörg@example.com", smtputf8=True))
    assert (result.status, result.dsn, result.reason) == (
        Status.BOUNCED, "5.6.7",
        "SMTPUTF8 is required, but was not offered by host 127.0.0.1[127.0.0.1]")
    assert server.commands == ["EHLO relay.corp.local", "QUIT"]


async def test_smtputf8_is_passed_on_to_a_server_that_offers_it():
    async with scripted_server() as server, Agent() as agent:
        [result] = await agent.deliver(make_request(f"[127.0.0.1]:{server.port}",
                                                    "jörg@example.com", smtputf8=True))
    assert result.status is Status.SENT
    assert server.commands[1].endswith(" SMTPUTF8")


async def test_long_lines_are_folded_on_the_wire():
    content = b"Subject: x\r\n\r\n" + b"y" * 1500 + b"\r\n"
    async with scripted_server() as server, Agent() as agent:
        await agent.deliver(make_request(f"[127.0.0.1]:{server.port}", content=content),
                            content)
    lines = server.sessions[0].messages[0].split(b"\r\n")
    assert lines[2:4] == [b"y" * 998, b" " + b"y" * 502]


async def test_a_connection_dropped_during_a_large_message_defers_it():
    content = b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 5000
    async with scripted_server({"drop_in_data": True}) as server, Agent() as agent:
        [result] = await agent.deliver(make_request(f"[127.0.0.1]:{server.port}",
                                                    content=content), content)
    assert (result.status, result.dsn) == (Status.DEFERRED, "4.4.2")
    assert result.reason in (
        "lost connection with 127.0.0.1[127.0.0.1] while sending message body",
        "lost connection with 127.0.0.1[127.0.0.1] while sending end of data -- message may "
        "be sent more than once")


# -- the session ------------------------------------------------------------------------------


async def test_the_helo_name_and_bind_address_come_from_the_configuration():
    extra = "smtp_helo_name = client.corp.local\nsmtp_bind_address = 127.0.0.1\n"
    async with scripted_server() as server, Agent(extra) as agent:
        await agent.deliver(make_request(f"[127.0.0.1]:{server.port}"))
    assert server.commands[0] == "EHLO client.corp.local"


async def test_times_are_reported_for_the_delays_field():
    async with scripted_server() as server, Agent() as agent:
        [result] = await agent.deliver(make_request(f"[127.0.0.1]:{server.port}"))
    assert 0 <= result.setup_time < 1 and 0 <= result.transmit_time < 1


async def test_a_bad_nexthop_defers_instead_of_crashing():
    async with Agent() as agent:
        [result] = await agent.deliver(make_request("[127.0.0.1"))
    assert (result.status, result.dsn) == (Status.DEFERRED, "4.3.5")
    assert "missing ']'" in result.reason


async def test_close_quits_the_cached_connections():
    server = ScriptedServer()
    await server.start()
    try:
        agent = Agent("smtp_connection_cache_destinations = 127.0.0.1\n")
        await agent.deliver(make_request(f"[127.0.0.1]:{server.port}"))
        await agent.agent.close()
        await asyncio.sleep(0.1)
        assert server.sessions[0].commands[-1] == "QUIT"
    finally:
        await server.stop()


# -- Postfix's own test server ----------------------------------------------------------------


async def start_smtp_sink(dump: Path, *options: str) -> tuple[asyncio.subprocess.Process, int]:
    """smtp-sink on a free port of the range, dumping messages into *dump*."""
    port = free_port()
    # As root smtp-sink must drop privileges: the dump directory must be theirs to write.
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    process = await asyncio.create_subprocess_exec(
        "smtp-sink", *options, *user, "-d", f"{dump}/%H%M%S.", f"127.0.0.1:{port}", "10",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    for _ in range(50):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return process, port
    process.kill()
    raise RuntimeError("smtp-sink did not start")


@pytest.mark.skipif(shutil.which("smtp-sink") is None, reason="Postfix's smtp-sink is not "
                    "installed (apt-get install postfix)")
async def test_smtp_sink_without_8bitmime_receives_the_converted_message():
    dump = Path(tempfile.mkdtemp(prefix="mailrelay-sink-"))
    dump.chmod(0o777)
    process, port = await start_smtp_sink(dump, "-8")
    try:
        async with Agent() as agent:
            results = await agent.deliver(
                make_request(f"[127.0.0.1]:{port}", "a@example.com", "b@example.com",
                             content=EIGHT_BIT, body_type="8BITMIME"), EIGHT_BIT)
        await asyncio.sleep(0.2)
        [message] = list(dump.iterdir())
        text = message.read_bytes()
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
        shutil.rmtree(dump)
    assert [(r.status, r.reason) for r in results] == [(Status.SENT, "250 2.0.0 Ok")] * 2
    assert b"X-Mail-Args: <s@corp.local>\n" in text
    assert (b"X-Rcpt-Args: <a@example.com> ORCPT=rfc822;a@example.com\n"
            b"X-Rcpt-Args: <b@example.com> ORCPT=rfc822;b@example.com\n") in text
    # The lone "." of the content arrives unstuffed.
    assert b"Content-Transfer-Encoding: quoted-printable\n\nGr=C3=BC=C3=9Fe\n.\n" in text


async def test_soft_bounce_defers_what_would_bounce_and_tries_the_next_host():
    async with scripted_server({"rcpt": "550 5.1.1 <a@x>: User unknown"}) as first, \
            scripted_server({"rcpt": "550 5.1.1 <a@x>: User unknown"}) as second, \
            Agent("soft_bounce = yes\n") as agent:
        [result] = await agent.deliver(make_request(
            f"[127.0.0.1]:{first.port}, [127.0.0.1]:{second.port}", "a@x"))
    # As Postfix: "dsn=4.1.1, status=SOFTBOUNCE (host ... said: 550 5.1.1 ...)".
    assert (result.status, result.dsn) == (Status.DEFERRED, "4.1.1")
    assert result.soft_bounced  # qmgr logs status=SOFTBOUNCE
    assert result.reason.endswith("550 5.1.1 <a@x>: User unknown (in reply to RCPT TO command)")
    assert len(second.sessions) == 1
