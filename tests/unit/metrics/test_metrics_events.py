"""Which metric updates a log line means: the community exporter's rules, on Postfix's lines."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from mailrelay.metrics import events
from mailrelay.metrics.events import Op, Update, parse

GOLDEN = Path(__file__).parents[2] / "golden"
_PREFIX = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ postfix/(\w+)\[\d+\]: (.*)$")


def golden_lines(name: str = "maillog/postfix-workload.log") -> list[tuple[str, str]]:
    found = []
    for line in (GOLDEN / name).read_text().splitlines():
        m = _PREFIX.match(line)
        assert m, line
        found.append((m.group(1), m.group(2)))
    return found


def totals(lines: list[tuple[str, str]]) -> Counter[tuple[str, tuple[str, ...]]]:
    """INC updates summed per (metric, labels); observations counted once each."""
    count: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for daemon, text in lines:
        for u in parse(daemon, text):
            count[(u.metric, u.labels)] += 1 if u.op is Op.OBSERVE else int(
                u.value if u.op is Op.INC else -u.value)
    return count


def test_postfixs_workload_log_counts_what_the_exporter_counts() -> None:
    lines = golden_lines()
    count = totals(lines)
    smtpd = [text for daemon, text in lines if daemon == "smtpd"]
    assert count[(events.SMTPD_CONNECTS, ())] == sum(t.startswith("connect from") for t in smtpd)
    assert count[(events.SMTPD_CONNECTS, ())] == 5
    assert count[(events.SMTPD_DISCONNECTS, ())] == 5
    assert count[(events.SMTPD_PROCESSED, ("",))] == 4
    assert count[(events.SMTPD_REJECTED, ("554",))] == 1
    assert count[(events.CLEANUP_PROCESSED, ())] == 5  # four received, one bounce notice
    assert count[(events.QMGR_INSERTED_SIZE, ())] == 5
    assert count[(events.QMGR_REMOVED, ())] == 4  # the deferred one stays
    assert count[(events.SMTP_STATUS_DEFERRED, ())] == 1
    for stage in events.STAGES:  # one observation per stage per to= line of smtp
        assert count[(events.SMTP_DELAYS, (stage,))] == 5
    tls = ("Anonymous", "TLSv1.3", "TLS_AES_256_GCM_SHA384", "256", "256")
    assert count[(events.SMTPD_TLS, tls)] == 1


def test_only_bounces_lines_are_left_unsupported_in_postfixs_workload_log() -> None:
    count = totals(golden_lines())
    unsupported = {labels: n for (metric, labels), n in count.items()
                   if metric == events.UNSUPPORTED}
    assert unsupported == {("bounce",): 1}


def test_our_delivery_metrics_count_every_to_line_by_status_and_relay_host() -> None:
    count = totals(golden_lines())
    assert count[(events.DELIVERIES, ("smtp", "sent"))] == 3
    assert count[(events.DELIVERIES, ("smtp", "deferred"))] == 1
    assert count[(events.DELIVERIES, ("smtp", "bounced"))] == 1
    assert count[(events.DELIVERY_DELAY, ("127.0.0.1", "sent"))] == 3
    assert count[(events.TLS_SESSIONS, ("in", "TLSv1.3"))] == 1
    # Connections: every connect is matched by a disconnect, so none is open at the end.
    assert count[(events.CONNECTIONS, ())] == 0


def test_a_delivery_line_observes_its_four_delays_and_its_total_delay() -> None:
    text = ("6D86D20E403: to=<defer@example.com>, relay=mx.example.com[192.0.2.1]:25, "
            "conn_use=2, delay=12, delays=0.5/1.25/3/7.25, dsn=4.2.0, status=deferred (x)")
    found = parse("smtp", text)
    delays = [(u.labels[0], u.value) for u in found if u.metric == events.SMTP_DELAYS]
    assert delays == [("before_queue_manager", 0.5), ("queue_manager", 1.25),
                      ("connection_setup", 3.0), ("transmission", 7.25)]
    assert Update(events.SMTP_STATUS_DEFERRED) in found
    assert Update(events.DELIVERY_DELAY, ("mx.example.com", "deferred"), Op.OBSERVE,
                  12.0) in found


def test_delivery_lines_of_other_agents_count_as_ours_but_unsupported_by_the_exporter() -> None:
    text = ("ABCDEF0123: to=<a@b>, relay=none, delay=0.1, delays=0/0/0/0.1, dsn=5.0.0, "
            "status=bounced (unknown user)")
    assert parse("error", text) == (
        Update(events.UNSUPPORTED, ("error",)),
        Update(events.DELIVERIES, ("error", "bounced")),
        Update(events.DELIVERY_DELAY, ("none", "bounced"), Op.OBSERVE, 0.1))


def test_lost_connections_are_counted_by_stage_only_when_the_exporter_matches_them() -> None:
    endings = json.loads((GOLDEN / "maillog" / "endings.json").read_text())
    texts = [t for t in json.dumps(endings).split('"') if t.startswith("lost connection")]
    assert texts  # the fixture has them
    found = {text: parse("smtpd", text)[0] for text in texts}
    assert found["lost connection after CONNECT from localhost[127.0.0.1]"] == Update(
        events.SMTPD_LOST, ("CONNECT",))
    # "after DATA (19 bytes) from": the exporter's pattern wants the word then " from ".
    assert found["lost connection after DATA (19 bytes) from localhost[127.0.0.1]"] == Update(
        events.UNSUPPORTED, ("smtpd",))


def test_the_smtp_clients_tls_lines_count_by_trust_protocol_and_cipher() -> None:
    cases = (GOLDEN / "smtp_tls" / "established.cases").read_text()
    lines = [line[5:] for line in cases.splitlines() if line.startswith("log: ")]
    assert lines
    for text in lines:
        found = parse("smtp", text.replace("@PORT@", "25"))
        trust, protocol = text.split()[0], text.split(": ")[1].split()[0]
        assert found[0].metric == events.SMTP_TLS
        assert found[0].labels[:2] == (trust, protocol)
        assert found[1] == Update(events.TLS_SESSIONS, ("out", protocol))


def test_smtpd_sasl_fcrdns_and_timeouts_follow_the_exporters_patterns() -> None:
    # The exporter's \S+ takes the comma before sasl_username too; kept, so both agree.
    assert parse("smtpd", "4A1B2C3D4E: client=h[192.0.2.1], sasl_method=PLAIN, "
                 "sasl_username=u") == (Update(events.SMTPD_PROCESSED, ("PLAIN,",)),)
    assert parse("smtpd", "4A1B2C3D4E: client=h[192.0.2.1], sasl_method=LOGIN") == (
        Update(events.SMTPD_PROCESSED, ("LOGIN",)),)
    assert parse("smtpd", "warning: h[192.0.2.1]: SASL PLAIN authentication failed: "
                 "authentication failure") == (Update(events.SMTPD_SASL_FAILURES),)
    assert parse("smtpd", "warning: hostname x.example does not resolve to address "
                 "192.0.2.1") == (Update(events.SMTPD_FCRDNS_ERRORS),)
    assert parse("smtp", "connect to mx.example[192.0.2.1]:25: Connection timed out") == (
        Update(events.SMTP_TIMED_OUT),)
    assert parse("cleanup", "4A1B2C3D4E: reject: header X from h; from=<a> to=<b>: no") == (
        Update(events.CLEANUP_REJECTED),)


def test_a_connect_raises_the_current_connections_and_a_disconnect_lowers_them() -> None:
    assert Update(events.CONNECTIONS) in parse("smtpd", "connect from h[192.0.2.1]")
    assert Update(events.CONNECTIONS, op=Op.DEC) in parse(
        "smtpd", "disconnect from h[192.0.2.1] quit=1 commands=1")
