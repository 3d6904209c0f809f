"""error(8), retry and discard(8) against what Postfix 3.7 logged (tests/golden/local)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.delivery.error import DiscardAgent, ErrorAgent, dsn_valid, split_dsn
from mailrelay.qmgr.request import DeliveryRecipient, DeliveryRequest, RecipientResult, Status
from mailrelay.queue.record import Client, Envelope, Recipient

GOLDEN = Path(__file__).parents[2] / "golden" / "local" / "transports.tsv"
CONFIG = Config(parse_main_cf("", "main.cf"), "/etc/postfix")


def golden_rows() -> list[list[str]]:
    lines = GOLDEN.read_text().splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


def request(service: str, nexthop: str, count: int = 1) -> DeliveryRequest:
    addresses = [f"u{i}@example.test" for i in range(count)]
    envelope = Envelope("sender@corp.local", tuple(Recipient(a) for a in addresses), 0.0,
                        Client())
    return DeliveryRequest("4ABCDEF", service, nexthop, "sender@corp.local",
                           tuple(DeliveryRecipient(i, a) for i, a in enumerate(addresses)),
                           envelope, size=10)


def deliver(service: str, nexthop: str, count: int = 1,
            ) -> tuple[list[RecipientResult], list[str]]:
    logged: list[str] = []
    agent = (DiscardAgent.from_config(CONFIG, logged.append) if service == "discard"
             else ErrorAgent.from_config(CONFIG, logged.append))

    async def main() -> list[RecipientResult]:
        try:
            return await agent.deliver(request(service, nexthop, count), b"Subject: x\r\n\r\n")
        finally:
            await agent.close()

    return asyncio.run(main()), logged


@pytest.mark.parametrize(("service", "nexthop", "status", "dsn", "reason", "warning"),
                         golden_rows())
def test_each_transport_says_what_postfix_logged(service: str, nexthop: str, status: str,
                                                 dsn: str, reason: str, warning: str) -> None:
    results, logged = deliver(service, nexthop)
    assert results == [RecipientResult(0, Status(status), dsn, reason, relay="none")]
    assert logged == ([warning] if warning else [])


def test_every_recipient_of_the_request_gets_the_verdict() -> None:
    results, _ = deliver("error", "5.1.2 gone", count=3)
    assert [(r.index, r.status, r.dsn, r.reason) for r in results] == [
        (i, Status.BOUNCED, "5.1.2", "gone") for i in range(3)]


def test_the_retry_service_is_recognised_by_its_name_only() -> None:
    results, _ = deliver("myerror", "4.4.1 later")
    assert (results[0].status, results[0].dsn) == (Status.BOUNCED, "5.0.0")


@pytest.mark.parametrize(("text", "length"), [
    ("5.1.1", 5), ("4.7.1 text", 5), ("2.0.0\tx", 5), ("5.123.456 x", 9),
    ("5.1.1x", 0), ("3.1.1", 0), ("5.1234.1", 0), ("5..1", 0), ("5.1.", 0), ("", 0),
])
def test_enhanced_status_codes_are_recognised_as_postfix_does(text: str, length: int) -> None:
    assert dsn_valid(text) == length


def test_the_code_is_split_from_the_text_with_blanks_around_it_removed() -> None:
    assert split_dsn("  5.7.1   go away ", "5.0.0") == ("5.7.1", "go away ")
    assert split_dsn("go away", "4.0.0") == ("4.0.0", "go away")
