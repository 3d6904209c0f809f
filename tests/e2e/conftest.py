"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest

from tests.e2e.daemon import Daemon


class Stoppable(Protocol):
    def stop(self) -> object: ...


@pytest.fixture
def running() -> Iterator[list[Stoppable]]:
    """What a test started (daemons, smarthosts, DNS servers), stopped in reverse order at
    the end, whatever happened in the test."""
    started: list[Stoppable] = []
    yield started
    for thing in reversed(started):
        if isinstance(thing, Daemon):
            if thing.proc is not None and thing.proc.poll() is None:
                thing.stop()
        else:
            thing.stop()
