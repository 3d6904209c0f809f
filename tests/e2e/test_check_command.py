"""``mailrelay check`` as a subprocess on real configuration directories and real tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MAILRELAY = str(Path(sys.executable).with_name("mailrelay"))

# The guide's Office 365 configuration, with its credentials table.
GUIDE_O365 = """\
myhostname = relay.corp.local
mydomain = corp.local
myorigin = $mydomain
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.0/8, 10.0.0.0/8
mydestination = $myhostname, localhost.$mydomain, localhost
relayhost = [smtp.office365.com]:587
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = hash:{etc}/sasl_passwd
smtp_sasl_security_options = noanonymous
smtp_use_tls = yes
smtp_tls_security_level = encrypt
smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt
smtp_tls_verify_cert_match = hostname
smtp_tls_mandatory_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
"""


def check(etc: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MAILRELAY, "-c", str(etc), "check"], capture_output=True, text=True,
                          timeout=60, check=False)


def postmap(spec: str) -> None:
    subprocess.run([MAILRELAY, "postmap", spec], check=True, timeout=60)


def guide(tmp_path: Path, extra: str = "", mode: int = 0o600) -> Path:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "main.cf").write_text(GUIDE_O365.format(etc=etc) + extra)
    secret = etc / "sasl_passwd"
    secret.write_text("[smtp.office365.com]:587 relay@corp.com:MotDePasseSecret\n")
    os.chmod(secret, mode)
    postmap(f"hash:{secret}")
    os.chmod(f"{secret}.db", mode)
    return etc


def test_the_guides_office365_setup_passes_silently(tmp_path):
    result = check(guide(tmp_path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_password_table_readable_by_others_is_named_with_its_line(tmp_path):
    etc = guide(tmp_path, mode=0o644)
    result = check(etc)
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert (f"mailrelay/check: warning: {etc}/main.cf, line 10: smtp_sasl_password_maps: "
            f"{etc}/sasl_passwd holds secrets but is readable by group or others (mode 0644): "
            f"chmod 600 {etc}/sasl_passwd") in lines
    assert any(f"{etc}/sasl_passwd.db holds secrets" in line for line in lines)


def test_a_stale_compiled_table_is_reported(tmp_path):
    etc = guide(tmp_path)
    os.utime(etc / "sasl_passwd.db", (1_000_000, 1_000_000))
    result = check(etc)
    assert f"database {etc}/sasl_passwd.db is older than source file {etc}/sasl_passwd" \
        in result.stderr


def test_tls_below_encrypt_towards_a_relayhost_with_credentials_is_reported(tmp_path):
    etc = guide(tmp_path, extra="smtp_tls_security_level = may\n")
    result = check(etc)
    assert (f"{etc}/main.cf, line 18: smtp_tls_security_level = may: TLS is not mandatory "
            "towards relayhost [smtp.office365.com]:587") in result.stderr


def test_the_guides_size_limit_and_a_version_banner_and_an_unknown_parameter(tmp_path):
    etc = guide(tmp_path, extra=("message_size_limit = 52428800\n"
                                 "smtpd_banner = $myhostname ESMTP $mail_name $mail_version\n"
                                 "smtp_tls_securty_level = encrypt\n"))
    result = check(etc)
    assert result.returncode == 0
    err = result.stderr
    assert f"{etc}/main.cf, line 18: configuration error: mailbox_size_limit" in err
    assert f"{etc}/main.cf, line 19: smtpd_banner shows the software version" in err
    assert (f"mailrelay/check: warning: {etc}/main.cf, line 20: unused parameter: "
            "smtp_tls_securty_level=encrypt") in err
    assert err.splitlines()[-1] == "mailrelay/check: 0 error(s), 3 warning(s)"


def test_public_networks_and_an_open_relay_from_a_master_cf_override(tmp_path):
    etc = guide(tmp_path, extra="mynetworks = 127.0.0.0/8, 0.0.0.0/0\n")
    (etc / "master.cf").write_text(
        "smtp      inet  n       -       n       -       -       smtpd\n"
        "submission inet n       -       n       -       -       smtpd\n"
        "  -o smtpd_relay_restrictions=permit\n"
        "  -o smtpd_recipient_restrictions=permit,reject_unauth_destination\n"
        "pickup    unix  n       -       n       60      1       pickup\n"
    )
    result = check(etc)
    err = result.stderr
    assert "0.0.0.0/0 is not a private network range" in err
    assert (f"{etc}/master.cf, line 3: service submission: smtpd_relay_restrictions permits "
            "before any relay check: untrusted clients may relay mail") in err
    assert (f"mailrelay/check: note: {etc}/master.cf, line 5: service pickup/unix (pickup) "
            "is not used by mailrelay") in err


def test_no_relay_check_at_all_is_an_error(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "main.cf").write_text("compatibility_level = 3.6\n"
                                 "smtpd_relay_restrictions = permit_mynetworks\n"
                                 "smtpd_recipient_restrictions = permit_mynetworks\n")
    result = check(etc)
    assert result.returncode == 1
    assert "specify at least one working instance of: reject_unauth_destination" in result.stderr


def test_bad_values_and_a_missing_table_are_errors_with_file_and_line(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "main.cf").write_text("compatibility_level = 3.6\n"
                                 "message_size_limit = 50MB\n"
                                 "maximal_queue_lifetime = 3x\n"
                                 f"transport_maps = hash:{etc}/transport\n")
    result = check(etc)
    assert result.returncode == 1
    err = result.stderr.splitlines()
    assert (f"mailrelay/check: error: {etc}/main.cf, line 2: bad numerical configuration: "
            "message_size_limit = 50MB") in err
    assert (f"mailrelay/check: error: {etc}/main.cf, line 3: parameter maximal_queue_lifetime: "
            "bad time value or unit: 3x") in err
    assert any(line.startswith(f"mailrelay/check: error: {etc}/main.cf, line 4: transport_maps:")
               and f"{etc}/transport" in line for line in err)
    assert "Traceback" not in result.stderr


def test_a_malformed_main_cf_is_one_line_naming_the_file_and_line(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "main.cf").write_text("compatibility_level = 3.6\nrelayhost [smtp.corp.local]\n")
    result = check(etc)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"mailrelay/check: error: {etc}/main.cf, line 2: missing '=' after attribute name: "
        '"relayhost [smtp.corp.local]"')


def test_the_embedded_default_configuration_is_clean(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MAILRELAY_CONFIG_DIR"}
    result = subprocess.run([MAILRELAY, "check"], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env=env, check=False)
    if os.path.isdir("/etc/mailrelay"):
        return  # this machine has a system configuration: the embedded one is not in use
    assert (result.returncode, result.stderr) == (0, "")


def test_a_broken_regexp_rule_is_reported_with_the_table_line(tmp_path):
    etc = guide(tmp_path, extra=f"smtp_generic_maps = regexp:{tmp_path}/etc/generic_regexp\n")
    (etc / "generic_regexp").write_text("/^(.*)@srv[0-9]+\\.corp\\.local$/ ${1}@corp.com\n"
                                        "/^root@(.*$/ admin@corp.com\n")
    result = check(etc)
    assert result.returncode == 0
    assert f"line 18: smtp_generic_maps: regexp map {etc}/generic_regexp, line 2:" in result.stderr


def test_broken_rules_and_actions_in_checks_tables_are_reported_with_file_and_line(tmp_path):
    extra = (f"header_checks = regexp:{tmp_path}/etc/header_checks\n"
             f"smtp_header_checks = pcre:{tmp_path}/etc/smtp_header_checks\n")
    etc = guide(tmp_path, extra=extra)
    (etc / "header_checks").write_text(
        "/^Subject: (.*)/ WARN $1\n/^X-Bad: (/ REJECT\n/^X-Foo: (a)/ REJECT ${2}\n"
        "/^X-Bar/ FROB it\n")
    (etc / "smtp_header_checks").write_text("/^X-Bar/ REJECT no\n/^X-Ok/ REPLACE X-Ok: 1\n")
    result = check(etc)
    assert result.returncode == 0  # warnings: Postfix runs with such tables too
    lines = result.stderr.splitlines()
    table = f"{etc}/main.cf, line 18: header_checks: regexp map {etc}/header_checks"
    assert f"mailrelay/check: warning: {table}, line 2: Unmatched ( or \\(" in lines
    assert (f'mailrelay/check: warning: {table}, line 3: out of range replacement index "2": '
            "skipping this rule") in lines
    assert (f'mailrelay/check: warning: {table}, line 4: unknown action "FROB": the rule only '
            'logs "unknown command in header_checks map" and the line is kept') in lines
    smtp = f"{etc}/main.cf, line 19: smtp_header_checks: pcre map {etc}/smtp_header_checks"
    assert any(line.startswith(f'mailrelay/check: warning: {smtp}, line 1: action "REJECT" '
                               "is not supported by the smtp client") for line in lines)
    assert "line 2" not in "".join(line for line in lines if "smtp_header_checks" in line)
    assert lines[-1] == "mailrelay/check: 0 error(s), 4 warning(s)"
