"""extract()'s shortcut for plain ``<local@domain>`` gives what the RFC 822 tokenizer gives."""

from __future__ import annotations

import itertools
import sys
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrelay.mail import address
from mailrelay.mail.address import _PLAIN, _SPECIALS, Address, _extract_general, extract, parse_path

#: The specials, the white space str.isspace() knows and C's isspace() does not (so a byte-level
#: shortcut would get them wrong), a non-ASCII letter, and ordinary atom characters.
ALPHABET = '<>@.,;:"()[]\\' + " \t\n\x1c\x85\u00a0\u2003" + "\u00e9abZ01-_+=!%"
SHORT_ALPHABET = 'a.@<> ,:"(\\\u00e9\u2003'
ATEXT = "abcxyzABCXYZ0189!#$%&'*+/=?^_`{|}~-\u00e9"

texts = st.text(alphabet=st.sampled_from(ALPHABET), max_size=24)
bracketed = texts.map(lambda s: f"<{s}>")
atoms = st.text(alphabet=st.sampled_from(ATEXT), min_size=1, max_size=12)
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
realistic = st.builds(
    lambda local, domain, form: form.format(".".join(local), ".".join(domain)),
    st.lists(atoms, min_size=1, max_size=3),
    st.lists(labels, min_size=1, max_size=4),
    st.sampled_from(["<{0}@{1}>", "{0}@{1}", "<{0}>", "{0}"]),
)


def check(raw: str) -> None:
    assert extract(raw) == _extract_general(raw)


def check_parse_path(raw: str) -> None:
    combinations = list(itertools.product((False, True), repeat=2))
    fast = [parse_path(raw, allow_null=n, smtputf8=u) for n, u in combinations]
    with mock.patch.object(address, "extract", _extract_general):
        general = [parse_path(raw, allow_null=n, smtputf8=u) for n, u in combinations]
    assert fast == general


@pytest.mark.parametrize(("raw", "internal"), [
    ("a\\", "a"), ("<a\\>", "a"), ("\\", ""), ("<b@c\\>", "b@c"), ("a\\\\", "a\\"),
])
def test_a_backslash_at_the_end_escapes_nothing_and_is_dropped(raw, internal):
    """As tok822_scan drops it; the tokenizer once looped forever on it (``RCPT TO:a\\``)."""
    assert _extract_general(raw) == internal
    assert extract(raw) == internal


@pytest.mark.parametrize(
    ("raw", "internal"),
    [
        ("<user@example.com>", "user@example.com"),
        ("user@example.com", "user@example.com"),
        ("<>", ""),
        ("", ""),
        ("<postmaster>", "postmaster"),
        ("<a..b@c>", "a..b@c"),
        ("<.a.@.b.>", ".a.@.b."),
        ("<a@b@c>", "a@b@c"),
        ("<@b>", "@b"),
        ("<a@>", "a@"),
        ("<@>", "@"),
        ("<.>", "."),
        ("<\u00e9l\u00e8ve@\u00e9cole.fr>", "\u00e9l\u00e8ve@\u00e9cole.fr"),
        ("a@b>", "a@b"),
        ("<<a@b>>", "a@b"),
        ("<a@b >", "a@b"),
        ("<a\u00a0@b>", "a@b"),
        ("<a\u2003@b>", "a@b"),
        ("<a\x1c@b>", "a@b"),
        ("<", None),
        (">", ""),
        ("<a@b", None),
        ("<a@b>>", "a@b"),
        ("<a@b>x", None),
        ("<a b@c>", None),
        ("<a,b@c>", None),
        ("<a:b@c>", "b@c"),
        ("<a@[1.2.3.4]>", "a@[1.2.3.4]"),
        ('<"a"@b>', "a@b"),
        ("<a(c)@b>", "a@b"),
        ("<a\\.b@c>", "a.b@c"),
    ],
)
def test_the_edge_cases_give_what_the_tokenizer_gives(raw: str, internal: str | None) -> None:
    assert _extract_general(raw) == internal
    assert extract(raw) == internal


def test_the_shortcut_takes_every_character_the_tokenizer_keeps_as_it_is() -> None:
    # Every code point: the ones the shortcut takes come back unchanged from the tokenizer
    # (one string of them all, ending in a letter so that no backslash could end it), and it
    # refuses only white space and the specials other than "." and "@".
    chars = [chr(c) for c in range(sys.maxunicode + 1)]
    taken = "".join(c for c in chars if _PLAIN.fullmatch(c) is not None) + "a"
    assert _extract_general(taken) == taken
    assert extract(f"<{taken}>") == taken
    refused = {c for c in chars if _PLAIN.fullmatch(c) is None}
    assert refused == {c for c in chars if c.isspace()} | set(_SPECIALS) - set(".@")


def test_every_short_string_gives_what_the_tokenizer_gives() -> None:
    for size in range(5):
        for chars in itertools.product(SHORT_ALPHABET, repeat=size):
            check("".join(chars))


@settings(max_examples=1000)
@given(st.one_of(texts, bracketed))
def test_any_text_gives_what_the_tokenizer_gives(raw: str) -> None:
    check(raw)


@given(st.one_of(realistic, st.emails(), st.emails().map(lambda s: f"<{s}>")))
def test_real_addresses_give_what_the_tokenizer_gives(raw: str) -> None:
    check(raw)


@settings(max_examples=500)
@given(st.one_of(texts, bracketed, realistic, st.emails().map(lambda s: f"<{s}>")))
def test_parse_path_is_unchanged(raw: str) -> None:
    check_parse_path(raw)


def test_parse_path_of_a_plain_address() -> None:
    assert parse_path("<user@example.com>", allow_null=True, smtputf8=False) == Address(
        "user@example.com", "<user@example.com>"
    )
    assert parse_path("<>", allow_null=True, smtputf8=False) == Address("", "<>")
    assert parse_path("<>", allow_null=False, smtputf8=False) is None
    assert parse_path("<a@\u00e9cole.fr>", allow_null=False, smtputf8=False) is None
    assert parse_path("<a@\u00e9cole.fr>", allow_null=False, smtputf8=True) is not None
