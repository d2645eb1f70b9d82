"""The prober in its own process: same results, rollups back to the parent's sink."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.fixtures.delays import check_held_delay
from tests.fixtures.netns import destination, netns, prefix

from routepilot.probe.config import ProbeConfig
from routepilot.probe.rollup import MemoryRollupSink
from routepilot.probe.sockets import ProbeSetupError, Steering
from routepilot.probe.worker import ProberProcess


def test_worker_measures_and_reports(bed):
    bed.delay(2, 15.0)
    sink = MemoryRollupSink()
    cfg = ProbeConfig(
        enabled=True,
        interval_s=0.2,
        exit_interval_s=0.2,
        alternative_interval_s=0.2,
        timeout_s=0.5,
        train_size=2,
        per_target_rate=50,
    )

    async def scenario():
        with netns(bed.p):
            pr = ProberProcess(cfg, bed.providers(), sink=sink)
            await pr.start()
        try:
            t0 = time.monotonic()
            pr.set_paths([(prefix(10), "isp1", 0), (prefix(10), "isp2", 2)])
            pr.observe_destinations([destination(10, 1), destination(10, 2)])
            deadline = time.monotonic() + 10.0
            while not (pr.snapshot().samples[0, :2] >= 6).all():
                assert time.monotonic() < deadline, "no samples on both paths"
                await asyncio.sleep(0.05)
            snap = pr.snapshot()
            assert snap.prefixes == (prefix(10),)
            assert snap.rtt_median_ms[0, 0] < 1.0
            targets = {destination(10, 1), destination(10, 2)}
            check_held_delay(lambda: bed.held(2), targets, t0, snap.rtt_median_ms[0, 1], 15.0)
            assert snap.samples[0, 2] == 0
            deadline = time.monotonic() + 10.0
            while pr.refresh_metrics().total("answered") <= 20:
                assert time.monotonic() < deadline, "too few answers"
                await asyncio.sleep(0.05)
        finally:
            await pr.stop()

    asyncio.run(scenario())
    assert {r.provider for r in sink.rows} == {"isp1", "isp2"}


def test_worker_setup_error_reaches_the_caller(bed):
    async def scenario():
        with netns(bed.p):
            pr = ProberProcess(ProbeConfig(enabled=True), [("x", Steering(source="100.67.0.77"))])
            with pytest.raises(ProbeSetupError, match="100.67.0.77 is not configured"):
                await pr.start()

    asyncio.run(scenario())
