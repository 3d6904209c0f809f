"""Turning metrics on in the master: prometheus_client's multiprocess mode, set up before use.

SECURITY: empties and creates ``$queue_directory/pid/metrics/``; sets PROMETHEUS_MULTIPROC_DIR
in the master's environment (inherited by every child).

Theory of operation.  Every process that logs counts its own events: prometheus_client's
multiprocess mode gives each pid its own memory-mapped value files in one directory, and the
endpoint's MultiProcessCollector sums them at scrape time.  The client decides at import time
whether it is in that mode, so the variable is set here first and prometheus_client is imported
only after it -- and only when metrics_http_address is set, so that with metrics off it is
never loaded and the maillog tap stays None.  The directory is emptied when the master starts
(counters restart with the daemon, as the exporter's do) and kept across reloads (counters
survive a reload).  Counter and histogram files of exited processes stay (their counts are
history); a reaped process's live gauge files are removed by `process_dead`, so that the
current-connections gauge counts living workers only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_directory(queue_directory: Path) -> Path:
    return queue_directory / "pid" / "metrics"


def enable(directory: Path, *, empty: bool = True) -> Callable[[str, str], None]:
    """Point the client at *directory* (emptied first when *empty*); the maillog tap."""
    if empty:
        shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ[ENV] = str(directory)
    from mailrelay.metrics.registry import tap  # after the variable: see the docstring

    return tap()


def process_dead(directory: Path, pid: int) -> None:
    """Drop the live gauges of an exited child."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
