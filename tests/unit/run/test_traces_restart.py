"""diagnose/'s traceroutes survive a restart: stored as they run (the newest few per path),
and served again by GET /api/v1/traces from a daemon started on the same database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi.testclient import TestClient
from tests.unit.diagnose.test_component import PREFIXES, PROVIDERS, fake_trace, learned, snapshot
from tests.unit.run.test_controller import CONFIGURED, make

from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.config.diagnose import DiagnoseConfig
from routepilot.diagnose.component import Diagnosis
from routepilot.probe.trace import TRACES_KEPT, Tracer
from routepilot.run.wiring import Daemon
from routepilot.store import AsyncStore, SqliteStore, StoreConfig

ROUNDS = TRACES_KEPT + 2
"""Rounds of the first life, each tracing every degraded path once (trace_every_s apart)."""


async def first_life(path: Path) -> None:
    """The diagnosis traces every path of the degraded prefixes, round after round."""
    store = AsyncStore(SqliteStore.open(StoreConfig(path=str(path))))
    await store.start()
    now = [0.0]
    config = DiagnoseConfig(trace_busiest=0, trace_every_s=60.0)
    d = Diagnosis(config, PROVIDERS, learned, store=store, clock=lambda: now[0])
    d.tracer = Tracer(
        Tracer.of_providers(PROVIDERS), d.asn_of, trace_fn=fake_trace, clock=lambda: now[0]
    )
    await d.start()
    sick = snapshot({"isp1", "isp2"})  # AS64501 loses: every prefix degraded
    for k in range(ROUNDS):
        now[0] = 1_800_000_000.0 + 60.0 * k
        await d.round(now[0], None, None, sick)
        await asyncio.sleep(0)  # the round's traceroutes start
        await asyncio.gather(*d._tasks)
    assert d.tracer.traces_total == ROUNDS * len(PREFIXES) * len(PROVIDERS)
    # The table keeps the newest TRACES_KEPT of each path, as the tracer does.
    stored = await store.traces(PREFIXES[0], "isp1")
    assert len(stored) == TRACES_KEPT
    assert stored[-1]["time"] == 1_800_000_000.0 + 60.0 * (ROUNDS - TRACES_KEPT)
    await d.stop()
    await store.stop()


def test_traces_are_served_again_after_a_restart(tmp_path: Path) -> None:
    asyncio.run(first_life(tmp_path / "rp.db"))

    async def second_life() -> None:
        c, _, _, _ = make(tmp_path)  # a new controller on the same database
        daemon = Daemon(CONFIGURED, c)
        await daemon.start()
        try:
            assert daemon.view is not None and daemon.diagnosis is not None
            tracer = daemon.diagnosis.tracer
            assert tracer is not None
            app = create_app(daemon.view, ApiConfig(), static_dir=Path("/nonexistent"))
            with TestClient(app) as client:
                r = client.get("/api/v1/traces", params={"prefix": PREFIXES[0]})
                assert r.status_code == 200, r.text
                every = r.json()
                r = client.get("/api/v1/traces", params={"prefix": PREFIXES[0], "provider": "isp3"})
                isp3 = r.json()
            # Nothing traced in this life: what is served was stored by the first.
            assert tracer.traces_total == 0 and tracer.latest == {}
        finally:
            await daemon.stop()
        assert len(every) == TRACES_KEPT * len(PROVIDERS)
        times = [t["time"] for t in every]
        assert times == sorted(times, reverse=True)
        newest = 1_800_000_000.0 + 60.0 * (ROUNDS - 1)
        assert times[0] == newest and min(times) == newest - 60.0 * (TRACES_KEPT - 1)
        assert {t["provider"] for t in every} == {"isp1", "isp2", "isp3"}
        isp1 = next(t for t in every if t["provider"] == "isp1")
        assert isp1["asns"] == [65001, 64501, 64600] and isp1["reached"] is True
        assert isp1["target"] == "198.18.0.5"
        assert len(isp3) == TRACES_KEPT and isp3[0]["asns"] == [65003, 64502, 64600]
        assert isp3[0]["hops"][2] == {
            "ttl": 3, "address": "100.92.102.1", "asn": 64502, "rtt_ms": 2.0, "loss": 0.5,
        }  # fmt: skip

    asyncio.run(second_life())
