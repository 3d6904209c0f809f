"""Postfix's "unused parameter" and "undefined parameter" logic (checked with postconf -n).

A small table stands in for mailrelay's, so that these tests do not depend on its contents.
"""

from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.mastercf import parse_master_cf
from mailrelay.config.model import Config
from mailrelay.config.params import Kind, Param
from mailrelay.config.unused import analyse, expansion_error, service_parameters

TABLE = {p.name: p for p in (
    Param("mydomain", "localdomain", Kind.STR, ""),
    Param("myorigin", "$myhostname", Kind.STR, ""),
    Param("myhostname", "host.localdomain", Kind.STR, ""),
    Param("smtpd_banner", "$myhostname ESMTP", Kind.STR, ""),
    Param("smtpd_restriction_classes", "", Kind.LIST, ""),
    Param("smtpd_client_restrictions", "", Kind.LIST, ""),
    Param("virtual_alias_maps", "$virtual_maps", Kind.LIST, ""),
    Param("default_destination_concurrency_limit", "20", Kind.INT, ""),
    Param("smtpd_reject_footer", "", Kind.STR, ""),
)}
MAIN = "/etc/mailrelay/main.cf"
MASTER = "/etc/mailrelay/master.cf"


def usage(main: str, master: str = ""):
    config = Config(parse_main_cf(main, MAIN), "/etc/mailrelay", table=TABLE)
    return analyse(config, parse_master_cf(master, MASTER), TABLE)


def unused(main: str, master: str = "") -> list[str]:
    return [f"{s.origin.file}: {s.name}={s.value}" for s in usage(main, master).unused]


def test_an_unknown_name_is_unused_unless_a_value_refers_to_it():
    assert unused("foo = 1\nbar = 2\nmyorigin = $bar\n") == [f"{MAIN}: foo=1"]


def test_restriction_classes_make_their_names_used():
    text = "smtpd_restriction_classes = cls, $indirect\nindirect = other\ncls = permit\n" \
           "other = reject\nqux = 1\n"
    assert unused(text) == [f"{MAIN}: qux=1"]


def test_names_a_default_refers_to_are_known_legacy_names():
    result = usage("virtual_maps = hash:/x\n")
    assert result.unused == () and result.undefined == ()
    assert "virtual_maps" in result.user  # postconf -n shows it


def test_master_cf_and_main_cf_validate_each_other():
    master = ("smtp inet n - n - - smtpd -o smtpd_client_restrictions=$mua -o x=$mydomain "
              "-o own=1 -o ref=$own\n")
    assert unused("mua = permit\nunrelated = 1\n", master) == [
        f"{MAIN}: unrelated=1", f"{MASTER}: x=$mydomain", f"{MASTER}: ref=$own"]


def test_a_dollar_name_in_main_cf_validates_an_o_setting_of_any_service():
    master = "smtp inet n - n - - smtpd -o greeting=hi\n"
    assert unused("smtpd_banner = $greeting\n", master) == []


def test_service_parameters_of_delivery_agents_are_known_when_their_default_is():
    master = "relay unix - - n - - smtp\nfoo unix - - n - - /usr/lib/postfix/smtp\n"
    params = service_parameters(parse_master_cf(master, MASTER), TABLE)
    assert params == {"relay_destination_concurrency_limit":
                      "$default_destination_concurrency_limit"}
    assert unused("relay_destination_concurrency_limit = 2\nfoo_destination_concurrency_limit"
                  " = 2\nrelay_delivery_slot_cost = 5\n", master) == [
        f"{MAIN}: foo_destination_concurrency_limit=2", f"{MAIN}: relay_delivery_slot_cost=5"]


def test_undefined_references_are_reported_once_per_reference_with_their_file():
    result = usage("smtpd_banner = ${nosuch?{$a}:{$b}} $nosuch\n",
                   "smtp inet n - n - - smtpd -o x=$missing -o y=$x\n")
    assert [(r.name, r.origin.file) for r in result.undefined] == [
        ("missing", MASTER), ("nosuch", MAIN), ("a", MAIN), ("b", MAIN), ("nosuch", MAIN)]


def test_raw_parameters_are_not_scanned_and_read_only_ones_are_ignored():
    result = usage("smtpd_reject_footer = $client_address\nprocess_name = x\n")
    assert result.undefined == ()
    assert [s.name for s in result.read_only] == ["process_name"]
    assert result.unused == ()


def test_syntax_errors_met_while_scanning_are_kept():
    assert usage("foo = a$\n").syntax == ('empty macro name: "a$"',)


def test_a_known_parameter_that_does_not_expand_is_postconfs_fatal_error():
    def error(main: str, master: str = "") -> str | None:
        config = Config(parse_main_cf(main, MAIN), "/etc/mailrelay", table=TABLE)
        found = expansion_error(config, parse_master_cf(master, MASTER), TABLE)
        return found.text if found else None

    assert error("smtpd_banner = a$\n") == 'empty macro name: "a$"'
    assert error("unknown = a$\n") is None  # only a warning while scanning
    assert error("", "smtp inet n - n - - smtpd -o smtpd_banner=${x\n") == (
        'truncated macro reference: "${x"')
