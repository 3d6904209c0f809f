"""Group commit: every waiter gets a directory fsync that began after it asked, and they share."""

import asyncio
import threading
import time

from mailrelay.smtpd.spool import GroupSync


class SlowStore:
    def __init__(self) -> None:
        self.started: list[float] = []
        self.lock = threading.Lock()

    def sync(self, queue: object) -> None:
        with self.lock:
            self.started.append(time.monotonic())
        time.sleep(0.05)


def test_waiters_share_fsyncs_that_started_after_they_asked():
    store = SlowStore()
    group = GroupSync(store, "incoming")  # type: ignore[arg-type]

    async def main() -> list[float]:
        asked: list[float] = []

        async def waiter(delay: float) -> None:
            await asyncio.sleep(delay)
            t = time.monotonic()
            asked.append(t)
            await group.sync()
            assert any(start >= t for start in store.started)

        await asyncio.gather(*(waiter(i * 0.005) for i in range(20)))
        return asked

    asked = asyncio.run(main())
    assert len(asked) == 20
    assert len(store.started) <= 4  # 20 messages, a handful of directory fsyncs
