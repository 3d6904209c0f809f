"""The queue at scrape time: showq's sizes and ages, as the community exporter reports them.

SECURITY: reads every queue file's head and envelope (read-only, through the queue store).

The exporter asks showq(8) and makes two histograms per queue,
``postfix_showq_message_size_bytes`` and ``postfix_showq_message_age_seconds`` (same buckets
here), plus ``postfix_up`` (1 when showq answered).  mailrelay has no showq service; the
store's own reader, the one ``mailq`` uses, stands in for it.  Ours: ``mailrelay_queue_messages``
counts the messages of each queue per age bucket (non-cumulative, for a stacked graph).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from mailrelay.queue.record import QueueFileError
from mailrelay.queue.showq import QUEUE_ORDER
from mailrelay.queue.store import MessageNotFound, Queue, QueueStore

SIZE_BUCKETS = (1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9)
AGE_BUCKETS = (1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)
#: mailrelay_queue_messages's age buckets: (label, upper bound in seconds).
AGE_CLASSES = (("0-5m", 300.0), ("5m-1h", 3600.0), ("1h-4h", 4 * 3600.0),
               ("4h-1d", 86400.0), ("1d-5d", 5 * 86400.0), ("5d+", float("inf")))

QUEUE_METRIC_NAMES = ("postfix_up", "postfix_showq_message_size_bytes",
                      "postfix_showq_message_age_seconds", "mailrelay_queue_messages")


@dataclass(frozen=True, slots=True)
class QueuedItem:
    queue: str
    size: int
    age: float


def cumulative(values: Iterable[float], bounds: Sequence[float]) -> tuple[list[tuple[str, float]],
                                                                           float]:
    """Prometheus histogram buckets (``le`` label, cumulative count, +Inf last) and the sum."""
    counts = [0] * (len(bounds) + 1)
    total = 0.0
    for value in values:
        counts[bisect.bisect_left(bounds, value)] += 1
        total += value
    buckets, running = [], 0
    for bound, count in zip([*map(_le, bounds), "+Inf"], counts, strict=True):
        running += count
        buckets.append((bound, float(running)))
    return buckets, total


def age_class(age: float) -> str:
    return next(label for label, bound in AGE_CLASSES if age < bound)


def _le(bound: float) -> str:
    return repr(float(bound))


def scan(store: QueueStore, now: float) -> Iterator[QueuedItem]:
    """Every readable message: its queue, content size and age (from its arrival time)."""
    for name in QUEUE_ORDER:
        queue = Queue(name)
        try:
            queue_ids = list(store.ids(queue))
        except FileNotFoundError:
            continue  # a queue that was never made holds nothing
        for queue_id in queue_ids:
            try:
                with store.open(queue, queue_id) as message:
                    arrival = message.envelope.arrival_time or message.stat.st_mtime
                    yield QueuedItem(name, message.size, max(0.0, now - arrival))
            except (MessageNotFound, QueueFileError, OSError):
                continue  # delivered or moved since the listing, or unreadable: not counted


class QueueCollector(Collector):
    def __init__(self, store: QueueStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("postfix_up", "Whether scraping Postfix's metrics was successful.",
                               labels=["path"])
        try:
            items = list(scan(self.store, self.clock()))
        except OSError:
            up.add_metric([str(self.store.directory)], 0.0)
            yield up
            return
        up.add_metric([str(self.store.directory)], 1.0)
        yield up
        yield from self._histograms(items)
        messages = GaugeMetricFamily("mailrelay_queue_messages", "Messages in each queue, by "
                                     "age (time since arrival).", labels=["queue", "age"])
        for name in QUEUE_ORDER:
            ages = [age_class(i.age) for i in items if i.queue == name]
            for label, _ in AGE_CLASSES:
                messages.add_metric([name, label], float(ages.count(label)))
        yield messages

    def _histograms(self, items: list[QueuedItem]) -> Iterator[Metric]:
        size = HistogramMetricFamily("postfix_showq_message_size_bytes",
                                     "Size of messages in Postfix's message queue, in bytes",
                                     labels=["queue"])
        age = HistogramMetricFamily("postfix_showq_message_age_seconds",
                                    "Age of messages in Postfix's message queue, in seconds",
                                    labels=["queue"])
        for name in QUEUE_ORDER:
            mine = [i for i in items if i.queue == name]
            buckets, total = cumulative((i.size for i in mine), SIZE_BUCKETS)
            size.add_metric([name], buckets, total)
            buckets, total = cumulative((i.age for i in mine), AGE_BUCKETS)
            age.add_metric([name], buckets, total)
        yield size
        yield age
