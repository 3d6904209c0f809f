import pytest

from mailrelay.util.units import UnitError, parse_bool, parse_int, parse_time


@pytest.mark.parametrize(
    ("text", "unit", "seconds"),
    [("300s", "s", 300), ("5m", "s", 300), ("2h", "s", 7200), ("3d", "s", 259200),
     ("1w", "s", 604800), ("5", "d", 432000), ("60", "s", 60), ("0", "s", 0)],
)
def test_a_time_value_takes_its_unit_or_the_parameters_default_unit(text, unit, seconds):
    assert parse_time(text, unit) == seconds


@pytest.mark.parametrize("text", ["", "3x", "d", "-1s", "1.5h", "3 d"])
def test_a_malformed_time_value_is_refused_with_postfix_wording(text):
    with pytest.raises(UnitError, match="bad time value or unit"):
        parse_time(text)


def test_booleans_are_yes_or_no_in_any_case():
    assert parse_bool("yes") and parse_bool("YES") and not parse_bool("no")
    with pytest.raises(UnitError):
        parse_bool("true")


def test_integers_are_plain_decimal():
    assert parse_int("52428800") == 52428800
    assert parse_int("-1") == -1
    with pytest.raises(UnitError):
        parse_int("50MB")
