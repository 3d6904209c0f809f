import os

import pytest

from mailrelay.util.durable import build_atomically, write_atomically


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "sasl_passwd"
    target.write_text("old")
    os.chmod(target, 0o600)
    write_atomically(target, b"new")
    assert target.read_text() == "new"
    assert os.stat(target).st_mode & 0o777 == 0o600


def test_a_failed_build_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "map.db"
    target.write_text("old")

    def broken(path):
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        build_atomically(target, broken)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.db"]


def test_a_new_file_is_created(tmp_path):
    write_atomically(tmp_path / "x", b"data", mode=0o640)
    assert (tmp_path / "x").read_bytes() == b"data"
    assert os.stat(tmp_path / "x").st_mode & 0o777 == 0o640
