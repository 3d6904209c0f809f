"""content_filter and FILTER end to end: client → ``mailrelay serve`` → the filter or the
relayhost, each a SmartHost; and the classic reinjection smtpd with ``-o content_filter=``
and ``-o receive_override_options``.  What Postfix 3.7 does was captured in
tests/golden/content_filter (see the README there); ports are free ones picked per test.
"""

from __future__ import annotations

import os
import re
import smtplib
import subprocess
from pathlib import Path

from tests.e2e.daemon import MAILRELAY, Daemon, free_ports
from tests.e2e.smarthost import SmartHost

S = "inet n - n - - smtpd"


def send(port: int, subject: str, recipient: str = "x@example.com",
         sender: str = "a@corp.local") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("app1.corp.local")
        client.sendmail(sender, [recipient],
                        f"From: {sender}\r\nSubject: {subject}\r\n\r\nbody\r\n")


def subjects(host: SmartHost) -> list[str]:
    found = []
    for _, content in host.messages():
        m = re.search(rb"^Subject: (.*)\r$", content, re.M)
        assert m is not None
        found.append(m.group(1).decode())
    return found


def hosts(tmp_path: Path, running: list[object], relay_port: int,
          filter_port: int) -> tuple[SmartHost, SmartHost]:
    relayhost = SmartHost(tmp_path, relay_port).start()
    running.append(relayhost)
    filter_host = SmartHost(tmp_path, filter_port).start()
    running.append(filter_host)
    return relayhost, filter_host


def test_a_filter_action_sends_that_message_to_the_filter_and_others_to_the_relayhost(
        tmp_path: Path, running: list[object]) -> None:
    port, relay_port, filter_port = free_ports(3)
    relayhost, filter_host = hosts(tmp_path, running, relay_port, filter_port)
    checks = tmp_path / "header_checks"
    checks.write_text(f"/^Subject: filter me/ FILTER smtp:[127.0.0.1]:{filter_port}\n"
                      "/^Subject: discard me/ DISCARD dropped\n")
    daemon = Daemon(tmp_path, f"relayhost = [127.0.0.1]:{relay_port}\n"
                              f"header_checks = regexp:{checks}\n",
                    f"127.0.0.1:{port} {S}\n", [port], workers=1, deliver=True)
    running.append(daemon.start())
    send(port, "filter me")
    send(port, "plain")
    filter_host.wait_for(1)
    relayhost.wait_for(1)
    assert subjects(filter_host) == ["filter me"]
    assert subjects(relayhost) == ["plain"]
    daemon.wait_for_log(rf"to=<x@example\.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:"
                        rf"{filter_port}, .*status=sent")
    daemon.wait_for_log(rf"to=<x@example\.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:"
                        rf"{relay_port}, .*status=sent")
    daemon.wait_for_log(r": filter: header Subject: filter me from localhost\[127\.0\.0\.1\];"
                        rf" .*: smtp:\[127\.0\.0\.1\]:{filter_port}$")


def test_a_discarded_message_logs_its_message_id_only_when_met_before_the_discard(
        tmp_path: Path, running: list[object]) -> None:
    port, relay_port = free_ports(2)
    checks = tmp_path / "header_checks"
    checks.write_text("/^Subject: discard me/ DISCARD dropped\n")
    daemon = Daemon(tmp_path, f"relayhost = [127.0.0.1]:{relay_port}\n"
                              f"header_checks = regexp:{checks}\n",
                    f"127.0.0.1:{port} {S}\n", [port], workers=1)
    running.append(daemon.start())
    golden = Path(__file__).parents[1] / "golden" / "content_filter"
    for name in ("discard-after-message-id", "discard-no-message-id"):
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo("app1.corp.local")
            client.sendmail("a@corp.local", ["q@example.com"],
                            (golden / f"{name}.eml").read_bytes())
    lines = daemon.wait_for_log(r"postfix/(smtpd|cleanup)\[\d+\]: [0-9A-F]+: ", 5)
    texts = [re.sub(r"^.*?postfix/(\w+)\[\d+\]: [0-9A-F]+: ", r"\1: ", line) for line in lines]
    discard = ("cleanup: discard: header Subject: discard me from localhost[127.0.0.1]; "
               "from=<a@corp.local> to=<q@example.com> proto=ESMTP helo=<app1.corp.local>: "
               "dropped")
    assert texts == ["smtpd: client=localhost[127.0.0.1]", "cleanup: message-id=<early@x>",
                     discard, "smtpd: client=localhost[127.0.0.1]", discard]
    assert daemon.incoming() == []


def test_the_amavis_setup_filters_once_and_the_reinjection_skips_checks_and_mappings(
        tmp_path: Path, running: list[object]) -> None:
    port, reinject, relay_port, filter_port = free_ports(4)
    relayhost, filter_host = hosts(tmp_path, running, relay_port, filter_port)
    checks = tmp_path / "header_checks"
    checks.write_text("/^Subject: reject me/ REJECT not here\n")
    master = (f"127.0.0.1:{port} {S} -o content_filter=smtp:[127.0.0.1]:{filter_port}\n"
              f"127.0.0.1:{reinject} {S} -o content_filter= "
              "-o receive_override_options=no_header_body_checks,no_address_mappings,"
              "no_unknown_recipient_checks,no_milters\n")
    daemon = Daemon(tmp_path, f"relayhost = [127.0.0.1]:{relay_port}\n"
                              f"header_checks = regexp:{checks}\n"
                              "canonical_maps = inline:{ a@corp.local=mapped@corp.local }\n",
                    master, [port, reinject], workers=1, deliver=True)
    running.append(daemon.start())
    send(port, "to the filter", recipient="one@example.com")
    send(port, "second", recipient="two@example.org")
    envelopes = [envelope for envelope, _ in filter_host.wait_for(2)]
    assert {e["mail"].split()[1] for e in envelopes} == {"FROM:<mapped@corp.local>"}
    assert sorted(subjects(filter_host)) == ["second", "to the filter"]
    # What the filter sends back: no checks (REJECT would refuse it), no mapping, relayed.
    send(reinject, "reject me", recipient="one@example.com")
    [(envelope, content)] = relayhost.wait_for(1)
    assert envelope["mail"].startswith("MAIL FROM:<a@corp.local>")
    assert b"Subject: reject me" in content
    assert len(filter_host.messages()) == 2  # the reinjected message was not filtered again


def sendmail(daemon: Daemon, *args: str, stdin: bytes) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("NAME", "MAILRELAY_CONFIG_DIR")}
    done = subprocess.run([MAILRELAY, "-c", str(daemon.etc), "sendmail", *args], input=stdin,
                          capture_output=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr


def test_a_local_submission_that_header_checks_reject_is_bounced_to_its_sender(
        tmp_path: Path, running: list[object]) -> None:
    port, relay_port = free_ports(2)
    relayhost = SmartHost(tmp_path, relay_port).start()
    running.append(relayhost)
    checks = tmp_path / "header_checks"
    checks.write_text("/^Subject: reject me/ REJECT Not wanted here\n")
    daemon = Daemon(tmp_path, f"relayhost = [127.0.0.1]:{relay_port}\n"
                              f"header_checks = regexp:{checks}\n",
                    f"127.0.0.1:{port} {S}\n", [port], workers=1, deliver=True)
    running.append(daemon.start())
    sendmail(daemon, "-f", "a@corp.local", "q@example.com",
             stdin=b"From: a@corp.local\nSubject: reject me\n\nbody\n")
    [(envelope, content)] = relayhost.wait_for(1)
    assert envelope["mail"].startswith("MAIL FROM:<>")
    assert envelope["rcpts"] == ["RCPT TO:<a@corp.local>"]
    assert b"Subject: Undelivered Mail Returned to Sender" in content
    assert b"<q@example.com>: Not wanted here" in content
    assert b"Status: 5.7.1" in content
    assert b"Content-Type: text/rfc822-headers" in content  # the body was never kept
    assert b"\r\nbody\r\n" not in content
    [bounced] = daemon.wait_for_log(r"to=<q@example\.com>, relay=none, .*dsn=5\.7\.1, "
                                    r"status=bounced \(Not wanted here\)")
    queue_id = bounced.split(": ")[1]
    daemon.wait_for_log(rf"{queue_id}: sender non-delivery notification: [0-9A-F]+")
    order = [line.split(": ", 2)[2] for line in daemon.maillog().splitlines()
             if f": {queue_id}: " in line]
    assert order[0] == f"uid={os.getuid()} from=<a@corp.local>"
    assert order[1].startswith("reject: header Subject: reject me from local;")
    assert order[2].startswith("message-id=<")
    assert "corrupt" not in daemon.queued()
