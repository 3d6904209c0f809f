"""The Prometheus endpoint of the real daemon: a mixed workload, then exact counts over HTTP.

The workload is test_pflogsumm's (sent in clear, sent after STARTTLS, deferred and bounced by
the smarthost, rejected at RCPT by the relay), so the counts below can be read off
tests/golden/maillog/postfix-workload.log -- what the community exporter would count on
Postfix's own log -- plus the daemon's start-up probe (one connection that says QUIT).
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import trustme
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.daemon import Daemon, free_ports
from tests.e2e.smarthost import SmartHost
from tests.e2e.test_pflogsumm import MAIN_CF, SMARTHOST_RULES, S, send_all

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int, path: str = "/metrics") -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def wait_for_scrape(port: int, timeout: float = 20) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return scrape(port)
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def tls_files(root: Path) -> str:
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    cert = ca.issue_cert("relay.corp.local", key_type=trustme.KeyType.RSA)
    cert.private_key_pem.write_to_path(str(root / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
    return (f"smtpd_tls_cert_file = {root / 'cert.pem'}\n"
            f"smtpd_tls_key_file = {root / 'key.pem'}\n")


def start(root: Path, running: list[Daemon | SmartHost], extra: str = "",
          workers: int = 2) -> tuple[Daemon, int, int]:
    """The relay (with a smarthost) and its metrics port, both on free ports."""
    smtp, smarthost, metrics = free_ports(3)
    running.append(SmartHost(root, smarthost, rules=SMARTHOST_RULES).start())
    main_cf = (MAIN_CF + f"relayhost = [127.0.0.1]:{smarthost}\n" + tls_files(root)
               + extra.format(metrics=metrics))
    daemon = Daemon(root, main_cf, f"127.0.0.1:{smtp} {S}\n", [smtp], workers=workers,
                    deliver=True)
    running.append(daemon.start())
    return daemon, smtp, metrics


def workload(daemon: Daemon, smtp: int) -> None:
    send_all(smtp)
    daemon.wait_for_log(r"removed", count=4)
    daemon.wait_for_log(r"status=deferred", count=1)


def listening_ports(daemon: Daemon) -> set[int]:
    """The TCP ports that a process of the daemon's session listens on."""
    assert daemon.proc is not None
    listening = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":
                listening[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getsid(int(pid)) != daemon.proc.pid:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:[") and target[8:-1] in listening:
                    found.add(listening[target[8:-1]])
        except OSError:
            continue
    return found


METRICS = "metrics_http_address = 127.0.0.1:{metrics}\n"


def test_the_workload_is_counted_under_the_exporters_names_and_ours(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    daemon, smtp, port = start(tmp_path, running, METRICS)
    workload(daemon, smtp)
    m = wait_for_scrape(port)
    assert value(m, "postfix_smtpd_connects_total") == 6  # five messages and the probe
    assert value(m, "postfix_smtpd_disconnects_total") == 6
    assert value(m, "postfix_smtpd_messages_processed_total", sasl_method="") == 4
    assert value(m, "postfix_smtpd_messages_rejected_total", code="554") == 1
    assert value(m, "postfix_cleanup_messages_processed_total") == 5  # and the bounce
    assert value(m, "postfix_qmgr_messages_inserted_size_bytes_count") == 5
    assert value(m, "postfix_qmgr_messages_inserted_receipients_bucket", le="1.0") == 5
    assert value(m, "postfix_qmgr_messages_removed_total") == 4
    for stage in ("before_queue_manager", "queue_manager", "connection_setup", "transmission"):
        assert value(m, "postfix_smtp_delivery_delay_seconds_count", stage=stage) == 5
    assert value(m, "postfix_smtp_status_deferred") == 1
    assert value(m, "postfix_smtpd_tls_connections_total", trust="Anonymous",
                 protocol="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", secret_bits="256",
                 algorithm_bits="256") == 1
    assert value(m, "mailrelay_tls_sessions_total", direction="in", protocol="TLSv1.3") == 1
    assert value(m, "mailrelay_deliveries_total", service="smtp", status="sent") == 3
    assert value(m, "mailrelay_deliveries_total", service="smtp", status="deferred") == 1
    assert value(m, "mailrelay_deliveries_total", service="smtp", status="bounced") == 1
    assert value(m, "mailrelay_delivery_delay_seconds_count", relay="127.0.0.1",
                 status="sent") == 3
    assert value(m, "mailrelay_smtpd_connections") == 0
    # The queue, at scrape time: the deferred message.
    assert value(m, "postfix_up", path=str(daemon.spool)) == 1
    assert value(m, "postfix_showq_message_size_bytes_count", queue="deferred") == 1
    assert value(m, "postfix_showq_message_size_bytes_count", queue="active") == 0
    assert value(m, "mailrelay_queue_messages", queue="deferred", age="0-5m") == 1


def test_open_connections_are_counted_while_they_last(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    daemon, smtp, port = start(tmp_path, running, METRICS)
    clients = [socket.create_connection(("127.0.0.1", smtp)) for _ in range(3)]
    try:
        for c in clients:
            assert c.recv(512).startswith(b"220")
        daemon.wait_for_log(r"connect from", count=4)
        assert value(wait_for_scrape(port), "mailrelay_smtpd_connections") == 3
    finally:
        for c in clients:
            c.close()
    daemon.wait_for_log(r"disconnect from", count=4)
    assert value(scrape(port), "mailrelay_smtpd_connections") == 0


def test_other_paths_are_not_found(tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    _, _, port = start(tmp_path, running, METRICS, workers=1)
    wait_for_scrape(port)
    try:
        scrape(port, "/")
    except urllib.error.HTTPError as e:
        assert e.code == 404
    else:
        raise AssertionError("/ answered")


def test_with_metrics_off_nothing_but_smtpd_listens(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    daemon, smtp, _ = start(tmp_path, running)
    workload(daemon, smtp)
    assert listening_ports(daemon) == {smtp}
    assert not (daemon.spool / "pid" / "metrics").exists()


def test_with_metrics_on_the_endpoint_listens_beside_smtpd(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    daemon, smtp, port = start(tmp_path, running, METRICS, workers=1)
    wait_for_scrape(port)
    assert listening_ports(daemon) == {smtp, port}


def test_a_reload_keeps_the_counters_and_a_new_address_moves_the_endpoint(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    daemon, smtp, port = start(tmp_path, running, METRICS)
    workload(daemon, smtp)
    before = wait_for_scrape(port)
    assert daemon.command("reload").returncode == 0
    daemon.wait_for_log(r"master\[\d+\]: reload -- version ")
    after = wait_for_scrape(port)
    for name in ("postfix_smtpd_connects_total", "postfix_qmgr_messages_removed_total",
                 "postfix_smtp_status_deferred"):
        assert value(after, name) == value(before, name)
    new_port = free_ports(1)[0]
    daemon.append_main_cf(f"metrics_http_address = 127.0.0.1:{new_port}\n")
    assert daemon.command("reload").returncode == 0
    daemon.wait_for_log(r"master\[\d+\]: reload -- version ", count=2)
    moved = wait_for_scrape(new_port)
    assert value(moved, "postfix_smtpd_connects_total") == value(before,
                                                                  "postfix_smtpd_connects_total")
    deadline = time.monotonic() + 20
    while port in listening_ports(daemon) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listening_ports(daemon) == {smtp, new_port}


def test_an_address_in_use_is_logged_naming_the_parameter_and_taken_once_free(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    try:
        daemon, _, _ = start(tmp_path, running, f"metrics_http_address = 127.0.0.1:{busy}\n",
                             workers=1)
        line = daemon.wait_for_log(r"metrics\[\d+\]: warning: bind ")[0]
    finally:
        taken.close()
    assert line.endswith(f"warning: bind 127.0.0.1 port {busy}: Address already in use "
                         f"(metrics_http_address = 127.0.0.1:{busy}): no metrics; trying "
                         "again in 10s")
    assert value(wait_for_scrape(busy, timeout=30), "postfix_smtpd_connects_total") == 1
    assert "exit status" not in daemon.maillog()  # the child was never restarted


def test_outgoing_tls_sessions_are_counted_by_trust_and_protocol(
        tmp_path: Path, running: list[Daemon | SmartHost]) -> None:
    smtp, smarthost, port = free_ports(3)
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "smarthost.pem"))
    running.append(SmartHost(tmp_path, smarthost, cert=str(tmp_path / "smarthost.pem"),
                             keywords=["PIPELINING", "STARTTLS"]).start())
    main_cf = (f"relayhost = [127.0.0.1]:{smarthost}\nsmtp_tls_security_level = encrypt\n"
               f"smtp_tls_CAfile = {tmp_path}/ca.pem\nsmtp_tls_loglevel = 1\n"
               f"metrics_http_address = 127.0.0.1:{port}\n")
    daemon = Daemon(tmp_path, main_cf, f"127.0.0.1:{smtp} {S}\n", [smtp], workers=1,
                    deliver=True)
    running.append(daemon.start())
    with smtplib.SMTP("127.0.0.1", smtp, timeout=20) as client:
        client.sendmail("alice@corp.local", ["bob@example.com"], "Subject: tls\r\n\r\nHi.\r\n")
    line = daemon.wait_for_log(r"smtp\[\d+\]: \w+ TLS connection established to ")[0]
    daemon.wait_for_log(r"removed")
    m = wait_for_scrape(port)
    logged = re.search(r": (\w+) TLS connection established to \S+: (\S+) with ", line)
    assert logged
    trust, protocol = logged.groups()
    found = {labels: v for (name, labels), v in m.items()
             if name == "postfix_smtp_tls_connections_total"}
    assert [(dict(labels)["trust"], dict(labels)["protocol"], v)
            for labels, v in found.items()] == [(trust, protocol, 1.0)]
    assert trust == "Trusted"
    assert value(m, "mailrelay_tls_sessions_total", direction="out", protocol=protocol) == 1
    assert value(m, "mailrelay_deliveries_total", service="smtp", status="sent") == 1
