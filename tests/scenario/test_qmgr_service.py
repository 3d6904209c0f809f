"""qmgr over a real queue directory, with stand-in delivery agents that answer as scripted.

The agents are the only stand-ins: the store, the files, the triggers and the scheduling are
the real ones, so these scenarios show what happens to queue files (and the log) when
deliveries succeed, fail temporarily, fail for good, or a destination is down.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.mastercf import default_master
from mailrelay.config.model import Config
from mailrelay.maillog.writer import MailLog
from mailrelay.qmgr.request import DeliveryRequest, RecipientResult, Status
from mailrelay.qmgr.service import QmgrService
from mailrelay.queue.record import Envelope, Notify, Recipient
from mailrelay.queue.store import LogKind, Queue, QueueStore

MAIN_CF = """\
compatibility_level = 3.6
myhostname = relay.corp.local
mydomain = corp.local
myorigin = $mydomain
mydestination = $myhostname, localhost
alias_maps =
relayhost = [127.0.0.1]:2526
"""
CONTENT = b"From: a@corp.local\r\nSubject: t\r\n\r\nbody\r\n"

Answer = Callable[[DeliveryRequest], list[RecipientResult]]


class Agent:
    """Answers each request with *answer*; remembers what it was asked."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[DeliveryRequest] = []

    async def deliver(self, request: DeliveryRequest, content: bytes) -> list[RecipientResult]:
        assert content == CONTENT
        self.requests.append(request)
        return self.answer(request)

    async def close(self) -> None:
        pass


def sent(request: DeliveryRequest) -> list[RecipientResult]:
    return [RecipientResult(r.index, Status.SENT, "2.0.0", "250 2.0.0 Ok: queued as X",
                            "127.0.0.1[127.0.0.1]:2526") for r in request.recipients]


def refused(request: DeliveryRequest) -> list[RecipientResult]:
    return [RecipientResult(r.index, Status.DEFERRED, "4.4.1",
                            "connect to 127.0.0.1[127.0.0.1]:2526: Connection refused")
            for r in request.recipients]


class Harness:
    def __init__(self, root: Path, extra: str = "") -> None:
        self.store = QueueStore(root / "spool")
        self.store.create_directories()
        self.logfile = root / "maillog"
        text = MAIN_CF + f"maillog_file = {self.logfile}\nmaillog_file_prefixes = {root}\n"
        self.config = Config(parse_main_cf(text + extra, "main.cf"), str(root))
        self.maillog = MailLog.from_config(self.config)
        self.service = QmgrService(self.config, default_master(str(root / "master.cf")),
                                   self.store, self.maillog)

    def agent(self, answer: Answer, name: str = "smtp") -> Agent:
        agent = Agent(answer)
        self.service.transports.install(name, agent)
        return agent

    def enqueue(self, *recipients: str, sender: str = "alice@corp.local",
                arrival: float | None = None) -> str:
        env = Envelope(sender, tuple(Recipient(r, f"rfc822;{r}") for r in recipients),
                       arrival if arrival is not None else time.time())
        return self.store.enqueue(env, CONTENT)

    def log(self) -> str:
        return self.logfile.read_text() if self.logfile.exists() else ""

    async def run_until(self, done: Callable[[], bool], timeout: float = 5.0) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(self.service.run(stop))
        deadline = time.monotonic() + timeout
        try:
            while not done():
                assert time.monotonic() < deadline, self.log()
                await asyncio.sleep(0.01)
        finally:
            stop.set()
            await task

    def ids(self, queue: Queue) -> list[str]:
        return sorted(self.store.ids(queue))


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


async def test_a_delivered_message_is_removed_and_logged_as_postfix_does(
        harness: Harness) -> None:
    agent = harness.agent(sent)
    queue_id = harness.enqueue("bob@example.com")
    await harness.run_until(lambda: "removed" in harness.log())
    assert harness.ids(Queue.INCOMING) == harness.ids(Queue.ACTIVE) == []
    [request] = agent.requests
    assert (request.transport, request.nexthop) == ("smtp", "[127.0.0.1]:2526")
    log = harness.log()
    assert f"postfix/qmgr[{os.getpid()}]: {queue_id}: from=<alice@corp.local>, size=" \
        f"{len(CONTENT)}, nrcpt=1 (queue active)" in log
    assert f"postfix/smtp[{os.getpid()}]: {queue_id}: to=<bob@example.com>, relay=127.0.0.1" \
        "[127.0.0.1]:2526, delay=" in log
    assert "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as X)" in log
    assert f"{queue_id}: removed" in log


async def test_a_temporary_failure_defers_with_the_reason_and_the_next_attempt_time(
        harness: Harness) -> None:
    harness.agent(refused)
    queue_id = harness.enqueue("bob@example.com")
    await harness.run_until(lambda: bool(harness.ids(Queue.DEFERRED)))
    assert harness.ids(Queue.DEFERRED) == [queue_id]
    log = harness.store.read_log(LogKind.DEFER, queue_id)
    assert log is not None
    [entry] = log.entries
    assert (entry.address, entry.status, entry.action) == ("bob@example.com", "4.4.1", "delayed")
    assert entry.reason == "connect to 127.0.0.1[127.0.0.1]:2526: Connection refused"
    mtime = harness.store.stat(Queue.DEFERRED, queue_id).mtime
    assert 250 < mtime - time.time() <= 300  # minimal_backoff_time for a young message


async def test_partial_delivery_marks_done_and_the_retry_asks_only_for_the_rest(
        tmp_path: Path) -> None:
    harness = Harness(tmp_path, "queue_run_delay = 1s\nminimal_backoff_time = 1s\n"
                                "maximal_backoff_time = 1s\n")
    calls = 0

    def first_one_only(request: DeliveryRequest) -> list[RecipientResult]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return [*sent(request)[:1], *refused(request)[1:]]
        return sent(request)

    agent = harness.agent(first_one_only)
    harness.enqueue("one@example.com", "two@example.com")
    await harness.run_until(lambda: "removed" in harness.log(), timeout=8)
    assert [[r.address for r in q.recipients] for q in agent.requests] == [
        ["one@example.com", "two@example.com"], ["two@example.com"]]


async def test_the_recipient_limit_splits_a_message_into_several_requests(
        tmp_path: Path) -> None:
    harness = Harness(tmp_path, "default_destination_recipient_limit = 2\n")
    agent = harness.agent(sent)
    harness.enqueue(*(f"u{n}@example.com" for n in range(5)))
    await harness.run_until(lambda: "removed" in harness.log())
    assert sorted(len(r.recipients) for r in agent.requests) == [1, 2, 2]


async def test_a_message_left_in_active_by_a_crash_is_delivered_at_start(
        harness: Harness) -> None:
    agent = harness.agent(sent)
    queue_id = harness.enqueue("bob@example.com")
    harness.store.move(Queue.INCOMING, queue_id, Queue.ACTIVE)
    await harness.run_until(lambda: "removed" in harness.log())
    assert len(agent.requests) == 1


async def test_a_trigger_delivers_new_mail_without_waiting_for_a_scan(harness: Harness) -> None:
    from mailrelay.queue import trigger

    agent = harness.agent(sent)
    stop = asyncio.Event()
    task = asyncio.create_task(harness.service.run(stop))
    await asyncio.sleep(0.1)  # the startup scans are over: only the trigger can name it
    queue_id = harness.enqueue("bob@example.com")
    assert trigger.send(harness.store.directory, trigger.QMGR,
                        trigger.INCOMING + queue_id.encode())
    started = time.monotonic()
    while "removed" not in harness.log():
        assert time.monotonic() - started < 2, "the trigger was not heard"
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert len(agent.requests) == 1


async def test_a_dead_destination_defers_the_waiting_mail_without_an_attempt(
        tmp_path: Path) -> None:
    harness = Harness(tmp_path, "initial_destination_concurrency = 1\n")
    agent = harness.agent(refused)
    first = harness.enqueue("a@example.com")
    second = harness.enqueue("b@example.com")
    await harness.run_until(lambda: len(harness.ids(Queue.DEFERRED)) == 2)
    assert len(agent.requests) == 1  # the second waited for the window, then found it dead
    waited = second if agent.requests[0].queue_id == first else first
    assert (f"{waited}: to=<{'b' if waited == second else 'a'}@example.com>, relay=none, "
            in harness.log())
    assert ("status=deferred (delivery temporarily suspended: connect to "
            "127.0.0.1[127.0.0.1]:2526: Connection refused)") in harness.log()


async def test_an_unknown_transport_defers_with_mail_transport_unavailable(
        tmp_path: Path) -> None:
    harness = Harness(tmp_path, "transport_maps = inline:{ example.com=nosuch: }\n")
    queue_id = harness.enqueue("bob@example.com")
    await harness.run_until(lambda: queue_id in harness.ids(Queue.DEFERRED))
    assert "status=deferred (mail transport unavailable)" in harness.log()


@pytest.mark.parametrize("flush", [b"F", b"F{id}", b"Sexample.com"])
async def test_a_flush_trigger_retries_deferred_mail_before_its_time(
        harness: Harness, flush: bytes) -> None:
    from mailrelay.queue import trigger

    agent = harness.agent(sent)
    queue_id = harness.enqueue("bob@example.com")
    harness.store.move(Queue.INCOMING, queue_id, Queue.DEFERRED)
    later = time.time() + 3600
    os.utime(harness.store.path(Queue.DEFERRED, queue_id), (later, later))
    stop = asyncio.Event()
    task = asyncio.create_task(harness.service.run(stop))
    await asyncio.sleep(0.1)
    assert agent.requests == []  # not due: the startup scan left it alone
    trigger.send(harness.store.directory, trigger.QMGR,
                 flush.replace(b"{id}", queue_id.encode()))
    started = time.monotonic()
    while "removed" not in harness.log():
        assert time.monotonic() - started < 2, "the flush was not heard"
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert len(agent.requests) == 1


async def test_a_message_deleted_during_its_delivery_is_not_resurrected(
        harness: Harness) -> None:
    def delete_then_defer(request: DeliveryRequest) -> list[RecipientResult]:
        harness.store.remove(Queue.ACTIVE, request.queue_id)  # postsuper -d meanwhile
        return refused(request)

    harness.agent(delete_then_defer)
    harness.enqueue("bob@example.com")
    await harness.run_until(lambda: "removed" in harness.log())
    assert harness.ids(Queue.DEFERRED) == harness.ids(Queue.ACTIVE) == []


async def test_a_reused_connection_is_logged_with_conn_use(harness: Harness) -> None:
    def reused(request: DeliveryRequest) -> list[RecipientResult]:
        return [RecipientResult(r.index, Status.SENT, "2.0.0", "250 2.0.0 Ok",
                                "127.0.0.1[127.0.0.1]:2526", conn_use=2)
                for r in request.recipients]

    harness.agent(reused)
    harness.enqueue("bob@example.com")
    await harness.run_until(lambda: "removed" in harness.log())
    assert "relay=127.0.0.1[127.0.0.1]:2526, conn_use=2, delay=" in harness.log()


async def test_notify_success_with_a_relayed_action_queues_a_success_notice(
        harness: Harness) -> None:
    def relayed(request: DeliveryRequest) -> list[RecipientResult]:
        return [RecipientResult(r.index, Status.SENT, "2.0.0", "250 2.0.0 Ok",
                                "127.0.0.1[127.0.0.1]:2526", action="relayed")
                for r in request.recipients]

    harness.agent(relayed)
    env = Envelope("alice@corp.local", (Recipient("bob@example.com", "rfc822;bob@example.com",
                                                  Notify.SUCCESS),), time.time())
    queue_id = harness.store.enqueue(env, CONTENT)
    await harness.run_until(lambda: f"{queue_id}: removed" in harness.log())
    assert f"{queue_id}: sender delivery status notification: " in harness.log()
    assert harness.ids(Queue.INCOMING) or "from=<>, size=" in harness.log()


async def test_defer_transports_wait_for_a_flush(tmp_path: Path) -> None:
    from mailrelay.queue import trigger

    harness = Harness(tmp_path, "defer_transports = smtp\n")
    agent = harness.agent(sent)
    queue_id = harness.enqueue("bob@example.com")
    stop = asyncio.Event()
    task = asyncio.create_task(harness.service.run(stop))
    while queue_id not in harness.ids(Queue.DEFERRED):
        await asyncio.sleep(0.01)
    assert agent.requests == []
    assert (f"postfix/error[{os.getpid()}]: {queue_id}: to=<bob@example.com>, relay=none, "
            in harness.log())
    assert "dsn=4.3.2, status=deferred (deferred transport)" in harness.log()
    trigger.send(harness.store.directory, trigger.QMGR, trigger.FLUSH)
    started = time.monotonic()
    while "removed" not in harness.log():
        assert time.monotonic() - started < 2, "the flush did not deliver"
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert len(agent.requests) == 1


async def test_soft_bounce_defers_a_bounce_and_logs_softbounce(tmp_path: Path) -> None:
    harness = Harness(tmp_path, "soft_bounce = yes\n")

    def unknown(request: DeliveryRequest) -> list[RecipientResult]:
        return [RecipientResult(r.index, Status.BOUNCED, "5.1.1", "host h[1.2.3.4] said: 550 "
                                "5.1.1 unknown (in reply to RCPT TO command)", "h[1.2.3.4]:25")
                for r in request.recipients]

    harness.agent(unknown)
    queue_id = harness.enqueue("bob@example.com")
    await harness.run_until(lambda: queue_id in harness.ids(Queue.DEFERRED))
    assert "dsn=4.1.1, status=SOFTBOUNCE (host h[1.2.3.4] said: 550 5.1.1 unknown" \
        in harness.log()
    assert "notification" not in harness.log()


async def test_an_agent_that_cannot_start_defers_its_mail_and_is_tried_again(
        tmp_path: Path) -> None:
    harness = Harness(tmp_path, "smtp_sasl_auth_enable = yes\n"
                                f"smtp_sasl_password_maps = hash:{tmp_path}/missing\n")
    queue_id = harness.enqueue("bob@example.com")
    await harness.run_until(lambda: queue_id in harness.ids(Queue.DEFERRED))
    assert "warning: smtp: cannot start the delivery agent: " in harness.log()
    assert "status=deferred (mail transport unavailable)" in harness.log()


async def test_a_delivery_that_fails_unexpectedly_leaves_no_file_in_active(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(recipient: str, sender: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(harness.service.ctx.routes, "resolve", broken)
    queue_id = harness.enqueue("bob@example.com")
    await harness.run_until(lambda: queue_id in harness.ids(Queue.DEFERRED))
    assert harness.ids(Queue.ACTIVE) == []
    assert f"warning: {queue_id}: delivery failed: RuntimeError('a bug')" in harness.log()
    assert harness.store.stat(Queue.DEFERRED, queue_id).mtime > time.time() + 250


def enqueue_filtered(harness: Harness, content_filter: str, *recipients: str) -> str:
    env = Envelope("alice@corp.local", tuple(Recipient(r, f"rfc822;{r}") for r in recipients),
                   time.time(), attributes=(("content_filter", content_filter),))
    return harness.store.enqueue(env, CONTENT)


async def test_a_content_filter_takes_every_recipient_whatever_the_routing_says(
        tmp_path: Path) -> None:
    harness = Harness(tmp_path, "transport_maps = inline:{ example.org=relay: }\n")
    agent = harness.agent(sent)
    queue_id = enqueue_filtered(harness, "smtp:[127.0.0.1]:10024",
                                "bob@example.com", "carol@example.org", "root@relay.corp.local")
    await harness.run_until(lambda: f"{queue_id}: removed" in harness.log())
    [request] = agent.requests
    assert (request.transport, request.nexthop) == ("smtp", "[127.0.0.1]:10024")
    assert [r.address for r in request.recipients] == [
        "bob@example.com", "carol@example.org", "root@relay.corp.local"]


async def test_a_filter_without_nexthop_goes_to_each_recipient_domain(
        harness: Harness) -> None:
    agent = harness.agent(sent)
    queue_id = enqueue_filtered(harness, "smtp:", "bob@example.com", "carol@example.org")
    await harness.run_until(lambda: f"{queue_id}: removed" in harness.log())
    assert sorted(r.nexthop for r in agent.requests) == ["example.com", "example.org"]


async def test_a_filter_on_an_unknown_transport_is_deferred_as_postfix_logs_it(
        harness: Harness) -> None:
    queue_id = enqueue_filtered(harness, "bogus:[127.0.0.1]:10024", "z@example.com")
    await harness.run_until(lambda: queue_id in harness.ids(Queue.DEFERRED))
    log = harness.log()
    assert "warning: connect to transport private/bogus: No such file or directory" in log
    assert (f"postfix/error[{os.getpid()}]: {queue_id}: to=<z@example.com>, relay=none, "
            in log)
    assert "dsn=4.3.0, status=deferred (mail transport unavailable)" in log
