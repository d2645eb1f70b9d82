"""Warm start (run/controller.py, store/warm.py): after a restart, the last minute of traffic
the store holds stands in for the flows until they return, for ``warm_start_s`` at most.

The store is the real SQLite file a previous run left; flows/ is a stub whose traffic the
test turns on, the way exporters come back after a restart.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

import numpy as np
from tests.unit.run.test_controller import (
    CONFIGURED,
    PREFIXES,
    PROVIDERS,
    Clock,
    StubPipeline,
    StubProber,
    _routers_up,
    run,
    view,
)

from routepilot.flows.snapshot import TrafficRow, TrafficSnapshot
from routepilot.rib.speaker.fake import FakeSpeaker
from routepilot.run.wiring import build_controller, build_stages
from routepilot.store import AsyncStore, SqliteStore, StoreConfig

BUSY, QUIET = PREFIXES
WARM = "flows not back yet: using the last stored minute of traffic"
"""What status says while the stored minute stands in (run/view.py)."""


class ReturningFlows(StubPipeline):
    """No traffic at all, as after a restart, until the test sets :attr:`live`; the view
    is whole once the test says every flow has been reported (:attr:`is_whole`)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.live: TrafficSnapshot | None = None
        self.is_whole = False

    def snapshot(self, now: float) -> TrafficSnapshot:
        if self.live is not None:
            return replace(self.live, whole=self.is_whole)
        empty = np.zeros((0, len(PROVIDERS)))
        return TrafficSnapshot(
            now, 10.0, (), PROVIDERS, empty, empty, provider_bps={}, whole=self.is_whole
        )


def stored(path: Path, minute: float) -> None:
    """What the previous run's flows/ left in the store: an older minute and ``minute``,
    BUSY at 8 Mb/s and QUIET at 1 Mb/s, both through isp1 (BGP's choice)."""
    store = SqliteStore.open(StoreConfig(path=str(path)))
    try:
        rows = []
        for t, scale in ((minute - 60, 5.0), (minute, 1.0)):
            for prefix, mbps in ((BUSY, 8.0), (QUIET, 1.0)):
                octets = scale * mbps * 1e6 / 8 * 60
                rows.append(TrafficRow(t, 60.0, prefix, "isp1", octets, octets / 1000))
        store.write_traffic(rows)
    finally:
        store.close()


@contextlib.asynccontextmanager
async def restarted(path: Path, clock: Clock):  # type: ignore[no-untyped-def]
    """A controller started on the store at ``path``, its flows not back yet."""
    speaker, prober, flows = FakeSpeaker(["edge"]), StubProber(), ReturningFlows(clock)
    stages = build_stages(
        CONFIGURED,
        store=AsyncStore(SqliteStore.open(StoreConfig(path=str(path)))),
        speaker=speaker,
        prober_factory=lambda sink: prober,
        clock=clock,
    )
    stages.pipeline = flows
    c = build_controller(CONFIGURED, stages, clock=clock)
    await c.start()
    try:
        await _routers_up(c, speaker)
        yield c, speaker, prober, flows
    finally:
        await c.stop()


def returned(now: float) -> TrafficSnapshot:
    """The flows once back: BUSY now leaves by isp2 at 3 Mb/s, QUIET by isp1 at 2 Mb/s."""
    bps = np.array([[0.0, 3e6, 0.0], [2e6, 0.0, 0.0]])
    return TrafficSnapshot(
        now, 10.0, PREFIXES, PROVIDERS, bps, bps / 1000,
        provider_bps={"isp1": 2e6, "isp2": 3e6, "isp3": 0.0},
    )  # fmt: skip


def rates(c) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Each prefix's traffic as the API lists it after the last round."""
    return {p["prefix"]: p["traffic_bps"] for p in view(c).prefixes()}


def test_the_last_stored_minute_stands_in_until_flows_return(tmp_path: Path) -> None:
    clock = Clock()
    stored(tmp_path / "rp.db", clock.now - 60)

    async def body() -> None:
        async with restarted(tmp_path / "rp.db", clock) as (c, speaker, prober, flows):
            assert c.warm_start_active
            await c.cycle()
            # The newest stored minute, not the older one, at its rates.
            assert rates(c) == {BUSY: 8e6, QUIET: 1e6}
            # It is no whole view of now: it splits the traffic between providers as the
            # exits were before the restart. decide/'s commit control waits for one.
            assert not c.last_inputs[0].whole
            assert WARM in view(c).status()["degraded"]
            # Decisions are made on it: BUSY's default gets slow and it moves, with the
            # stored minute's traffic in the journal.
            prober.rtt[BUSY]["isp1"] = 60.0
            clock.now += 2
            await c.cycle()
            assert speaker.rib_out["edge"][BUSY].next_hop == "100.64.2.2"
            move = view(c).decisions(prefix=BUSY)[0]
            assert move["reason"] == "latency" and move["traffic_bps"] == 8e6

            # The first flows return: some flows and not others, so the stored minute
            # still stands in.
            flows.live = returned(clock.now)
            clock.now += 2
            await c.cycle()
            assert rates(c) == {BUSY: 8e6, QUIET: 1e6}
            # Every flow has been reported once: the live view replaces the stored
            # minute, well within warm_start_s.
            flows.is_whole = True
            clock.now += 2
            await c.cycle()
            assert rates(c) == {BUSY: 3e6, QUIET: 2e6}
            assert c.last_inputs[0].whole
            assert speaker.rib_out["edge"][BUSY].next_hop == "100.64.2.2"

    run(body())


def test_the_stored_minute_stands_in_for_warm_start_s_at_most(tmp_path: Path) -> None:
    clock = Clock()
    stored(tmp_path / "rp.db", clock.now - 60)

    async def body() -> None:
        async with restarted(tmp_path / "rp.db", clock) as (c, _, _, _):
            clock.now += CONFIGURED.controller.warm_start_s - 1
            await c.cycle()
            assert rates(c) == {BUSY: 8e6, QUIET: 1e6}
            # Still no flows when warm_start_s has passed: the stored minute is too old to
            # say where the traffic goes; routepilot says so by no longer using it.
            clock.now += 2
            await c.cycle()
            assert rates(c) == {}
            assert not c.warm_start_active
            assert WARM not in view(c).status()["degraded"]

    run(body())


def test_traffic_stored_long_before_the_restart_is_not_used(tmp_path: Path) -> None:
    clock = Clock()
    stored(tmp_path / "rp.db", clock.now - 3600)

    async def body() -> None:
        async with restarted(tmp_path / "rp.db", clock) as (c, _, _, _):
            assert not c.warm_start_active
            await c.cycle()
            assert rates(c) == {}
            assert WARM not in view(c).status()["degraded"]

    run(body())


def test_status_stops_saying_warm_start_once_flows_return(tmp_path: Path) -> None:
    clock = Clock()
    stored(tmp_path / "rp.db", clock.now - 60)

    async def body() -> None:
        async with restarted(tmp_path / "rp.db", clock) as (c, _, _, flows):
            await c.cycle()
            assert WARM in view(c).status()["degraded"]
            flows.live = returned(clock.now)
            flows.is_whole = True
            clock.now += 2
            await c.cycle()
            assert rates(c) == {BUSY: 3e6, QUIET: 2e6}
            assert not c.warm_start_active
            assert WARM not in view(c).status()["degraded"]

    run(body())
