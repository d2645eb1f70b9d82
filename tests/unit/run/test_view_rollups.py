"""The measurements view is as fine as the probe rollups (``probe.rollup_s``), no finer."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from routepilot.probe.snapshot import ProbeRollup
from routepilot.run.view import DaemonView
from routepilot.store import AsyncStore, MemoryStore
from routepilot.view import SeriesQuery

PREFIX = "198.18.3.0/24"


def rollup(start: int, rtt_ms: float) -> ProbeRollup:
    return ProbeRollup(
        minute=start, prefix=PREFIX, provider="isp1", kind="icmp", sent=10, answered=10,
        rtt_min_ms=rtt_ms, rtt_median_ms=rtt_ms, rtt_p90_ms=rtt_ms, rtt_max_ms=rtt_ms,
        jitter_ms=0.0, loss=0.0,
    )  # fmt: skip


@pytest.mark.parametrize(("rollup_s", "step_s"), [(10, 10), (10, 60), (60, 10)])
def test_measurements_come_at_the_rollups_step_or_the_one_asked(
    rollup_s: int, step_s: float
) -> None:
    store = MemoryStore()
    # A minute of 10-second rollups: 10 ms, then 50 ms for its last 20 s.
    store.write_probe_rollups([rollup(600 + 10 * k, 10.0 if k < 4 else 50.0) for k in range(6)])
    aio = AsyncStore(store)
    q = SeriesQuery(since=0, until=1000, prefix=PREFIX, step_s=step_s)

    async def read() -> list[dict]:
        await aio.start()
        try:
            controller = SimpleNamespace(store=aio, prober=None)
            settings = {"probe": {"rollup_s": rollup_s}}
            view = DaemonView(controller, asyncio.get_running_loop(), settings)  # type: ignore[arg-type]
            # The API reads from its own thread, as here.
            return await asyncio.to_thread(view.measurements, q)
        finally:
            await aio.stop()

    points = asyncio.run(read())
    got = [(p["time"], round(p["rtt_ms"], 3)) for p in points]
    if max(rollup_s, step_s) == 10:
        assert got == [(600 + 10 * k, 10.0 if k < 4 else 50.0) for k in range(6)]
    else:  # one point a minute, the rollups' RTTs weighted by answers
        assert got == [(600, round((4 * 10 + 2 * 50) / 6, 3))]
