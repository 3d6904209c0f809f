"""The metric objects, and applying `events.Update` values to them.

Imported only when metrics_http_address is set, after the master has pointed
PROMETHEUS_MULTIPROC_DIR at its directory (see :mod:`mailrelay.metrics.multiproc`): then every
process forked from the master writes its own value files there and the endpoint sums them.

The exporter's names, labels and buckets are kept exactly (postfix_exporter.go).  One
difference is forced by the Python client: it exposes every Counter with a ``_total`` suffix,
and the exporter's ``postfix_smtp_status_deferred`` has none, so that one is a Gauge that only
goes up (summed over processes, dead ones included: it counts like a counter).

SECURITY: in multiprocess mode every update writes this process's value files in the
metrics directory (prometheus_client's memory-mapped files; nothing else).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mailrelay.metrics import events
from mailrelay.metrics.events import Op, Update

#: The exporter's delay buckets: 1 ms to 2 days.
TIME_BUCKETS = (1e-3, 1e-2, 1e-1, 1.0, 10, 60, 3600, 86400, 2 * 86400)
SIZE_BUCKETS = (1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9)
RCPT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
TLS_LABELS = ("trust", "protocol", "cipher", "secret_bits", "algorithm_bits")

Metric = Counter | Gauge | Histogram


def _metrics(r: CollectorRegistry | None) -> dict[str, Metric]:
    e = events

    def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> tuple[str, Metric]:
        return name, Counter(name, doc, labels, registry=r)

    def histogram(name: str, doc: str, buckets: tuple[float, ...],
                  labels: tuple[str, ...] = ()) -> tuple[str, Metric]:
        return name, Histogram(name, doc, labels, buckets=buckets, registry=r)

    def gauge(name: str, doc: str, mode: str) -> tuple[str, Metric]:
        return name, Gauge(name, doc, multiprocess_mode=mode, registry=r)  # type: ignore[arg-type]

    return dict([
        counter(e.SMTPD_CONNECTS, "Total number of incoming connections."),
        counter(e.SMTPD_DISCONNECTS, "Total number of incoming disconnections."),
        counter(e.SMTPD_FCRDNS_ERRORS, "Total number of connections for which "
                "forward-confirmed DNS cannot be resolved."),
        counter(e.SMTPD_LOST, "Total number of connections lost.", ("after_stage",)),
        counter(e.SMTPD_PROCESSED, "Total number of messages processed.", ("sasl_method",)),
        counter(e.SMTPD_REJECTED, "Total number of NOQUEUE rejects.", ("code",)),
        counter(e.SMTPD_SASL_FAILURES, "Total number of SASL authentication failures."),
        counter(e.SMTPD_TLS, "Total number of incoming TLS connections.", TLS_LABELS),
        histogram(e.SMTP_DELAYS, "SMTP message processing time in seconds.", TIME_BUCKETS,
                  ("stage",)),
        counter(e.SMTP_TLS, "Total number of outgoing TLS connections.", TLS_LABELS),
        counter(e.SMTP_DEFERRED, "Total number of messages that have been deferred on SMTP."),
        gauge(e.SMTP_STATUS_DEFERRED, "Total number of messages deferred.", "sum"),
        counter(e.SMTP_TIMED_OUT, "Total number of messages that have been deferred on SMTP."),
        histogram(e.QMGR_INSERTED_RCPTS, "Number of receipients per message inserted into the "
                  "mail queues.", RCPT_BUCKETS),
        histogram(e.QMGR_INSERTED_SIZE, "Size of messages inserted into the mail queues in "
                  "bytes.", SIZE_BUCKETS),
        counter(e.QMGR_REMOVED, "Total number of messages removed from mail queues."),
        counter(e.CLEANUP_PROCESSED, "Total number of messages processed by cleanup."),
        counter(e.CLEANUP_REJECTED, "Total number of messages rejected by cleanup."),
        counter(e.UNSUPPORTED, "Log entries that could not be processed.", ("service",)),
        # livesum: a worker that exits takes its open connections with it (the master marks
        # it dead, which drops its file); the sum of the live workers is the current count.
        gauge(e.CONNECTIONS, "Current smtpd client connections.", "livesum"),
        counter(e.TLS_SESSIONS, "TLS sessions established, by direction (in: smtpd, out: "
                "delivery agents) and protocol.", ("direction", "protocol")),
        counter(e.DELIVERIES, "Recipient deliveries by delivery agent and status.",
                ("service", "status")),
        histogram(e.DELIVERY_DELAY, "Total delay from arrival to the end of the delivery "
                  "attempt, by relay host and status, in seconds.", TIME_BUCKETS,
                  ("relay", "status")),
    ])


class Metrics:
    """Every metric the log lines update; `record` is the maillog tap."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._by_name = _metrics(registry)

    def record(self, daemon: str, text: str) -> None:
        try:
            for update in events.parse(daemon, text):
                self.apply(update)
        except Exception:
            # A metrics fault must never cost a log line or a delivery: the tap runs inside
            # MailLog.write, on the mail path of every process.
            pass

    def apply(self, update: Update) -> None:
        metric = self._by_name[update.metric]
        target = metric.labels(*update.labels) if update.labels else metric
        if update.op is Op.OBSERVE:
            target.observe(update.value)  # type: ignore[union-attr]
        elif update.op is Op.DEC:
            target.dec(update.value)  # type: ignore[union-attr]
        else:
            target.inc(update.value)  # type: ignore[union-attr]


#: The names of the log-based metrics (a histogram's base name; a counter's with "_total").
LOG_METRIC_NAMES: tuple[str, ...] = tuple(_metrics(CollectorRegistry()))


def tap(registry: CollectorRegistry | None = None) -> Callable[[str, str], None]:
    return Metrics(registry).record
