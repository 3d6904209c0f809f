"""Detaching: ``start`` returns once the master says it is ready, or with the reason it is not."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mailrelay.master.daemon import Ready, detach


def wait_for(path: Path) -> str:
    deadline = time.monotonic() + 10
    while not path.exists() or not path.read_text().endswith("\n"):
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.02)
    return path.read_text()


def test_the_daemon_reports_ready_and_runs_detached_with_stdio_on_dev_null(
        tmp_path: Path) -> None:
    report = tmp_path / "report"

    def main(ready: Ready) -> int:
        facts = [str(os.getsid(0) == os.getpid()), str(os.getppid()),
                 os.readlink("/proc/self/fd/1")]
        ready()
        report.write_text(" ".join(facts) + "\n")
        return 0

    assert detach(main) is None
    leader, parent, stdout = wait_for(report).split()
    assert leader == "False"  # not a session leader: it can never get a terminal back
    assert int(parent) != os.getpid()
    assert stdout == os.devnull


def test_an_error_before_ready_comes_back_to_the_starter(tmp_path: Path) -> None:
    def main(ready: Ready) -> int:
        raise RuntimeError("bind 127.0.0.1 port 25: Address already in use")

    assert detach(main) == "bind 127.0.0.1 port 25: Address already in use"


def test_a_daemon_that_exits_without_ready_is_a_failure(tmp_path: Path) -> None:
    def main(ready: Ready) -> int:
        return 1

    assert detach(main) == "the master exited before it was ready"
