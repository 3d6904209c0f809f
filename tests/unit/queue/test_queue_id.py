import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailrelay.queue.queue_id import ALPHABET, QueueIdParts, is_valid, make_queue_id, parse_queue_id

micros = st.integers(0, 999_999)
inodes = st.integers(0, 2**64 - 1)
seconds = st.integers(0, 2**40)


def test_a_short_id_is_five_hex_digits_of_microseconds_then_the_inode_in_hex():
    assert make_queue_id(1_700_000_000, 0x12345, 0xABCDE, long=False) == "12345ABCDE"
    assert make_queue_id(0, 7, 1, long=False) == "000071"


def test_a_short_id_of_a_real_queue_is_10_to_12_upper_case_hex_digits():
    queue_id = make_queue_id(1_700_000_000, 999_999, 3_000_000, long=False)
    assert re.fullmatch(r"[0-9A-F]{10,12}", queue_id)


def test_the_long_id_of_postfix_documentation_decodes_to_its_time_and_inode():
    parts = parse_queue_id("4Mxq0s5FzSz9vQd")
    assert parts == QueueIdParts(True, 1_666_742_941, 740_868, 1_317_261)  # 2022-10-26
    assert make_queue_id(1_666_742_941, 740_868, 1_317_261, long=True) == "4Mxq0s5FzSz9vQd"


def test_the_long_alphabet_has_no_vowels_and_the_inode_part_no_z():
    assert len(ALPHABET) == 52 and not set("AEIOUaeiou") & set(ALPHABET)
    queue_id = make_queue_id(1_700_000_000, 0, 51 * 51 - 1, long=True)
    assert "z" not in queue_id.split("z")[-1] and queue_id.count("z") >= 1


@given(seconds, micros, inodes)
def test_long_ids_round_trip(sec, usec, inode):
    queue_id = make_queue_id(sec, usec, inode, long=True)
    assert is_valid(queue_id)
    assert parse_queue_id(queue_id) == QueueIdParts(True, sec, usec, inode)


@given(micros, inodes)
def test_short_ids_round_trip(usec, inode):
    queue_id = make_queue_id(0, usec, inode, long=False)
    assert parse_queue_id(queue_id) == QueueIdParts(False, None, usec, inode)


@given(seconds, micros, inodes, inodes)
def test_files_with_different_inodes_get_different_ids(sec, usec, a, b):
    for long in (False, True):
        same = make_queue_id(sec, usec, a, long=long) == make_queue_id(sec, usec, b, long=long)
        assert same == (a == b)


def test_long_ids_sort_by_time_within_the_same_width():
    early = make_queue_id(1_700_000_000, 5, 99, long=True)
    late = make_queue_id(1_700_000_001, 0, 1, long=True)
    assert early < late


@pytest.mark.parametrize(
    "text",
    [
        "",
        "../x",
        "..",
        "ABC/DEF123",
        "12345",  # no inode digit
        "12345abcde",  # short IDs are upper case
        "F42400001",  # microseconds 1000000
        "12345ABCDE\0",
        " 12345ABCDE",
        "12345ABCDE\n",
        "1234567890ABCDEF123456",  # too long for a 64-bit inode
        "4Mxq0s5FzSz9vQdz",  # long ID with nothing after the separator
        "4Mxq0sz9vQd",  # time part too short
        "4Mxq0s5FzSa9vQd",  # vowel
        "4Mxq0s5FzS.9vQd",
        "4Mxq0s5FzS/9vQd",
    ],
)
def test_anything_that_is_not_an_id_is_refused(text):
    assert not is_valid(text)
    assert parse_queue_id(text) is None


@given(st.text(max_size=30))
def test_a_valid_id_never_contains_a_path_character(text):
    if is_valid(text):
        assert not set(text) & set("/.\0 \n") and text


def test_out_of_range_values_are_refused():
    with pytest.raises(ValueError):
        make_queue_id(0, 1_000_000, 1, long=False)
    with pytest.raises(ValueError):
        make_queue_id(0, 0, -1, long=True)
