"""The pid file: locked for the master's life, so a second master and the commands can tell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailrelay.master.pidfile import AlreadyRunning, PidFile, pid_path, running_pid


def test_the_pid_file_lives_under_the_queue_directory(tmp_path: Path) -> None:
    assert pid_path(tmp_path) == tmp_path / "pid" / "master.pid"


def test_a_held_pid_file_names_the_running_master_and_refuses_a_second(tmp_path: Path) -> None:
    path = pid_path(tmp_path)
    first = PidFile(path)
    first.acquire()
    try:
        assert path.read_text() == f"{os.getpid():>10}\n"
        assert running_pid(path) == os.getpid()
        with pytest.raises(AlreadyRunning) as caught:
            PidFile(path).acquire()
        assert caught.value.pid == os.getpid()
    finally:
        first.release()
    assert not path.exists()
    assert running_pid(path) is None


def test_a_stale_pid_file_without_its_lock_is_not_a_running_master(tmp_path: Path) -> None:
    path = pid_path(tmp_path)
    path.parent.mkdir()
    path.write_text("         1\n")
    assert running_pid(path) is None
    PidFile(path).acquire()  # and it does not stop a new master
