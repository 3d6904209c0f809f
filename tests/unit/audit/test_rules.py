"""check's rules over configurations written as main.cf text (the table supplies defaults)."""

import os

from mailrelay.audit.files import secret_file_findings, stale_finding
from mailrelay.audit.finding import Severity
from mailrelay.audit.networks import mynetworks_findings
from mailrelay.audit.relay import open_relay_findings
from mailrelay.audit.risks import (
    banner_findings,
    bare_newline_findings,
    size_limit_findings,
    tls_with_credentials_findings,
)
from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.util.diagnostic import Origin


def config(text: str) -> Config:
    return Config(parse_main_cf(text, "/etc/mailrelay/main.cf"), "/etc/mailrelay")


def test_the_guides_restrictions_are_not_an_open_relay():
    c = config("smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n")
    assert open_relay_findings(c) == []


def test_no_relay_check_anywhere_is_postfixs_fatal_error():
    c = config("smtpd_relay_restrictions = permit_mynetworks\n"
               "smtpd_recipient_restrictions = permit_mynetworks\n")
    [f] = open_relay_findings(c)
    assert f.severity is Severity.ERROR
    assert "specify at least one working instance of: reject_unauth_destination" in f.text


def test_a_permit_before_the_relay_check_in_both_lists_is_an_open_relay_with_its_line():
    c = config("mynetworks = 10.0.0.0/8\n"
               "smtpd_relay_restrictions = permit, reject_unauth_destination\n"
               "smtpd_recipient_restrictions = permit_mynetworks, permit\n")
    findings = open_relay_findings(c)
    assert findings and all(f.severity is Severity.WARNING for f in findings)
    assert "open relay" in findings[0].text
    assert str(findings[0].origin) == "/etc/mailrelay/main.cf, line 2"


def test_one_list_refusing_is_enough_because_mail_must_pass_both():
    c = config("smtpd_relay_restrictions = permit\n"
               "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n")
    assert open_relay_findings(c) == []


def test_an_access_table_before_the_relay_check_is_reported():
    c = config("smtpd_relay_restrictions =\n"
               "smtpd_recipient_restrictions = check_client_access hash:/x, "
               "reject_unauth_destination\n")
    findings = open_relay_findings(c)
    assert any("check_client_access hash:/x" in f.text for f in findings)


def test_public_ranges_in_mynetworks_are_named():
    c = config("mynetworks = 127.0.0.0/8, 10.0.0.0/8, [::1]/128, 0.0.0.0/0, 8.8.8.0/24\n")
    texts = [f.text for f in mynetworks_findings(c)]
    assert len(texts) == 2
    assert "0.0.0.0/0 is not a private network range" in texts[0]
    assert "8.8.8.0/24" in texts[1]


def test_the_guides_mynetworks_is_private():
    c = config("mynetworks = 127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16\n")
    assert mynetworks_findings(c) == []


def test_mynetworks_files_are_read(tmp_path):
    c = config("mynetworks = /etc/mailrelay/networks\n")
    read = {"/etc/mailrelay/networks": ["192.168.0.0/16", "203.0.113.0/24"]}.__getitem__
    [f] = mynetworks_findings(c, read)
    assert "203.0.113.0/24" in f.text


def test_a_banner_with_the_version_is_risky_and_the_guides_banner_is_not():
    assert banner_findings(config("smtpd_banner = $myhostname ESMTP $mail_name $mail_version\n"))
    assert banner_findings(config("smtpd_banner = $myhostname ESMTP\n")) == []


def test_the_guides_size_limit_trips_local_delivery():
    c = config("mydestination = $myhostname, localhost\nmessage_size_limit = 52428800\n")
    [f] = size_limit_findings(c)
    assert "mailbox_size_limit (51200000) is smaller than message_size_limit (52428800)" in f.text
    assert str(f.origin) == "/etc/mailrelay/main.cf, line 2"
    assert size_limit_findings(config("mydestination =\nmessage_size_limit = 52428800\n")) == []


def test_bare_newline_exclusions_are_reported():
    c = config("smtpd_forbid_bare_newline_exclusions = $mynetworks\n")
    [f] = bare_newline_findings(c)
    assert "SMTP smuggling" in f.text
    assert bare_newline_findings(config("")) == []


def test_credentials_without_mandatory_tls_are_reported_with_the_deciding_parameter():
    c = config("relayhost = [smtp.office365.com]:587\nsmtp_use_tls = yes\n")
    [f] = tls_with_credentials_findings(c, has_credentials=True)
    assert f.parameter == "smtp_use_tls"
    guide = config("relayhost = [smtp.office365.com]:587\nsmtp_use_tls = yes\n"
                   "smtp_tls_security_level = encrypt\n")
    assert tls_with_credentials_findings(guide, has_credentials=True) == []
    assert tls_with_credentials_findings(c, has_credentials=False) == []


def test_secret_files_readable_by_others_are_reported(tmp_path):
    secret = tmp_path / "sasl_passwd"
    secret.write_text("[smtp.office365.com]:587 relay@corp.com:secret\n")
    os.chmod(secret, 0o644)
    origin = Origin("/etc/mailrelay/main.cf", 9)
    [f] = secret_file_findings([str(secret)], "smtp_sasl_password_maps", origin)
    assert "mode 0644" in f.text and f"chmod 600 {secret}" in f.text
    os.chmod(secret, 0o600)
    assert secret_file_findings([str(secret)], "smtp_sasl_password_maps", origin) == []


def test_a_compiled_table_older_than_its_source_is_stale(tmp_path):
    src, db = tmp_path / "generic", tmp_path / "generic.db"
    db.write_text("x")
    src.write_text("y")
    os.utime(db, (1000, 1000))
    f = stale_finding(str(src), str(db), Origin("main.cf", 3), "smtp_generic_maps")
    assert f is not None and "is older than source file" in f.text
    os.utime(db, None)
    os.utime(src, (1000, 1000))
    assert stale_finding(str(src), str(db), Origin("main.cf", 3), "smtp_generic_maps") is None
