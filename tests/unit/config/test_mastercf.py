"""master.cf: Postfix's master(5) syntax (checked with ``postconf -M``), and smtpd listeners."""

import pytest

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.mastercf import (
    Listener,
    default_master,
    load_master_cf,
    parse_endpoint,
    parse_master_cf,
    service_config,
    service_ports,
    smtpd_listeners,
)
from mailrelay.config.model import Config
from mailrelay.util.diagnostic import Fatal, Origin

PATH = "/etc/mailrelay/master.cf"

SUBMISSION = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
smtp      inet  n       -       n       -       -       smtpd
submission inet n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }
  -osmtpd_tls_security_level=encrypt
  -o smtpd_recipient_restrictions={ permit_mynetworks, reject }
relay     unix  -       -       n       -       -       smtp
pickup    unix  n       -       y       60?     1       pickup
maildrop  unix  -       n       n       -       -       pipe
  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient} { a b }
"""


def master(text: str = SUBMISSION):
    return parse_master_cf(text, PATH)


def config(text: str = "") -> Config:
    return Config(parse_main_cf(text, "/etc/mailrelay/main.cf"), "/etc/mailrelay")


def test_every_service_is_kept_with_its_fields_as_written():
    services = master().services
    assert [s.key for s in services] == [
        "smtp/inet", "submission/inet", "relay/unix", "pickup/unix", "maildrop/unix"]
    assert services[3].fields == ("pickup", "unix", "n", "-", "y", "60?", "1", "pickup")
    assert services[1].origin == Origin(PATH, 3)
    assert [s.is_smtpd_inet for s in services] == [True, True, False, False, False]


def test_o_overrides_in_all_their_forms_with_the_line_they_are_on():
    overrides = master().services[1].overrides
    assert {n: s.value for n, s in overrides.items()} == {
        "syslog_name": "postfix/submission",
        "smtpd_client_restrictions": "permit_sasl_authenticated, reject",
        "smtpd_tls_security_level": "encrypt",
        # name={ x }: the braces belong to the value (postconf -M shows them).
        "smtpd_recipient_restrictions": "{ permit_mynetworks, reject }",
    }
    assert overrides["smtpd_client_restrictions"].origin == Origin(PATH, 5)
    assert overrides["smtpd_tls_security_level"].origin == Origin(PATH, 6)


def test_arguments_are_normalised_as_postconf_shows_them():
    services = master().services
    assert services[1].args == (
        "-o", "syslog_name=postfix/submission",
        "-o", "smtpd_client_restrictions=permit_sasl_authenticated, reject",
        "-o", "smtpd_tls_security_level=encrypt",
        "-o", "smtpd_recipient_restrictions={ permit_mynetworks, reject }",
    )
    assert services[4].args == (
        "flags=DRXhu", "user=vmail", "argv=/usr/bin/maildrop", "-d", "${recipient}", "a b")


def test_clustered_flags_before_o_are_kept():
    [service] = master("smtp inet n - n - - smtpd -vo smtpd_banner=x -D\n").services
    assert service.args == ("-v", "-o", "smtpd_banner=x", "-D")
    assert service.overrides["smtpd_banner"].value == "x"


def test_a_later_o_for_the_same_name_wins():
    [service] = master("smtp inet n - n - - smtpd -o a=1 -o a=2\n").services
    assert service.overrides["a"].value == "2"


def test_comments_blank_lines_and_leading_white_space():
    parsed = master("# x\n\n  smtp inet n - n - - smtpd\nfoo inet n - n - - smtpd\n")
    assert [s.name for s in parsed.services] == ["foo"]
    assert parsed.warnings == (
        f'{PATH}: logical line must not start with whitespace: "  smtp inet n - n - - smtpd"',)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("smtp inet n - n - - smtpd\nfoo inet n -\n", f"{PATH}, line 2: bad field count"),
        ("foo bar n - n - - smtpd\n",
         f'{PATH}, line 1: invalid type field "bar" in "foo bar n - n - - smtpd"'),
        ("foo inet x - n - - smtpd\n",
         f'{PATH}, line 1: invalid private field "x" in "foo inet x - n - - smtpd"'),
        ("foo inet n yes n - - smtpd\n",
         f'{PATH}, line 1: invalid unprivileged field "yes" in "foo inet n yes n - - smtpd"'),
        ("foo inet n - n 1x - smtpd\n",
         f'{PATH}, line 1: invalid wakeup field "1x" in "foo inet n - n 1x - smtpd"'),
        ("foo inet n - n 10? x smtpd\n",
         f'{PATH}, line 1: invalid process_limit field "x" in "foo inet n - n 10? x smtpd"'),
        ("foo inet n - n - - smtpd\n  -o { a = b\n",
         f"{PATH}, line 2: missing '}}' in \"{{ a = b\""),
        ("foo inet n - n - - smtpd {a}b\n",
         f"{PATH}, line 1: syntax error after '}}' in \"{{a}}b\""),
        ("foo inet n - n - - smtpd -o { a b }\n",
         f'{PATH}, line 1: invalid "-o a b" option value: missing \'=\' after attribute name'),
        ("foo inet n - n - - smtpd -o a\n",
         f'{PATH}, line 1: invalid "-o a" option value: missing \'=\' after attribute name'),
        ("foo inet n - n - - smtpd -o\n", f"{PATH}, line 1: option requires an argument -- 'o'"),
    ],
)
def test_malformed_entries_are_errors_with_file_and_line(text, message):
    # Postfix's postconf only warns about the last five; its master refuses to start.
    with pytest.raises(Fatal) as caught:
        master(text)
    assert str(caught.value) == message


def test_no_master_cf_means_one_smtp_service():
    implicit = default_master(PATH)
    assert not implicit.exists
    [service] = implicit.services
    assert service.fields == ("smtp", "inet", "n", "-", "n", "-", "-", "smtpd")


def test_load_master_cf_uses_the_default_service_when_the_file_is_missing(tmp_path):
    loaded = load_master_cf(f"{tmp_path}/master.cf", config())
    assert not loaded.exists and loaded.services[0].name == "smtp"


def test_load_master_cf_checks_the_listening_addresses(tmp_path):
    (tmp_path / "master.cf").write_text("nosuchservice inet n - n - - smtpd\n")
    with pytest.raises(Fatal, match="line 1: unknown service: nosuchservice/tcp"):
        load_master_cf(f"{tmp_path}/master.cf", config())


# -- listening endpoints --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "endpoint"),
    [
        ("smtp", ("", "smtp")), ("2525", ("", "2525")), (":2525", ("", "2525")),
        ("127.0.0.1:2525", ("127.0.0.1", "2525")),
        ("relay.example:smtp", ("relay.example", "smtp")),
        ("[::1]:25", ("::1", "25")), ("[ipv6:::1]:25", ("::1", "25")), ("::1:25", ("::1", "25")),
    ],
)
def test_endpoints_as_postfixs_host_port(name, endpoint):
    assert parse_endpoint(name) == endpoint


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("[::1]", "missing service information"), ("host:", "missing service information"),
        ("[::1", 'missing "]"'), ("[::1]x", 'garbage after "]"'),
        ("[ipv6:x]:25", "malformed IPv6 address"), ("25x", "garbage after numerical service"),
        ("bad_host!:25", "valid hostname or network address required"),
    ],
)
def test_bad_endpoints_get_postfixs_words(name, error):
    with pytest.raises(ValueError, match=error.replace("[", r"\[").replace("]", r"\]")):
        parse_endpoint(name)


def test_service_names_come_from_etc_services_with_aliases():
    text = "smtp\t\t25/tcp\t\tmail\nsubmissions\t465/tcp\t\tssmtp smtps urd # TLS\ndomain 53/udp\n"
    assert service_ports(text) == {
        "smtp": 25, "mail": 25, "submissions": 465, "ssmtp": 465, "smtps": 465, "urd": 465}


def listeners(master_text: str, main_text: str = "", services: str = "/nonexistent"):
    return [(li.host, li.port, li.service.name)
            for li in smtpd_listeners(master(master_text), config(main_text), services)]


def test_only_inet_smtpd_services_listen():
    text = ("smtp inet n - n - - smtpd\nsubmission inet n - n - - smtpd\n"
            "smtps inet n - n - - smtpd\nsubmissions inet n - n - - /usr/libexec/postfix/smtpd\n"
            "relay unix - - n - - smtp\nqmqp inet n - n - - qmqpd\n")
    main = "inet_interfaces = 10.0.0.1\n"
    assert listeners(text, main) == [
        ("10.0.0.1", 25, "smtp"), ("10.0.0.1", 587, "submission"),
        ("10.0.0.1", 465, "smtps"), ("10.0.0.1", 465, "submissions")]


def test_an_address_in_the_service_name_wins_over_inet_interfaces():
    text = "127.0.0.1:2525 inet n - n - - smtpd\n[::1]:25 inet n - n - - smtpd\n"
    assert listeners(text, "inet_interfaces = 10.0.0.1\n") == [
        ("127.0.0.1", 2525, "127.0.0.1:2525"), ("::1", 25, "[::1]:25")]


@pytest.mark.parametrize(
    ("main", "hosts"),
    [
        ("inet_interfaces = all\ninet_protocols = all\n", ["0.0.0.0", "::"]),
        ("inet_interfaces = all\ninet_protocols = ipv4\n", ["0.0.0.0"]),
        ("inet_interfaces = loopback-only\ninet_protocols = ipv4, ipv6\n", ["127.0.0.1", "::1"]),
        ("inet_interfaces = 192.0.2.1, relay.example\n", ["192.0.2.1", "relay.example"]),
    ],
)
def test_a_bare_port_listens_on_every_inet_interfaces_address(main, hosts):
    assert [h for h, _, _ in listeners("2525 inet n - n - - smtpd\n", main)] == hosts


def test_an_inet_service_cannot_be_private_as_in_postfixs_master():
    with pytest.raises(Fatal, match="line 1: inet service cannot be private"):
        listeners("smtp inet - - n - - smtpd\n")


def test_a_listener_carries_its_service_and_the_service_its_configuration():
    [li] = smtpd_listeners(master("2525 inet n - n - - smtpd -o smtpd_banner=x\n"),
                           config("inet_interfaces = 127.0.0.1\n"), "/nonexistent")
    assert li == Listener("127.0.0.1", 2525, li.service)
    seen = service_config(config(), li.service)
    assert seen.raw("smtpd_banner") == "x" and seen.raw("service_name") == "2525"
