"""Mail leaves the relay: ``mailrelay serve`` → qmgr → smtp → a real SMTP server on loopback.

The smarthost is tests/e2e/smarthost.py in a subprocess: it records what it receives (the
exact bytes, and every byte sent to it in clear) and answers as each test scripts it.
"""

from __future__ import annotations

import re
import smtplib
import subprocess
from pathlib import Path

import pytest
import trustme

from tests.e2e.daemon import MAILRELAY, Daemon, free_ports
from tests.e2e.dns_server import DnsServer
from tests.e2e.smarthost import SmartHost

S = "inet n - n - - smtpd"
#: Retries within a test's patience: Postfix's arithmetic, smaller numbers.
FAST_RETRY = """\
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
"""


@pytest.fixture
def ports() -> list[int]:
    return free_ports(4)




def relay(tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer],
          main_cf: str, env: dict[str, str] | None = None) -> Daemon:
    d = Daemon(tmp_path, main_cf, f"127.0.0.1:{ports[0]} {S}\n", ports[:1], workers=1,
               deliver=True, env=env)
    running.append(d.start())
    return d


def smarthost(tmp_path: Path, port: int, running: list[Daemon | SmartHost | DnsServer],
              **config: object) -> SmartHost:
    host = SmartHost(tmp_path, port, **config)
    running.append(host.start())
    return host


def send(port: int, sender: str, recipients: list[str], body: str = "Hello.\r\n",
         subject: str = "test") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, recipients,
                        f"From: {sender}\r\nTo: {', '.join(recipients)}\r\n"
                        f"Subject: {subject}\r\n\r\n{body}")


def test_a_message_is_relayed_to_the_relayhost_with_its_exact_content(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer]) -> None:
    host = smarthost(tmp_path, ports[1], running)
    d = relay(tmp_path, ports, running, f"relayhost = [127.0.0.1]:{ports[1]}\n")
    send(ports[0], "alice@corp.local", ["bob@example.com"], body="Line one.\r\n.dot line\r\n")
    [(envelope, content)] = host.wait_for(1)
    assert envelope["mail"].startswith("MAIL FROM:<alice@corp.local>")
    assert envelope["rcpts"] == ["RCPT TO:<bob@example.com>"] or \
        envelope["rcpts"][0].startswith("RCPT TO:<bob@example.com>")
    assert envelope["helo"] == "relay.corp.local"
    # What cleanup wrote is what arrives: Received: first, the body with its dot intact.
    assert content.startswith(b"Received: from ")
    assert content.endswith(b"\r\n\r\nLine one.\r\n.dot line\r\n")
    sent = d.wait_for_log(r"postfix/smtp\[\d+\]: \w+: to=<bob@example.com>, "
                          rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{ports[1]}, delay=[\d.]+, "
                          r"delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, "
                          r"status=sent \(250 2\.0\.0 Ok: queued as SMARTHOST1\)")
    queue_id = sent[0].split(": ")[1]
    d.wait_for_log(rf"postfix/qmgr\[\d+\]: {queue_id}: from=<alice@corp.local>, size=\d+, "
                   r"nrcpt=1 \(queue active\)")
    d.wait_for_log(rf"postfix/qmgr\[\d+\]: {queue_id}: removed")
    assert d.queued() == {}


def test_a_4xx_defers_and_the_retry_delivers(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer]) -> None:
    host = smarthost(tmp_path, ports[1], running, rules=[
        {"stage": "rcpt", "match": "later@", "reply": "450 4.2.0 Greylisted, come back",
         "times": 1}])
    d = relay(tmp_path, ports, running, f"relayhost = [127.0.0.1]:{ports[1]}\n" + FAST_RETRY)
    send(ports[0], "alice@corp.local", ["later@example.com"])
    d.wait_for_log(r"to=<later@example.com>, .* dsn=4\.2\.0, status=deferred \(host "
                   r"127\.0\.0\.1\[127\.0\.0\.1\] said: 450 4\.2\.0 Greylisted, come back "
                   r"\(in reply to RCPT TO command\)\)")
    [(envelope, _)] = host.wait_for(1)
    assert envelope["rcpts"][0].startswith("RCPT TO:<later@example.com>")
    d.wait_for_log(r"to=<later@example.com>, .*status=sent")
    d.wait_for_log(r": removed")
    assert d.queued() == {}


def test_a_5xx_bounces_and_the_sender_gets_a_delivery_status_notification(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer]) -> None:
    host = smarthost(tmp_path, ports[1], running, rules=[
        {"stage": "rcpt", "match": "nobody@", "reply": "550 5.1.1 <nobody@example.com>: "
         "Recipient address rejected: User unknown"}])
    d = relay(tmp_path, ports, running, f"relayhost = [127.0.0.1]:{ports[1]}\n")
    send(ports[0], "alice@corp.local", ["nobody@example.com"])
    [(envelope, notice)] = host.wait_for(1)
    assert envelope["mail"].startswith("MAIL FROM:<>")
    assert envelope["rcpts"][0].startswith("RCPT TO:<alice@corp.local>")
    assert b"Subject: Undelivered Mail Returned to Sender" in notice
    assert b"Content-Type: multipart/report; report-type=delivery-status;" in notice
    assert b"Final-Recipient: rfc822; nobody@example.com" in notice
    assert b"Action: failed" in notice and b"Status: 5.1.1" in notice
    # Folded at 76 columns, as Postfix's bounce folds it.
    assert b"Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.com>: Recipient address\r\n" \
        b"    rejected: User unknown" in notice
    bounced = d.wait_for_log(r"to=<nobody@example.com>, .*dsn=5\.1\.1, status=bounced")
    queue_id = bounced[0].split(": ")[1]
    d.wait_for_log(rf"postfix/bounce\[\d+\]: {queue_id}: sender non-delivery notification: ")
    d.wait_for_log(r"from=<>, size=\d+, nrcpt=1 \(queue active\)")


def test_mail_waits_while_the_smarthost_is_down_and_all_of_it_arrives_when_it_returns(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer]) -> None:
    d = relay(tmp_path, ports, running, f"relayhost = [127.0.0.1]:{ports[1]}\n" + FAST_RETRY)
    for n in range(5):
        send(ports[0], "alice@corp.local", [f"user{n}@example.com"], subject=f"n{n}")
    d.wait_for_log(rf"status=deferred \(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:{ports[1]}: "
                   r"Connection refused\)")
    host = smarthost(tmp_path, ports[1], running)
    received = host.wait_for(5, timeout=30)
    subjects = sorted(re.search(rb"Subject: (n\d)", c).group(1) for _, c in received)  # type: ignore[union-attr]
    assert subjects == [b"n0", b"n1", b"n2", b"n3", b"n4"]
    d.wait_for_log(r": removed", count=5)
    assert d.queued() == {}


def test_encrypt_towards_a_server_without_starttls_defers_and_sends_nothing_in_clear(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer]) -> None:
    host = smarthost(tmp_path, ports[1], running, keywords=["PIPELINING", "8BITMIME"])
    d = relay(tmp_path, ports, running, f"relayhost = [127.0.0.1]:{ports[1]}\n"
              "smtp_tls_security_level = encrypt\n")
    send(ports[0], "alice@corp.local", ["bob@example.com"], body="Top secret payload.\r\n")
    d.wait_for_log(r"to=<bob@example.com>, .*dsn=4\.7\.4, status=deferred \(TLS is required, "
                   r"but was not offered by host 127\.0\.0\.1\[127\.0\.0\.1\]\)")
    clear = host.clear_text()
    assert b"EHLO relay.corp.local" in clear
    assert b"MAIL FROM" not in clear and b"Top secret" not in clear
    assert host.messages() == []
    assert list(d.queued()) == ["deferred"]


def test_the_office_365_configuration_relays_over_starttls_with_auth(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer]) -> None:
    """The guide's Microsoft 365 main.cf, with the smarthost on loopback."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ca.issue_cert("127.0.0.1", "smtp.test").private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "smarthost.pem"))
    host = smarthost(tmp_path, ports[1], running, cert=str(tmp_path / "smarthost.pem"),
                     keywords=["PIPELINING", "8BITMIME", "STARTTLS", "AUTH PLAIN LOGIN"],
                     auth={"relay@corp.example": "s3cret:pass"}, require_auth=True)
    sasl = tmp_path / "sasl_passwd"
    sasl.write_text(f"[127.0.0.1]:{ports[1]} relay@corp.example:s3cret:pass\n")
    sasl.chmod(0o600)
    subprocess.run([MAILRELAY, "postmap", f"hash:{sasl}"], check=True)
    d = relay(tmp_path, ports, running, f"""\
relayhost = [127.0.0.1]:{ports[1]}
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = hash:{sasl}
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous
smtp_tls_security_level = encrypt
smtp_tls_CAfile = {tmp_path}/ca.pem
smtp_tls_loglevel = 1
""")
    send(ports[0], "alice@corp.local", ["bob@example.com"], body="Via Office 365.\r\n")
    [(envelope, content)] = host.wait_for(1)
    assert envelope["tls"] is True and envelope["user"] == "relay@corp.example"
    assert content.endswith(b"Via Office 365.\r\n")
    clear = host.clear_text()
    assert b"AUTH" not in clear and b"MAIL FROM" not in clear
    d.wait_for_log(rf"TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:{ports[1]}: ")
    assert "s3cret" not in d.maillog()


def test_a_wrong_password_defers_with_postfixs_reason(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer]) -> None:
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "smarthost.pem"))
    smarthost(tmp_path, ports[1], running, cert=str(tmp_path / "smarthost.pem"),
              keywords=["PIPELINING", "STARTTLS", "AUTH PLAIN LOGIN"],
              auth={"relay@corp.example": "right"}, require_auth=True)
    d = relay(tmp_path, ports, running, f"""\
relayhost = [127.0.0.1]:{ports[1]}
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = inline:{{ [127.0.0.1]:{ports[1]}=relay@corp.example:Wr0ngPassw0rd }}
smtp_sasl_security_options = noanonymous
smtp_tls_security_level = encrypt
""")
    send(ports[0], "alice@corp.local", ["bob@example.com"])
    d.wait_for_log(r"status=deferred \(SASL authentication failed; server "
                   r"127\.0\.0\.1\[127\.0\.0\.1\] said: 535 5\.7\.8 Error: authentication "
                   r"failed: bad credentials\)")
    assert "Wr0ngPassw0rd" not in d.maillog()


def test_transport_maps_and_sender_dependent_relayhost_maps_route_as_the_guide_says(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer]) -> None:
    default = smarthost(tmp_path, ports[1], running)
    partner = smarthost(tmp_path, ports[2], running)
    marketing = smarthost(tmp_path, ports[3], running)
    d = relay(tmp_path, ports, running, f"""\
relayhost = [127.0.0.1]:{ports[1]}
transport_maps = inline:{{ partner.example=smtp:[127.0.0.1]:{ports[2]} }}
sender_dependent_relayhost_maps = inline:{{ @marketing.corp.local=[127.0.0.1]:{ports[3]} }}
""")
    send(ports[0], "alice@corp.local", ["someone@example.com"])
    send(ports[0], "alice@corp.local", ["contact@partner.example"])
    send(ports[0], "news@marketing.corp.local", ["customer@example.net"])
    assert default.wait_for(1)[0][0]["rcpts"][0].startswith("RCPT TO:<someone@example.com>")
    assert partner.wait_for(1)[0][0]["rcpts"][0].startswith("RCPT TO:<contact@partner.example>")
    assert marketing.wait_for(1)[0][0]["mail"].startswith("MAIL FROM:<news@marketing.corp.local>")
    d.wait_for_log(r": removed", count=3)


def test_mx_lookup_follows_preference_and_falls_back_to_the_next_host(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer]) -> None:
    """MX 10 points at a loopback address where nothing listens; MX 20 at the smarthost."""
    zone = {
        "mx.test. MX": [[10, "primary.mx.test."], [20, "backup.mx.test."]],
        "primary.mx.test. A": ["127.0.0.3"],
        "backup.mx.test. A": ["127.0.0.1"],
    }
    dns = DnsServer(tmp_path, ports[3], zone)
    running.append(dns.start())
    host = smarthost(tmp_path, ports[1], running)
    d = relay(tmp_path, ports, running,
              f"relayhost =\ntransport_maps = inline:{{ mx.test=smtp:mx.test:{ports[1]} }}\n",
              env={"MAILRELAY_DNS_SERVER": dns.address})
    send(ports[0], "alice@corp.local", ["postmaster@mx.test"])
    [(envelope, _)] = host.wait_for(1)
    assert envelope["rcpts"][0].startswith("RCPT TO:<postmaster@mx.test>")
    d.wait_for_log(rf"to=<postmaster@mx.test>, relay=backup\.mx\.test\[127\.0\.0\.1\]:{ports[1]}"
                   r", .*status=sent")


def test_notify_success_through_a_server_without_dsn_gets_a_relayed_notice(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer]) -> None:
    host = smarthost(tmp_path, ports[1], running, keywords=["PIPELINING", "8BITMIME"])
    d = relay(tmp_path, ports, running, f"relayhost = [127.0.0.1]:{ports[1]}\n")
    with smtplib.SMTP("127.0.0.1", ports[0], timeout=10) as client:
        client.sendmail("alice@corp.local", ["bob@example.com"],
                        "Subject: please confirm\r\n\r\nHello.\r\n",
                        rcpt_options=["NOTIFY=SUCCESS"])
    received = host.wait_for(2)
    notices = [(e, c) for e, c in received if e["mail"].startswith("MAIL FROM:<>")]
    [(envelope, notice)] = notices
    assert envelope["rcpts"][0].startswith("RCPT TO:<alice@corp.local>")
    assert b"Subject: Successful Mail Delivery Report" in notice
    assert b"Action: relayed" in notice and b"Final-Recipient: rfc822; bob@example.com" in notice
    d.wait_for_log(r": sender delivery status notification: ")


def test_a_server_with_dsn_takes_over_and_no_success_notice_is_sent(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer]) -> None:
    host = smarthost(tmp_path, ports[1], running, keywords=["PIPELINING", "8BITMIME", "DSN"])
    d = relay(tmp_path, ports, running, f"relayhost = [127.0.0.1]:{ports[1]}\n")
    with smtplib.SMTP("127.0.0.1", ports[0], timeout=10) as client:
        client.sendmail("alice@corp.local", ["bob@example.com"],
                        "Subject: please confirm\r\n\r\nHello.\r\n",
                        rcpt_options=["NOTIFY=SUCCESS"])
    [(envelope, _)] = host.wait_for(1)
    assert "NOTIFY=SUCCESS" in envelope["rcpts"][0]  # passed on: the next hop reports
    d.wait_for_log(r": removed")
    assert "notification" not in d.maillog()


def test_header_checks_reject_answers_550_with_the_tables_text_and_hold_holds(
        tmp_path: Path, ports: list[int], running: list[Daemon | SmartHost | DnsServer]) -> None:
    checks = tmp_path / "header_checks"
    checks.write_text("/^Subject: reject me/ REJECT Not wanted here\n"
                      "/^Subject: hold me/ HOLD for review\n")
    host = smarthost(tmp_path, ports[1], running)
    d = relay(tmp_path, ports, running, f"relayhost = [127.0.0.1]:{ports[1]}\n"
              f"header_checks = regexp:{checks}\n")
    with smtplib.SMTP("127.0.0.1", ports[0], timeout=10) as client, \
            pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail("alice@corp.local", ["bob@example.com"],
                        "Subject: reject me\r\n\r\nHello.\r\n")
    # Postfix 3.7: "550 5.7.1 Not wanted here" (tests/golden/rewriting/README.md).
    assert (refused.value.smtp_code, refused.value.smtp_error) == (550, b"5.7.1 Not wanted here")
    d.wait_for_log(r"cleanup\[\d+\]: \w+: reject: header Subject: reject me from "
                   r"localhost\[127\.0\.0\.1\]; from=<alice@corp\.local> to=<bob@example\.com> "
                   r"proto=ESMTP helo=<[^>]*>: 5\.7\.1 Not wanted here")
    send(ports[0], "alice@corp.local", ["bob@example.com"], subject="hold me")
    send(ports[0], "alice@corp.local", ["bob@example.com"], subject="pass me")
    [(_, content)] = host.wait_for(1)
    assert b"Subject: pass me" in content
    d.wait_for_log(r": removed")
    assert list(d.queued()) == ["hold"] and host.messages()[1:] == []
