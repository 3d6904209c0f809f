"""The table registry: spec parsing, every type, files of a table, staleness, the cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mailrelay.maps.base import MapError, Table
from mailrelay.maps.indexed import compile_source
from mailrelay.maps.registry import (
    MapCache,
    MapFiles,
    OpenOptions,
    is_source_newer,
    map_files,
    map_list,
    map_type_names,
    open_map,
    split_spec,
    stale_warning,
)


def compile_file(path: Path, text: str, type_: str = "hash") -> None:
    path.write_text(text)
    compile_source(type_, str(path), text.encode(), [].append)


@pytest.mark.parametrize(("spec", "parts"), [
    ("hash:/etc/postfix/generic", ("hash", "/etc/postfix/generic")),
    ("/etc/postfix/generic", ("hash", "/etc/postfix/generic")),
    ("inline:{ a=b }", ("inline", "{ a=b }")),
    ("proxy:hash:/etc/x", ("hash", "/etc/x")),
])
def test_specs_split_into_type_and_name(spec: str, parts: tuple[str, str]) -> None:
    assert split_spec(spec) == parts


@pytest.mark.parametrize("spec", ["hash:", ":foo", "static:", "fail:"])
def test_specs_without_type_or_name_are_refused_in_postfix_words(spec: str) -> None:
    with pytest.raises(MapError) as e:
        split_spec(spec)
    assert str(e.value) == f'open dictionary: expecting "type:name" form instead of "{spec}"'


def test_an_unknown_type_is_refused_in_postfix_words() -> None:
    with pytest.raises(MapError) as e:
        open_map("mysql:/etc/postfix/x.cf")
    assert str(e.value) == "unsupported dictionary type: mysql"


def test_every_type_opens(tmp_path: Path) -> None:
    compile_file(tmp_path / "h", "k hash\n")
    compile_file(tmp_path / "b", "k btree\n", "btree")
    compile_file(tmp_path / "l", "k lmdb\n", "lmdb")
    (tmp_path / "t").write_text("k texthash\n")
    (tmp_path / "r").write_text("/k/ regexp\n")
    (tmp_path / "p").write_text("/k/ pcre\n")
    (tmp_path / "c").write_text("10.0.0.0/8 cidr\n")
    specs = {f"hash:{tmp_path}/h": "hash", f"btree:{tmp_path}/b": "btree",
             f"lmdb:{tmp_path}/l": "lmdb", f"texthash:{tmp_path}/t": "texthash",
             f"regexp:{tmp_path}/r": "regexp", f"pcre:{tmp_path}/p": "pcre",
             "inline:{k=inline}": "inline", "static:static": "static"}
    for spec, value in specs.items():
        assert open_map(spec).lookup("K") == value, spec
    assert open_map(f"cidr:{tmp_path}/c").lookup("10.1.2.3") == "cidr"
    assert {"hash", "regexp", "cidr", "inline", "proxy"} <= map_type_names()


def test_map_lists_keep_braced_groups_whole() -> None:
    assert map_list("hash:/a, inline:{ a=b, c=d }  regexp:/b") == [
        "hash:/a", "inline:{ a=b, c=d }", "regexp:/b"]


def test_map_files_name_source_and_compiled_files() -> None:
    assert map_files("hash:/etc/postfix/generic") == MapFiles("/etc/postfix/generic",
                                                              "/etc/postfix/generic.db")
    assert map_files("lmdb:/x") == MapFiles("/x", "/x.lmdb")
    assert map_files("regexp:/x") == MapFiles("/x", None)
    assert map_files("inline:{a=b}") == MapFiles(None, None)


def test_staleness_of_a_compiled_table(tmp_path: Path) -> None:
    src = tmp_path / "generic"
    compile_file(src, "a b\n")
    spec = f"hash:{src}"
    now = time.time()
    os.utime(f"{src}.db", (now - 3600, now - 3600))
    os.utime(src, (now - 600, now - 600))
    assert is_source_newer(spec)
    assert stale_warning(spec, now) == f"database {src}.db is older than source file {src}"
    warned = open_map(spec, OpenOptions(now=now))
    assert warned.warnings == [f"database {src}.db is older than source file {src}"]
    os.utime(src, (now - 7200, now - 7200))
    assert not is_source_newer(spec)
    assert stale_warning(spec, now) is None
    assert not is_source_newer("regexp:/x")


def test_the_cache_returns_the_open_table_until_its_file_is_replaced(tmp_path: Path) -> None:
    src = tmp_path / "t"
    compile_file(src, "a 1\n")
    cache = MapCache()
    first = cache.get(f"hash:{src}")
    assert cache.get(f"hash:{src}") is first
    compile_file(src, "a 2\n")
    second = cache.get(f"hash:{src}")
    assert second is not first and second.lookup("a") == "2"
    maps = cache.maps(f"hash:{src}, inline:{{b=3}}", "transport_maps")
    assert maps.title == "transport_maps"
    assert [t.lookup("b") for t in maps.tables] == [None, "3"]
    cache.close()


def test_the_cache_keeps_the_old_table_when_the_new_one_cannot_be_opened(
        tmp_path: Path) -> None:
    src = tmp_path / "t"
    compile_file(src, "a 1\n")
    cache = MapCache()
    old: Table = cache.get(f"hash:{src}")
    os.replace(f"{src}.db", tmp_path / "elsewhere")
    with pytest.raises(MapError):
        cache.get(f"hash:{src}")
    assert old.lookup("a") == "1"
