"""postconf's layout (cases checked against Postfix 3.7's postconf -f / -M / -Mf output)."""

import pytest

from mailrelay.cli.postconf_output import format_entry, format_line, matches, parse_pattern
from mailrelay.config.mastercf import parse_master_cf
from mailrelay.util.diagnostic import Fatal


def test_white_space_is_collapsed_for_display():
    shown = format_line("mydestination = a    b\tc\r\n  d ", fold=False)
    assert shown == "mydestination = a b c d\n"
    assert format_line("relayhost = ", fold=False) == "relayhost =\n"


def test_folding_breaks_before_column_80_with_a_four_space_indent():
    words = " ".join(f"word{i:02d}," for i in range(20))
    folded = format_line(f"smtpd_client_restrictions = {words}", fold=True)
    lines = folded.splitlines()
    assert all(len(line) < 80 for line in lines)
    assert all(line.startswith("    ") for line in lines[1:])
    assert " ".join(line.strip() for line in lines) == f"smtpd_client_restrictions = {words}"


def service(text: str):
    return parse_master_cf(text, "master.cf").services[0]


def test_fields_go_to_their_columns_at_least_one_space_apart():
    assert format_entry(service("smtp inet n - y - - smtpd\n"), fold=False) == (
        "smtp       inet  n       -       y       -       -       smtpd\n")
    assert format_entry(service("scalemail-backend unix - n n - 2 pipe\n"), fold=False) == (
        "scalemail-backend unix - n       n       -       2       pipe\n")


def test_o_options_get_their_own_line_when_folded_and_braces_when_they_hold_spaces():
    entry = service("submission inet n - y - - smtpd -v -o a=1 -o { b = x  y }\n")
    assert format_entry(entry, fold=True) == (
        "submission inet  n       -       y       -       -       smtpd -v\n"
        "    -o a=1\n"
        "    -o {b=x  y}\n")
    assert format_entry(entry, fold=False).endswith("smtpd -v -o a=1 -o {b=x  y}\n")


def test_service_patterns():
    entry = service("smtp inet n - y - - smtpd\n")
    assert matches(parse_pattern("smtp", 1, 2, "usage"), entry)
    assert matches(parse_pattern("*/inet", 1, 2, "usage"), entry)
    assert not matches(parse_pattern("smtp/unix", 1, 2, "usage"), entry)
    for bad in ("/x", "a/b/c", "sm*"):
        with pytest.raises(Fatal, match="usage"):
            parse_pattern(bad, 1, 2, "usage")
