"""contrib/grafana-dashboard.json: valid JSON whose every query names metrics that exist."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mailrelay.metrics.queue_collector import QUEUE_METRIC_NAMES
from mailrelay.metrics.registry import LOG_METRIC_NAMES

DASHBOARD = Path(__file__).parents[3] / "contrib" / "grafana-dashboard.json"
_NAME = re.compile(r"\b(?:postfix|mailrelay)_[a-z0-9_]+\b")
#: The series a histogram exposes beside its name.
_SUFFIXES = ("", "_bucket", "_sum", "_count")


def exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr":
                yield value
            elif key == "query" and isinstance(value, dict):
                yield value["query"]
            else:
                yield from exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from exprs(item)


def exposed() -> set[str]:
    return {name + suffix for name in (*LOG_METRIC_NAMES, *QUEUE_METRIC_NAMES)
            for suffix in _SUFFIXES}


def test_the_dashboard_is_valid_json_with_panels_that_query() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["panels"]
    assert all(panel["targets"] for panel in dashboard["panels"])


def test_every_metric_the_dashboard_queries_exists() -> None:
    queried = {name for expr in exprs(json.loads(DASHBOARD.read_text()))
               for name in _NAME.findall(expr)}
    assert queried  # the pattern finds them
    assert queried - exposed() == set()


def test_the_dashboard_shows_queues_deliveries_rejects_delays_connections_and_tls() -> None:
    queried = " ".join(exprs(json.loads(DASHBOARD.read_text())))
    for name in ("mailrelay_queue_messages", "mailrelay_deliveries_total",
                 "postfix_smtpd_messages_rejected_total", "postfix_smtp_delivery_delay_seconds",
                 "mailrelay_delivery_delay_seconds", "mailrelay_smtpd_connections",
                 "mailrelay_tls_sessions_total"):
        assert name in queried, name
