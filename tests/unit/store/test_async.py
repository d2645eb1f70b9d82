"""AsyncStore and the threaded sink flows/ and probe/ write to."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from routepilot.flows.sink import TrafficRow
from routepilot.store import AsyncStore, ControllerState, Query, SqliteStore, StoreConfig


def test_async_store_round_trip(tmp_path: Path) -> None:
    async def main() -> None:
        store = AsyncStore(SqliteStore.open(StoreConfig(path=str(tmp_path / "rp.db"))))
        await store.start()
        sink = store.sink()
        sink.write_traffic([TrafficRow(1.0, 60.0, "p", "a", 1.0, 1.0)])
        await store.write_traffic([TrafficRow(2.0, 60.0, "p", "a", 1.0, 1.0)])
        rows = await store.traffic(Query(prefix="p"))
        assert [r.time for r in rows] == [1.0, 2.0]  # in order: one worker thread
        await store.save_state(ControllerState(paused=True))
        assert (await store.load_state()).paused
        await store.stop()
        assert sink.errors == 0

    asyncio.run(main())


def test_a_stalled_store_drops_and_counts_rows_instead_of_queueing_them(tmp_path: Path) -> None:
    """While the database stalls, at most max_pending writes wait; the rest are dropped and
    their rows counted, and once it recovers the waiting ones are written in order."""
    inner = SqliteStore.open(StoreConfig(path=str(tmp_path / "rp.db")))
    stall = threading.Event()
    write = inner.write_traffic

    def stalled_write(rows):  # type: ignore[no-untyped-def]
        stall.wait(10)
        write(rows)

    inner.write_traffic = stalled_write  # type: ignore[method-assign]

    async def main() -> None:
        store = AsyncStore(inner)
        await store.start()
        sink = store.sink()
        sink.max_pending = 4
        for i in range(10):
            sink.write_traffic([TrafficRow(float(i), 60.0, "p", "a", 1.0, 1.0)] * 2)
        assert sink.pending == 4
        assert store.metrics.dropped_rows == 12
        stall.set()
        rows = await store.traffic(Query(prefix="p"))
        assert [r.time for r in rows] == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
        assert sink.pending == 0
        await store.stop()

    asyncio.run(main())
