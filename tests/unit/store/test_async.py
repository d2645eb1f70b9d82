"""AsyncStore and the threaded sink flows/ and probe/ write to."""

from __future__ import annotations

import asyncio
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
