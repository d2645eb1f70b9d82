"""VIP prefixes and configured targets are measured without traffic (issue 11, part 4)."""

from __future__ import annotations

import random

import numpy as np

from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.probe.component import Prober
from routepilot.probe.config import ProbeConfig
from routepilot.probe.fake import FakeClock, FakeNetwork
from routepilot.probe.sockets import Steering
from routepilot.rib.snapshot import RoutesSnapshot

NAMES = ["isp1", "isp2", "isp3"]
PREFIXES = ("198.18.1.0/24", "198.18.2.0/24", "198.18.3.0/24", "198.18.4.0/24")


def make(**kw) -> tuple[FakeClock, FakeNetwork, Prober]:
    cfg = ProbeConfig(enabled=True, vip_interval_s=0.5, train_size=1, **kw)
    clock = FakeClock(6_000_000.0)
    net = FakeNetwork(clock, names=NAMES)
    pr = Prober(cfg, [(n, Steering()) for n in NAMES], transport=net, clock=clock,
                rng=random.Random(1))  # fmt: skip
    return clock, net, pr


def snapshots() -> tuple[TrafficSnapshot, RoutesSnapshot]:
    traffic = TrafficSnapshot(
        time=0.0,
        window_s=60.0,
        prefixes=("198.18.1.0/24",),
        providers=tuple(NAMES),
        bps=np.array([[5e6, 0, 0]]),
        pps=np.zeros((1, 3)),
    )
    has = np.ones((4, 3), dtype=bool)
    has[2, 2] = False
    routes = RoutesSnapshot(
        time=0.0,
        prefixes=PREFIXES,
        providers=tuple(NAMES),
        has_route=has,
        as_path_len=np.ones((4, 3), dtype=np.int32),
        bgp_best=np.array([0, 1, 0, 2], dtype=np.int32),
    )
    return traffic, routes


def jobs(pr: Prober) -> dict[tuple[str, str], tuple[int, float]]:
    return {
        (j.prefix, pr.provider_names[j.provider]): (j.priority, j.interval)
        for j in pr.scheduler.jobs.values()
    }


def test_a_vip_prefix_without_traffic_is_measured_through_every_provider_with_a_route():
    _, _, pr = make()
    traffic, routes = snapshots()
    pr.update(traffic, routes, vip=["198.18.3.0/24"])
    got = jobs(pr)
    assert {k: v for k, v in got.items() if k[0] == "198.18.3.0/24"} == {
        ("198.18.3.0/24", "isp1"): (0, 0.5),
        ("198.18.3.0/24", "isp2"): (0, 0.5),
    }
    assert not any(k[0] in ("198.18.2.0/24", "198.18.4.0/24") for k in got)


def test_a_configured_target_brings_its_prefix_in_without_traffic():
    _, _, pr = make(targets=["198.18.4.9"])
    traffic, routes = snapshots()
    pr.update(traffic, routes)
    got = {k: v[0] for k, v in jobs(pr).items() if k[0] == "198.18.4.0/24"}
    assert got == {("198.18.4.0/24", "isp3"): 1, ("198.18.4.0/24", "isp1"): 2,
                   ("198.18.4.0/24", "isp2"): 2}  # fmt: skip


def test_measured_vip_prefix_reaches_the_snapshot():
    clock, net, pr = make()
    net.set_path("isp2", rtt_ms=30.0)
    traffic, routes = snapshots()
    pr.update(traffic, routes, vip=["198.18.3.0/24"])
    net.run(pr, 10.0)
    s = pr.snapshot()
    i = s.prefixes.index("198.18.3.0/24")
    assert (s.samples[i, :2] >= 10).all() and s.samples[i, 2] == 0
