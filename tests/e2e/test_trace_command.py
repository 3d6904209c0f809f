"""``mailrelay trace`` as a subprocess on real configuration directories and real tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MAILRELAY = str(Path(sys.executable).with_name("mailrelay"))
# The tree under test, whatever checkout the console script was installed from.
SOURCE = str(Path(__file__).resolve().parents[2] / "src")

MAIN_CF = """\
myhostname = relay.corp.local
mydomain = corp.local
myorigin = $mydomain
mynetworks = 127.0.0.0/8, 10.0.0.0/8
mydestination = $myhostname, localhost
local_recipient_maps =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
"""


def mailrelay(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SOURCE}
    return subprocess.run([MAILRELAY, *args], capture_output=True, text=True, timeout=60,
                          check=False, env=env)


def configure(tmp_path: Path, extra: str = "", **tables: str) -> Path:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "main.cf").write_text(MAIN_CF + extra.format(etc=etc))
    for name, text in tables.items():
        (etc / name).write_text(text)
        mailrelay("postmap", f"hash:{etc / name}").check_returncode()
    return etc


def trace(etc: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return mailrelay("-c", str(etc), "trace", "--no-dns", *args)


def line_of(stdout: str, prefix: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(prefix))


def test_an_outside_client_is_denied_relay_by_the_restriction_and_line_that_say_so(
        tmp_path: Path) -> None:
    etc = configure(tmp_path)
    result = trace(etc, "--client", "192.0.2.9", "app@corp.local", "user@example.org")
    assert result.returncode == 1, result.stdout + result.stderr
    assert line_of(result.stdout, "recipient:") == (
        "recipient: reject by reject_unauth_destination: 554 5.7.1 <user@example.org>: "
        f"Relay access denied  [smtpd_relay_restrictions ({etc}/main.cf:7)]")
    assert "route:" not in result.stdout


def test_a_client_in_mynetworks_is_accepted_by_permit_mynetworks_and_routed(
        tmp_path: Path) -> None:
    etc = configure(tmp_path)
    result = trace(etc, "--client", "10.1.2.3", "app@corp.local", "user@example.org")
    assert result.returncode == 0, result.stdout + result.stderr
    assert line_of(result.stdout, "recipient:") == (
        f"recipient: accept by permit_mynetworks  [smtpd_relay_restrictions ({etc}/main.cf:7)]")
    assert "route: <user@example.org> (default) -> smtp:example.org" in result.stdout


def test_transport_maps_routing_is_shown_with_the_table_that_decided(tmp_path: Path) -> None:
    etc = configure(tmp_path, "transport_maps = hash:{etc}/transport\n",
                    transport="partner.example smtp:[mx.partner.example]:2525\n")
    result = trace(etc, "app@corp.local", "bob@partner.example")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "route: <bob@partner.example> (default) -> smtp:[mx.partner.example]:2525" \
        in result.stdout
    assert (f"route: bob@partner.example -> smtp:[mx.partner.example]:2525  "
            f"[transport_maps ({etc}/main.cf:8)]") in result.stdout


def test_relayhost_with_sasl_shows_the_key_and_never_the_password(tmp_path: Path) -> None:
    etc = configure(tmp_path, "relayhost = [smtp.example.net]:587\n"
                    "smtp_sasl_auth_enable = yes\n"
                    "smtp_sasl_password_maps = hash:{etc}/sasl_passwd\n"
                    "smtp_tls_security_level = encrypt\n",
                    sasl_passwd="[smtp.example.net]:587 relay@corp.com:TopSecretPw\n")
    result = trace(etc, "app@corp.local", "user@example.org")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"route: [smtp.example.net]:587  [relayhost ({etc}/main.cf:8)]" in result.stdout
    assert line_of(result.stdout, "sasl:") == (
        "sasl: username relay@corp.com from key [smtp.example.net]:587  "
        f"[smtp_sasl_password_maps ({etc}/main.cf:10)]")
    assert f"tls: level encrypt  [smtp_tls_security_level ({etc}/main.cf:11)]" in result.stdout
    assert "TopSecretPw" not in result.stdout + result.stderr
    assert "TopSecretPw" not in trace(etc, "--json", "app@corp.local", "u@example.org").stdout


def test_sender_canonical_rewriting_is_shown_step_by_step(tmp_path: Path) -> None:
    etc = configure(tmp_path, "sender_canonical_maps = hash:{etc}/canonical\n",
                    canonical="app@corp.local noreply@corp.com\n")
    result = trace(etc, "app", "user@example.org")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"sender: rewrite <app> -> <app@corp.local>  [myorigin ({etc}/main.cf:3)]" \
        in result.stdout
    assert ("sender: rewrite <app@corp.local> -> <noreply@corp.com>  "
            f"[sender_canonical_maps ({etc}/main.cf:8)]") in result.stdout


def test_json_gives_one_object_with_every_decision(tmp_path: Path) -> None:
    etc = configure(tmp_path)
    result = trace(etc, "--json", "--client", "192.0.2.9", "app@corp.local", "u@example.org")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["result"] == "rejected"
    assert report["status"] == 1
    last = report["decisions"][-1]
    assert last == {"stage": "recipient",
                    "decision": "reject by reject_unauth_destination: 554 5.7.1 "
                                "<u@example.org>: Relay access denied",
                    "parameter": "smtpd_relay_restrictions", "origin": f"{etc}/main.cf:7"}


def test_a_missing_table_is_a_broken_configuration(tmp_path: Path) -> None:
    etc = configure(tmp_path, "transport_maps = hash:{etc}/nonexistent\n")
    result = trace(etc, "app@corp.local", "user@example.org")
    assert result.returncode == 2, result.stdout + result.stderr
    assert line_of(result.stdout, "config: broken:")


def test_a_size_over_message_size_limit_is_rejected_at_mail_from(tmp_path: Path) -> None:
    etc = configure(tmp_path, "message_size_limit = 1000\n")
    result = trace(etc, "--size", "2000", "app@corp.local", "user@example.org")
    assert result.returncode == 1
    assert line_of(result.stdout, "sender:") == (
        "sender: reject: 552 5.3.4 Message size exceeds fixed limit  "
        f"[message_size_limit ({etc}/main.cf:8)]")


def test_without_delay_reject_the_client_stage_answers_at_connect(tmp_path: Path) -> None:
    etc = configure(tmp_path, "smtpd_delay_reject = no\n"
                    "smtpd_client_restrictions = permit_mynetworks, reject\n")
    outside = trace(etc, "--client", "192.0.2.9", "app@corp.local", "user@example.org")
    assert outside.returncode == 1
    assert line_of(outside.stdout, "client: reject") == (
        "client: reject by reject: 554 5.7.1 <unknown[192.0.2.9]>: Client host rejected: "
        f"Access denied  [smtpd_client_restrictions ({etc}/main.cf:9)]")
    inside = trace(etc, "app@corp.local", "user@example.org")
    assert inside.returncode == 0
    assert line_of(inside.stdout, "client: accept") == (
        f"client: accept by permit_mynetworks  [smtpd_client_restrictions ({etc}/main.cf:9)]")


def test_generic_maps_and_the_transports_master_cf_settings_are_shown(tmp_path: Path) -> None:
    etc = configure(tmp_path, "transport_maps = hash:{etc}/transport\n"
                    "smtp_generic_maps = hash:{etc}/generic\n",
                    transport="partner.example relay:[mx.partner.example]\n",
                    generic="app@corp.local noreply@corp.com\n")
    (etc / "master.cf").write_text("relay unix - - n - - smtp\n"
                                   "  -o smtp_tls_security_level=encrypt\n")
    result = trace(etc, "app@corp.local", "bob@partner.example")
    assert result.returncode == 0, result.stdout + result.stderr
    assert line_of(result.stdout, "generic:") == (
        f"generic: sender <app@corp.local> -> <noreply@corp.com>  "
        f"[smtp_generic_maps ({etc}/main.cf:9)]")
    assert line_of(result.stdout, "transport:") == (
        f"transport: relay: -o smtp_tls_security_level=encrypt  [master.cf ({etc}/master.cf:2)]")
    assert line_of(result.stdout, "tls:") == (
        f"tls: level encrypt  [smtp_tls_security_level ({etc}/master.cf:2)]")


def test_local_recipients_show_their_alias_or_mailbox_and_a_command_alias_bounces(
        tmp_path: Path) -> None:
    etc = configure(tmp_path, "alias_maps = hash:{etc}/aliases\n",
                    aliases="ops alice, bob@example.org\nrun |/bin/true\n")
    ops = trace(etc, "app@corp.local", "ops@relay.corp.local")
    assert ops.returncode == 0, ops.stdout + ops.stderr
    assert line_of(ops.stdout, "alias:") == (
        f"alias: ops -> alice, bob@example.org  [alias_maps ({etc}/main.cf:8)]")
    zed = trace(etc, "app@corp.local", "zed@relay.corp.local")
    assert line_of(zed.stdout, "alias:").startswith("alias: none for zed: mailbox of zed")
    run = trace(etc, "app@corp.local", "run@relay.corp.local")
    assert run.returncode == 1
    assert line_of(run.stdout, "alias:").startswith("alias: run: bounce: ")
