"""hash:, btree:, lmdb: compiled LMDB tables: build, read, edit, replace atomically."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mailrelay.maps.base import MapError
from mailrelay.maps.indexed import (
    DupMode,
    IndexedTable,
    compile_source,
    compiled_path,
    default_mode,
    delete_keys,
    stale_warning,
    update_source,
)


def build(path: str, text: str, type_: str = "hash", **kw: object) -> list[str]:
    """Write *text* as the source at *path* and compile it; the warnings."""
    Path(path).write_text(text)
    warnings: list[str] = []
    compile_source(type_, path, text.encode(), warnings.append, **kw)  # type: ignore[arg-type]
    return warnings


def test_compiled_files_are_named_as_postfix_names_them() -> None:
    assert compiled_path("hash", "/etc/x") == "/etc/x.db"
    assert compiled_path("btree", "/etc/x") == "/etc/x.db"
    assert compiled_path("lmdb", "/etc/x") == "/etc/x.lmdb"


def test_a_compiled_table_answers_folded_keys(tmp_path: Path) -> None:
    src = str(tmp_path / "generic")
    assert build(src, "Root@Relay.corp.local noreply@corp.com\n") == []
    table = IndexedTable("hash", src)
    assert table.lookup("ROOT@relay.CORP.local") == "noreply@corp.com"
    assert table.lookup("nobody@relay.corp.local") is None
    assert table.lookup("") is None
    assert list(table.items()) == [("root@relay.corp.local", "noreply@corp.com")]
    table.close()


def test_without_folding_keys_keep_their_case(tmp_path: Path) -> None:
    src = str(tmp_path / "t")
    build(src, "Key v\n", fold_keys=False)
    table = IndexedTable("hash", src, fold_case=False)
    assert (table.lookup("Key"), table.lookup("key")) == ("v", None)


@pytest.mark.parametrize(("dup", "value", "warnings"), [
    (DupMode.WARN, "1", ['T.db: duplicate entry: "a"']),
    (DupMode.IGNORE, "1", []),
    (DupMode.REPLACE, "2", []),
])
def test_duplicate_keys_follow_postmap_w_and_r(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                dup: DupMode, value: str,
                                                warnings: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert build("T", "a 1\nA 2\n", dup=dup) == warnings
    assert IndexedTable("hash", "T").lookup("a") == value


def test_lmdb_duplicates_are_named_like_postfix_lmdb(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert build("T", "a 1\na 2\n", "lmdb") == ['lmdb:T: duplicate entry: "a"']
    assert IndexedTable("lmdb", "T").lookup("a") == "1"


def test_keys_too_long_for_lmdb_are_skipped_with_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    warnings = build("T", "k" * 600 + " v\nok v\n")
    assert warnings == ["T.db: key longer than 511 bytes at line 1: skipping this entry"]
    assert IndexedTable("hash", "T").lookup("k" * 600) is None


def test_a_reader_keeps_its_table_while_a_new_one_is_installed(tmp_path: Path) -> None:
    src = str(tmp_path / "t")
    build(src, "a old\n")
    reader = IndexedTable("hash", src)
    assert not reader.is_stale()
    build(src, "a new\n")
    assert reader.is_stale()
    assert reader.lookup("a") == "old"  # still the complete old table
    assert IndexedTable("hash", src).lookup("a") == "new"


def test_two_tables_on_one_file_share_it_and_close_independently(tmp_path: Path) -> None:
    src = str(tmp_path / "t")
    build(src, "a 1\n")
    first, second = IndexedTable("hash", src), IndexedTable("btree", src)
    first.close()
    first.close()  # closing twice is harmless
    assert second.lookup("a") == "1"
    second.close()
    assert IndexedTable("hash", src).lookup("a") == "1"


def test_incremental_update_adds_and_keeps_the_rest(tmp_path: Path) -> None:
    src = str(tmp_path / "t")
    build(src, "a 1\nb 2\n")
    warnings: list[str] = []
    update_source("hash", src, b"c 3\nb 9\n", "stdin", warnings.append)
    assert warnings == [f'{src}.db: duplicate entry: "b"']
    assert dict(IndexedTable("hash", src).items()) == {"a": "1", "b": "2", "c": "3"}


def test_incremental_update_creates_a_missing_table(tmp_path: Path) -> None:
    src = str(tmp_path / "new")
    update_source("lmdb", src, b"k v\n", "stdin", [].append)
    assert IndexedTable("lmdb", src).lookup("K") == "v"


def test_delete_reports_whether_a_key_was_there(tmp_path: Path) -> None:
    src = str(tmp_path / "t")
    build(src, "a 1\nb 2\n")
    assert delete_keys("hash", src, ["A"]) is True
    assert delete_keys("hash", src, ["a"]) is False
    assert dict(IndexedTable("hash", src).items()) == {"b": "2"}


def test_delete_from_a_missing_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MapError, match=r"open database .*missing\.db: No such file"):
        delete_keys("hash", str(tmp_path / "missing"), ["a"])


def test_opening_a_missing_table_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(MapError) as e:
        IndexedTable("hash", str(tmp_path / "x"))
    assert str(e.value) == f"open database {tmp_path}/x.db: No such file or directory"


def test_a_foreign_db_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "x.db").write_bytes(b"\0" * 8192)
    with pytest.raises(MapError, match='rebuild it with "mailrelay postmap hash:'):
        IndexedTable("hash", str(tmp_path / "x"))


def test_a_source_newer_than_its_table_is_reported_after_100_seconds(tmp_path: Path) -> None:
    src = str(tmp_path / "t")
    build(src, "a 1\n")
    now = time.time()
    os.utime(src + ".db", (now - 3600, now - 3600))
    os.utime(src, (now - 600, now - 600))
    assert stale_warning(src + ".db", src, now) == (
        f"database {src}.db is older than source file {src}")
    table = IndexedTable("hash", src, now=now)
    assert table.warnings == [f"database {src}.db is older than source file {src}"]
    os.utime(src, (now - 50, now - 50))  # just edited: postmap is probably next
    assert stale_warning(src + ".db", src, now) is None


@pytest.mark.parametrize(("source", "existing", "mode"), [
    (0o600, None, 0o600),
    (0o640, None, 0o640),
    (0o644, None, 0o644),
    (0o666, None, 0o644),
    (0o600, 0o644, 0o600),  # safer than Postfix: a private source makes its table private
    (0o644, 0o600, 0o600),
    (None, None, 0o644),  # postmap -p
])
def test_compiled_file_permissions_never_exceed_the_source(
        source: int | None, existing: int | None, mode: int) -> None:
    assert default_mode(source, existing) == mode


def test_the_mode_is_applied_to_the_installed_file(tmp_path: Path) -> None:
    src = str(tmp_path / "sasl_passwd")
    build(src, "[smtp.example.com]:587 user:secret\n", mode=0o600)
    assert os.stat(src + ".db").st_mode & 0o777 == 0o600
    # Nothing left behind: no temporary file, no LMDB lock file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sasl_passwd", "sasl_passwd.db"]
