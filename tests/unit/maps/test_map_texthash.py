"""texthash: tables: postmap's syntax read at open time, dict_thash's warnings."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailrelay.maps.base import MapError
from mailrelay.maps.indexed import DupMode
from mailrelay.maps.texthash import TexthashTable

Write = Callable[[str, str | bytes], str]


def test_texthash_reads_the_source_directly(write: Write) -> None:
    t = TexthashTable(write("t", 'Root@Example.com r\n"a b" quoted\n'))
    assert (t.lookup("root@example.COM"), t.lookup('"A B"')) == ("r", "quoted")
    assert dict(t.items()) == {"root@example.com": "r", '"a b"': "quoted"}


def test_texthash_warnings_name_the_line_and_the_key_as_written(write: Write) -> None:
    path = write("t", "a 1\nA 2\nnovalue\n")
    t = TexthashTable(path)
    assert t.warnings == [f'{path}, line 2: duplicate entry: "A"',
                          f"{path}, line 3: expected format: key whitespace value"
                          " -- ignoring this line"]
    assert t.lookup("a") == "1"
    assert TexthashTable(path, dup=DupMode.REPLACE).lookup("a") == "2"


def test_texthash_notices_a_changed_file(write: Write) -> None:
    t = TexthashTable(write("t", "a 1\n"))
    write("t", "a 22\n")
    assert t.is_stale()


def test_a_missing_texthash_file_is_named(tmp_path: object) -> None:
    with pytest.raises(MapError, match="open database /nonexistent: No such file"):
        TexthashTable("/nonexistent")
