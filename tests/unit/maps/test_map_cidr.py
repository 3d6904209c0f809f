"""cidr: tables: IPv4/IPv6 networks in file order, negation, if/endif, Postfix's warnings."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailrelay.maps.cidr import CidrTable

Write = Callable[[str, str | bytes], str]

RULES = """\
192.168.1.0/24 lan
[10.0.0.1] host
!10.0.0.0/8 not-ten
2001:db8::/32 v6
::ffff:1.2.3.0/120 mapped
"""


@pytest.mark.parametrize(("address", "value"), [
    ("192.168.1.77", "lan"),
    ("10.0.0.1", "host"),
    ("10.9.9.9", None),  # in 10/8: the negated rule does not match
    ("11.1.1.1", "not-ten"),
    ("2001:DB8::5", "v6"),
    ("::ffff:1.2.3.4", "mapped"),
    ("::1", None),  # an IPv6 address never matches an IPv4 rule, even negated
    ("foo", None),
    ("01.2.3.4", None),
    (" 10.0.0.1", None),
    ("fe80::1%eth0", None),
])
def test_addresses_match_the_first_rule_of_their_family(write: Write, address: str,
                                                        value: str | None) -> None:
    assert CidrTable(write("c", RULES)).lookup(address) == value


def test_if_blocks_are_searched_only_for_matching_addresses(write: Write) -> None:
    t = CidrTable(write("c", "if 172.16.0.0/12\n172.16.5.0/24 inner\nendif\n"
                             "IF !172.16.0.0/12\n0.0.0.0/0 outer\nENDIF\n"))
    assert (t.lookup("172.16.5.5"), t.lookup("172.16.6.1"), t.lookup("8.8.8.8")) == (
        "inner", None, "outer")


def test_bad_rules_are_skipped_with_postfix_warnings(write: Write) -> None:
    t = CidrTable(write("c", "192.168.1.1/24 a\n10.0.0.0/33 b\n300.1.1.1 c\n[1.2.3.4 d\n"
                             "[1.2.3.4]x e\n1.2.3.4\n10.0.0.0/x f\n/8 g\n2001:db8::1/64 h\n"
                             "endif\nif 1.2.3.4 extra\nendif x\nif\nif 5.0.0.0/8\n"))
    where = f"cidr map {t.name}, line"
    assert t.warnings == [
        f'{where} 1: non-null host address bits in "192.168.1.1/24", perhaps you should use '
        '"192.168.1.0/24" instead: skipping this rule',
        f'{where} 2: bad mask length in "10.0.0.0/33": skipping this rule',
        f'{where} 3: bad address pattern: "300.1.1.1": skipping this rule',
        f"{where} 4: missing ']' character after \"[1.2.3.4\": skipping this rule",
        f'{where} 5: garbage after "[1.2.3.4]": skipping this rule',
        f"{where} 6: no lookup result: skipping this rule",
        f'{where} 7: bad mask value in "10.0.0.0/x": skipping this rule',
        f'{where} 8: bad network value in "/8": skipping this rule',
        f'{where} 9: non-null host address bits in "2001:db8::1/64", perhaps you should use '
        '"2001:db8::/64" instead: skipping this rule',
        f"{where} 10: ENDIF without IF: skipping this rule",
        f'{where} 11: bad address pattern: "1.2.3.4 extra": skipping this rule',
        f"{where} 12: garbage after ENDIF: skipping this rule",
        f"{where} 13: no address pattern: skipping this rule",
        f"{where} 14: IF has no matching ENDIF",
    ]


def test_negation_may_be_followed_by_white_space(write: Write) -> None:
    t = CidrTable(write("c", "! 1.2.3.4 not\n"))
    assert (t.lookup("1.2.3.4"), t.lookup("5.6.7.8")) == (None, "not")


def test_cidr_tables_cannot_be_listed(write: Write) -> None:
    from mailrelay.maps.base import MapError

    with pytest.raises(MapError, match="sequence operation is not supported"):
        list(CidrTable(write("c", RULES)).items())
