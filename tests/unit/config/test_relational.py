"""Relational macros as Postfix 3.7's own defaults use them (values checked with postconf -x)."""

import pytest

from mailrelay.config.expand import MacroError, expand

RELAY = (
    "${{$compatibility_level} <level {1} ? {} : "
    "{permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination}}"
)


@pytest.mark.parametrize(
    ("level", "expected"),
    [("0", ""), ("1", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"),
     ("3.6", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination")],
)
def test_smtpd_relay_restrictions_default_follows_compatibility_level(level, expected):
    assert expand(RELAY, {"compatibility_level": level}.get) == expected


def test_levels_compare_as_versions_not_text():
    t = "${{$compatibility_level} <level {3.6} ? {old} : {new}}"
    assert expand(t, {"compatibility_level": "3.10"}.get) == "new"
    assert expand(t, {"compatibility_level": "3.5.9"}.get) == "old"


def test_text_equality_and_the_chosen_branch_is_expanded():
    t = "${{$smtp_tls_security_level} == {dane} ? {dane} : {$fallback}}"
    assert expand(t, {"smtp_tls_security_level": "dane"}.get) == "dane"
    assert expand(t, {"smtp_tls_security_level": "may", "fallback": "may"}.get) == "may"


def test_numbers_compare_numerically_and_other_operands_as_text():
    # postconf -x, Postfix 3.7.11: ${{10} > {9}...} is yes; ${{ten} > {9}...} is yes too
    # (strcmp: "t" > "9"), not an error.
    assert expand("${{10} > {9} ? {yes} : {no}}", {}.get) == "yes"
    assert expand("${{9} < {10} ? {yes} : {no}}", {}.get) == "yes"
    assert expand("${{ten} > {9} ? {yes} : {no}}", {}.get) == "yes"
    assert expand("${{abc} < {b} ? {lt}}", {}.get) == "lt"


def test_a_missing_branch_is_empty_and_a_bare_expression_is_true_or_empty():
    # postconf -x: ${{a} == {a} ? {yes}} is "yes"; ${{a} == {b} ? {yes}} is ""; a relational
    # expression with no ? or : has the value "true" or nothing.
    assert expand("${{a} == {a} ? {yes}}", {}.get) == "yes"
    assert expand("${{a} == {b} ? {yes}}", {}.get) == ""
    assert expand("${{a} == {a}}|${{a} != {a}}", {}.get) == "true|"


def test_a_bad_compatibility_level_is_postfixs_error():
    with pytest.raises(MacroError, match='malformed compatibility level syntax: "a"'):
        expand("${{a} <level {3.6} ? {x}}", {}.get)
