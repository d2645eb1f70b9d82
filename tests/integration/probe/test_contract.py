"""One contract for every prober: the in-process one, the worker process and the fake.

All three satisfy :class:`~routepilot.probe.interface.ProberInterface` and must
behave the same way for the caller (run/ and the API through the view): inputs before or
after start, paths replaced or derived from traffic and routes with VIP prefixes, hints,
a reloaded section, snapshot (awaited too), failing paths (awaited too), the minute in
progress (from another thread too), RTTs, metrics, rollups at stop, stop twice.
The real ones run on the testbed's namespaces (root); the fake needs neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import numpy as np
import pytest
from tests.fixtures.netns import destination, netns, prefix

from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.probe.component import Prober
from routepilot.probe.config import ProbeConfig
from routepilot.probe.fake import FakeProber
from routepilot.probe.interface import ProberInterface
from routepilot.probe.rollup import MemoryRollupSink
from routepilot.probe.sockets import Steering
from routepilot.probe.worker import ProberProcess
from routepilot.rib.snapshot import RoutesSnapshot

NAMES = ("isp1", "isp2", "isp3")
CFG = ProbeConfig(
    enabled=True,
    interval_s=0.2,
    exit_interval_s=0.2,
    alternative_interval_s=0.2,
    timeout_s=0.5,
    train_size=2,
    per_target_rate=50,
)


@pytest.fixture(params=["Prober", "ProberProcess", "FakeProber"])
def build(request):
    """A function making the prober under test, and the namespace to start it in."""
    if request.param == "FakeProber":
        providers = [(n, Steering()) for n in NAMES]
        return lambda sink: (FakeProber(CFG, providers, sink=sink), contextlib.nullcontext())
    bed = request.getfixturevalue("bed")
    cls = Prober if request.param == "Prober" else ProberProcess
    return lambda sink: (cls(CFG, bed.providers(), sink=sink), netns(bed.p))


async def until(condition, timeout_s: float = 10.0) -> None:
    """Waits for ``condition()`` to hold, failing after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def _snapshots() -> tuple[TrafficSnapshot, RoutesSnapshot]:
    """Traffic to prefix 13 out of isp1; routes to 13 and 14 through every provider."""
    traffic = TrafficSnapshot(
        time=0.0,
        window_s=60.0,
        prefixes=(prefix(13),),
        providers=NAMES,
        bps=np.array([[5e6, 0, 0]]),
        pps=np.zeros((1, 3)),
    )
    routes = RoutesSnapshot(
        time=0.0,
        prefixes=(prefix(13), prefix(14)),
        providers=NAMES,
        has_route=np.ones((2, 3), dtype=bool),
        as_path_len=np.ones((2, 3), dtype=np.int32),
        bgp_best=np.array([0, 0], dtype=np.int32),
    )
    return traffic, routes


def test_every_prober_keeps_the_same_contract(build):
    sink = MemoryRollupSink()

    async def scenario():
        pr, ns = build(sink)
        assert isinstance(pr, ProberInterface)
        assert pr.provider_names == NAMES
        with pytest.raises(KeyError):
            pr.set_paths([(prefix(11), "isp9", 0)])
        # Inputs before start are kept and used once started.
        pr.set_paths([(prefix(11), "isp1", 0), (prefix(11), "isp2", 2)])
        pr.observe_destinations([destination(11, 7)])
        with ns:
            await pr.start()
        try:
            await until(lambda: (pr.snapshot().samples[0, :2] >= 4).all())
            snap = pr.snapshot()
            assert snap.prefixes == (prefix(11),)
            assert snap.providers == NAMES
            assert snap.samples[0, 2] == 0
            assert snap.loss[0, 0] == 0 and snap.loss[0, 1] == 0
            assert destination(11, 7) in snap.targets[prefix(11)]
            assert pr.failing_paths() == [] and await pr.failing_paths_async() == []
            assert (await pr.snapshot_async()).prefixes == (prefix(11),)
            assert set(pr.recent_rtts()) == {(prefix(11), "isp1"), (prefix(11), "isp2")}
            # The minute in progress, asked from the loop and from an API worker's thread.
            # (A minute may have just begun: until its first answers are in.)
            providers = lambda rows: {r.provider for r in rows}  # noqa: E731
            await until(lambda: providers(pr.minute_so_far(prefix(11))) == {"isp1", "isp2"})
            assert {r.prefix for r in pr.minute_so_far(prefix(11))} == {prefix(11)}
            threaded = await asyncio.to_thread(pr.minute_so_far, prefix(11))
            assert providers(threaded) <= {"isp1", "isp2"}
            assert {r.prefix for r in threaded} <= {prefix(11)}
            pr.hint({prefix(11): time.time() + 5}, time.time())
            pr.reconfigure(CFG.model_copy(update={"max_rate": 500.0}))
            assert pr.config.max_rate == 500.0
            await until(lambda: pr.refresh_metrics().total("answered") >= 8)
            m = pr.refresh_metrics()
            assert m.total("sent") >= m.total("answered") >= 8
            assert m.total("lost") == 0 and m.total("socket_drops") == 0
            # New paths replace the old ones.
            pr.set_paths([(prefix(12), "isp3", 0)])
            await until(lambda: pr.snapshot().prefixes == (prefix(12),))
            await until(lambda: pr.snapshot().samples[0, 2] >= 2)
            # Paths derived from traffic and routes; a VIP prefix without traffic is
            # measured through every provider with a route.
            traffic, routes = _snapshots()
            pr.update(traffic, routes, None, vip=[prefix(14)])
            await until(lambda: pr.snapshot().prefixes == (prefix(13), prefix(14)))
            await until(lambda: (pr.snapshot().samples[1, :] >= 2).all())
        finally:
            await pr.stop()
            await pr.stop()

    asyncio.run(scenario())
    assert {r.provider for r in sink.rows} >= {"isp1", "isp2"}
    assert {r.provider for r in sink.rows} <= set(NAMES)
