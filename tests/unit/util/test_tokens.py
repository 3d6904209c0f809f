import pytest

from mailrelay.util.tokens import TokenError, split_list, unbrace


def test_lists_split_on_commas_and_white_space():
    assert split_list("a, b,c  d\n\te,,f") == ["a", "b", "c", "d", "e", "f"]


def test_brace_groups_stay_whole():
    assert split_list("check_client_access inline:{ 1.2.3.4=OK, 5.6.7.8=REJECT }, permit") == [
        "check_client_access", "inline:{ 1.2.3.4=OK, 5.6.7.8=REJECT }", "permit"]
    assert split_list("{ a = b c }, d") == ["{ a = b c }", "d"]


def test_unbalanced_braces_are_errors():
    with pytest.raises(TokenError):
        split_list("inline:{ a=b")
    with pytest.raises(TokenError):
        split_list("a }")


def test_unbrace_trims_a_group():
    assert unbrace("{ name = value with spaces }") == "name = value with spaces"
    assert unbrace("plain") == "plain"
