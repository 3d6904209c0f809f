"""valid_hostname()'s fast path answers exactly as the reference valid_hostname() loop."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailrelay.mail import hostname
from mailrelay.mail.hostname import _valid_hostname_general, valid_hostname

SHORT_LABELS = st.text(alphabet="a0Z9-_é\u00b2\u0661 \n", max_size=6)
LONG_LABELS = st.builds(
    lambda fill, size, edge: (edge + fill * size)[:size],
    st.sampled_from(["a", "0", "-", "_", "é"]),
    st.sampled_from([62, 63, 64]),
    st.sampled_from(["", "x", "1", "-"]),
)
#: Names made only of what the fast path accepts (the regex's own too), so that it is
#: taken often.
PLAIN_LABELS = st.text(alphabet="a0Z9-_", max_size=8)
NAMES = st.one_of(
    st.lists(st.one_of(SHORT_LABELS, LONG_LABELS), max_size=6),
    st.lists(st.one_of(PLAIN_LABELS, LONG_LABELS), max_size=6),
).map(".".join) | st.from_regex(hostname._PLAIN_HOSTNAME, fullmatch=True)


def _of_length(size: int, fill: str = "a", cut: int = 0) -> str:
    """*size* characters: three 63-character labels, then the rest, split by a dot at *cut*."""
    rest = [fill] * (size - 3 * 64)
    if 0 < cut < len(rest):
        rest[cut] = "."
    return ".".join([fill * 63] * 3 + ["".join(rest)])


@settings(max_examples=300, deadline=None)
@given(NAMES)
@example("")
@example(".")
@example("a.")
@example(".a")
@example("a..b")
@example("1.2.3.4")
@example("1-2.3")
@example("_")
@example("-")
@example("a-")
@example("a\n")
@example("\u00b2.com")
def test_the_fast_path_answers_any_name_as_the_reference(name):
    assert valid_hostname(name) == _valid_hostname_general(name)


@settings(max_examples=300, deadline=None)
@given(st.integers(250, 260), st.sampled_from(["a", "0", "_", "-"]), st.integers(0, 70))
def test_the_fast_path_answers_names_near_the_length_limit_as_the_reference(size, fill, cut):
    name = _of_length(size, fill, cut)
    assert len(name) == size
    assert valid_hostname(name) == _valid_hostname_general(name)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("a" * 63 + ".com", True),
        ("a" * 64 + ".com", False),
        (".".join(["a" * 63] * 4), True),
        (_of_length(255), True),
        (_of_length(256, cut=32), False),
        ("192.0.2.1", False),
        ("mail_1.example", True),
    ],
)
def test_the_limits_are_postfix_limits(name, valid):
    assert valid_hostname(name) is valid


@pytest.mark.parametrize("name", ["mail.example.com", "mx1.mail-relay.example.org", "localhost"])
def test_common_names_do_not_take_the_reference_loop(name, monkeypatch):
    def slow(name: str) -> bool:
        raise AssertionError(f"{name!r} took the reference loop")

    monkeypatch.setattr(hostname, "_valid_hostname_general", slow)
    assert valid_hostname(name)
