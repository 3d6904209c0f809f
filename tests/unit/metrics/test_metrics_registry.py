"""The metric objects: the exporter's names, labels and buckets, updated by log lines."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mailrelay.metrics import events
from mailrelay.metrics.registry import LOG_METRIC_NAMES, TIME_BUCKETS, Metrics

DELIVERY = ("6D86D20E403: to=<defer@example.com>, relay=127.0.0.1[127.0.0.1]:3452, "
            "delay=0.02, delays=0/0/0.01/0, dsn=4.2.0, status=deferred (try later)")


def metrics() -> tuple[Metrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return Metrics(registry), registry


def test_connects_and_rejects_count_under_the_exporters_names_and_labels() -> None:
    m, registry = metrics()
    m.record("smtpd", "connect from localhost[127.0.0.1]")
    m.record("smtpd", "connect from localhost[127.0.0.1]")
    m.record("smtpd", "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 <a@b>: no")
    m.record("smtpd", "disconnect from localhost[127.0.0.1] quit=1 commands=1")
    assert registry.get_sample_value("postfix_smtpd_connects_total") == 2
    assert registry.get_sample_value("postfix_smtpd_disconnects_total") == 1
    assert registry.get_sample_value("postfix_smtpd_messages_rejected_total",
                                     {"code": "554"}) == 1
    assert registry.get_sample_value("mailrelay_smtpd_connections") == 1


def test_a_deferral_fills_the_stage_histograms_with_the_exporters_buckets() -> None:
    m, registry = metrics()
    m.record("smtp", DELIVERY)
    setup = {"stage": "connection_setup"}
    assert registry.get_sample_value("postfix_smtp_delivery_delay_seconds_count", setup) == 1
    assert registry.get_sample_value("postfix_smtp_delivery_delay_seconds_sum", setup) == 0.01
    assert registry.get_sample_value("postfix_smtp_delivery_delay_seconds_bucket",
                                     {**setup, "le": "0.01"}) == 1
    assert registry.get_sample_value("postfix_smtp_delivery_delay_seconds_bucket",
                                     {**setup, "le": "0.001"}) == 0
    assert registry.get_sample_value("postfix_smtp_status_deferred") == 1
    assert registry.get_sample_value("mailrelay_deliveries_total",
                                     {"service": "smtp", "status": "deferred"}) == 1
    assert registry.get_sample_value("mailrelay_delivery_delay_seconds_count",
                                     {"relay": "127.0.0.1", "status": "deferred"}) == 1
    assert TIME_BUCKETS[-1] == 2 * 86400


def test_every_name_the_log_metrics_expose_is_listed() -> None:
    m, registry = metrics()
    for daemon, text in [("smtpd", "connect from h[192.0.2.1]"), ("smtp", DELIVERY)]:
        m.record(daemon, text)
    exposed = {family.name for family in
               text_string_to_metric_families(generate_latest(registry).decode())
               if not family.name.endswith("_created")}  # single-process only
    listed = {name.removesuffix("_total") for name in LOG_METRIC_NAMES}
    assert exposed == listed
    assert "postfix_qmgr_messages_inserted_receipients" in LOG_METRIC_NAMES  # sic, as there


def test_an_update_that_fails_never_reaches_the_writer_of_the_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    m, registry = metrics()
    wrong = events.Update(events.SMTPD_REJECTED, ("554", "extra label"))
    monkeypatch.setattr(events, "parse", lambda daemon, text: (wrong,))
    m.record("smtpd", "NOQUEUE: reject: ...")  # raises nothing
    monkeypatch.undo()
    m.apply(events.Update(events.SMTPD_CONNECTS))
    assert registry.get_sample_value("postfix_smtpd_connects_total") == 1
