"""The queue at scrape time: showq's size and age histograms per queue, and ours by age."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from mailrelay.metrics.queue_collector import QueueCollector, age_class, cumulative
from mailrelay.queue.record import Envelope, Recipient
from mailrelay.queue.store import Queue, QueueStore

NOW = 1_800_000_000.0


def store_with(tmp_path: Path, messages: list[tuple[float, int, Queue]]) -> QueueStore:
    """A queue holding one message per (age, content size, queue)."""
    store = QueueStore(tmp_path / "spool")
    store.create_directories()
    for age, size, queue in messages:
        envelope = Envelope("a@corp.local", (Recipient("b@example.com"),), NOW - age)
        queue_id = store.enqueue(envelope, b"x" * size)
        if queue is not Queue.INCOMING:
            store.move(Queue.INCOMING, queue_id, queue)
    return store


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_cumulative_buckets_count_a_value_on_a_bound_as_within_it() -> None:
    buckets, total = cumulative([1.0, 10.0, 11.0], (1.0, 10.0))
    assert buckets == [("1.0", 1.0), ("10.0", 2.0), ("+Inf", 3.0)]
    assert total == 22.0


def test_ages_fall_into_the_classes_by_their_upper_bounds() -> None:
    assert [age_class(a) for a in (0, 299, 300, 3599, 3600, 86399, 86400, 432000)] == [
        "0-5m", "0-5m", "5m-1h", "5m-1h", "1h-4h", "4h-1d", "1d-5d", "5d+"]


def test_the_queue_is_reported_per_queue_with_sizes_ages_and_age_classes(
        tmp_path: Path) -> None:
    store = store_with(tmp_path, [(5, 500, Queue.INCOMING), (50, 5000, Queue.DEFERRED),
                                  (7200, 50000, Queue.DEFERRED), (10, 100, Queue.HOLD)])
    registry = CollectorRegistry()
    registry.register(QueueCollector(store, clock=lambda: NOW))
    size = "postfix_showq_message_size_bytes"
    age = "postfix_showq_message_age_seconds"
    assert sample(registry, "postfix_up", path=str(store.directory)) == 1
    assert sample(registry, size + "_count", queue="deferred") == 2
    assert sample(registry, size + "_sum", queue="deferred") == 55000
    assert sample(registry, size + "_bucket", queue="deferred", le="10000.0") == 1
    assert sample(registry, size + "_count", queue="active") == 0
    assert sample(registry, age + "_bucket", queue="incoming", le="10.0") == 1
    assert sample(registry, age + "_bucket", queue="hold", le="10.0") == 1
    assert sample(registry, age + "_bucket", queue="deferred", le="100.0") == 1
    assert sample(registry, age + "_bucket", queue="deferred", le="10000.0") == 2
    messages = "mailrelay_queue_messages"
    assert sample(registry, messages, queue="deferred", age="0-5m") == 1
    assert sample(registry, messages, queue="deferred", age="1h-4h") == 1
    assert sample(registry, messages, queue="incoming", age="0-5m") == 1
    assert sample(registry, messages, queue="maildrop", age="5d+") == 0


def test_an_unreadable_queue_file_is_left_out_and_the_scrape_goes_on(tmp_path: Path) -> None:
    store = store_with(tmp_path, [(5, 500, Queue.DEFERRED)])
    (store.directory / "deferred" / "ABCDEF01234").write_bytes(b"not a queue file")
    registry = CollectorRegistry()
    registry.register(QueueCollector(store, clock=lambda: NOW))
    assert sample(registry, "postfix_showq_message_size_bytes_count", queue="deferred") == 1
    assert sample(registry, "postfix_up", path=str(store.directory)) == 1


def test_a_queue_that_cannot_be_listed_reports_postfix_up_as_zero(tmp_path: Path) -> None:
    store = store_with(tmp_path, [])
    (store.directory / "active").rmdir()
    (store.directory / "active").write_text("a file where a directory should be")
    registry = CollectorRegistry()
    registry.register(QueueCollector(store, clock=lambda: NOW))
    assert sample(registry, "postfix_up", path=str(store.directory)) == 0
