"""Capacity detours (Edge Fabric style) and cost mode with commits and 95th percentile."""

from __future__ import annotations

import numpy as np
import pytest

from routepilot.decide import DecisionState, PolicyConfig, Reason, decide
from routepilot.decide.billing import free_level, p95
from routepilot.decide.scenario import Provider

from .helpers import NAMES, World


@pytest.mark.parametrize("allocator", ["greedy", "lp", "auto"])
def test_overloaded_link_detours_the_cheapest_prefixes(allocator: str) -> None:
    provs = [Provider("a", 100.0), Provider("b", 1000.0), Provider("c", 1000.0)]
    w = World(n=6, policy=PolicyConfig(allocator=allocator), provs=provs)
    w.bps = np.full(6, 20e6)  # 120 Mb/s on a 100 Mb/s link, target 90
    w.rtt[:] = [[30, 50, 60]] * 6
    w.rtt[2] = [30, 31, 60]  # the cheapest detour
    w.rtt[4] = [30, 60, 32]  # the second cheapest
    r = w.step(link_bps={"a": 120e6, "b": 0.0, "c": 0.0})
    assert r.projected_bps["a"] <= 90e6 + 1
    assert set(r.changed().tolist()) == {2, 4}
    assert w.exit(r, 2) == "b" and w.exit(r, 4) == "c"
    assert all(Reason(x) is Reason.CAPACITY for x in r.reason[[2, 4]])
    assert r.allocation["method"] in ("greedy", "lp")


def test_a_performance_move_never_fills_a_link_past_target() -> None:
    provs = [Provider("a", 1000.0), Provider("b", 50.0), Provider("c", 1000.0)]
    w = World(n=4, policy=PolicyConfig(latency_rounds=1), provs=provs)
    w.bps = np.full(4, 20e6)
    w.rtt[:] = [80, 20, 85]
    r = w.step(link_bps={"a": 80e6, "b": 0.0, "c": 0.0})
    assert r.projected_bps["b"] <= 45e6 + 1
    assert (r.exit == 1).sum() == 2


def test_capacity_detour_returns_when_there_is_room_again() -> None:
    provs = [Provider("a", 100.0), Provider("b", 1000.0), Provider("c", 1000.0)]
    w = World(n=2, policy=PolicyConfig(hold_down_s=0), provs=provs)
    w.bps = np.array([50e6, 50e6])
    w.rtt[:] = [30, 40, 60]
    r = w.step(link_bps={"a": 100e6, "b": 0.0, "c": 0.0})
    assert len(r.injections) == 1
    w.bps = np.array([10e6, 10e6])
    # Its full recent demand (50 Mb/s) would not fit under 85: it stays out while it
    # is remembered, then comes home.
    wait = int(w.policy.capacity_demand_memory_s // 10)
    for _ in range(wait - 1):
        r = w.step(link_bps={"a": 10e6, "b": 10e6, "c": 0.0})
        assert len(r.injections) == 1
    r = w.step(link_bps={"a": 10e6, "b": 10e6, "c": 0.0})
    assert r.injections == {} and Reason.REVERT in set(r.reason.tolist())


def test_cost_mode_moves_paying_traffic_to_a_cheaper_provider_within_tolerance() -> None:
    provs = [
        Provider("a", 1000.0, commit_mbps=10.0, cost_per_mbps=5.0),
        Provider("b", 1000.0, commit_mbps=100.0, cost_per_mbps=1.0),
        Provider("c", 1000.0, commit_mbps=0.0, cost_per_mbps=0.5),
    ]
    w = World(n=4, policy=PolicyConfig(mode="cost"), provs=provs)
    w.bps = np.full(4, 10e6)
    w.rtt[:] = [30, 33, 90]  # c is cheapest but far too slow
    r = w.step(link_bps={"a": 40e6, "b": 0.0, "c": 0.0})
    assert set(r.injections.values()) == {"b"}
    assert len(r.injections) == 3  # a keeps its commit's worth
    assert all(Reason(x) is Reason.COST for x in r.reason[r.changed()])


def test_percentile_estimate() -> None:
    assert p95(np.array([])) == 0.0
    assert p95(np.array([1.0, 5.0, 3.0])) == 5.0  # few samples: the maximum
    samples = np.arange(1, 101, dtype=float)
    assert p95(samples) == 95.0
    assert free_level(50.0, samples) == 95.0
    assert free_level(120.0, samples) == 120.0


def test_allocators_agree_on_a_small_problem() -> None:
    from routepilot.decide.allocate import Problem, greedy, lp

    m, k = 30, 3
    rng = np.random.default_rng(3)
    t = rng.uniform(1, 10, m)
    pen = rng.uniform(0, 5, (m, k))
    start = np.zeros(m, dtype=np.int64)
    pen[np.arange(m), start] = 0
    prob = Problem(
        traffic=t,
        start=start,
        allowed=np.ones((m, k), bool),
        penalty=pen,
        fixed=np.zeros(k),
        limit=np.array([t.sum() / 2, t.sum(), t.sum()]),
        commit=np.full(k, np.inf),
        price=np.zeros(k),
    )
    g, (l_, bound) = greedy(prob), lp(prob, 100)
    for a in (g, l_):
        assert (prob.loads(a) <= prob.limit + 1e-9).all()
    assert bound <= prob.objective(l_) + 1e-6 and bound <= prob.objective(g) + 1e-6
    assert prob.objective(l_) <= prob.objective(g) * 1.5


def test_cost_mode_is_fine_with_no_prices() -> None:
    w = World(policy=PolicyConfig(mode="cost"))
    r = decide(w.input(), DecisionState(), w.policy, w.providers)
    assert r.injections == {}


def test_congestion_does_not_wait_for_a_hold_down() -> None:
    provs = [Provider("a", 1000.0), Provider("b", 100.0), Provider("c", 1000.0)]
    w = World(n=4, policy=PolicyConfig(latency_rounds=1, hold_down_s=3600), provs=provs)
    w.bps = np.full(4, 20e6)
    w.rtt[:] = [80, 20, 85]
    r = w.step(link_bps={"a": 80e6, "b": 0.0, "c": 0.0})
    assert (r.exit == 1).sum() == 4  # 80 Mb/s fits under b's 90
    # The prefixes grow: 120 Mb/s, which flows/ sees on b, where they now leave.
    w.bps = np.zeros((4, 3))
    w.bps[:, 1] = 30e6
    r = w.step(link_bps={"a": 0.0, "b": 120e6, "c": 0.0})
    assert r.projected_bps["b"] <= 90e6 + 1
    assert Reason.CAPACITY in set(r.reason.tolist())


def test_capacity_memories_survive_a_restart_through_the_store_codec() -> None:
    from routepilot.store.codec import state_from_json, state_to_json

    provs = [Provider("a", 100.0), Provider("b", 1000.0), Provider("c", 1000.0)]
    w = World(n=6, provs=provs)
    w.bps = np.full(6, 20e6)
    w.rtt[:] = [[30, 50, 60]] * 6
    w.step(link_bps={"a": 120e6, "b": 0.0, "c": 0.0})
    assert w.state.demand and w.state.link_peaks
    assert state_from_json(state_to_json(w.state)) == w.state


def test_traffic_off_the_exit_stays_on_its_link_and_a_moves_tail_does_not() -> None:
    # Four prefixes leave by a (2.5 Mb/s each, probes included) and one by b; every
    # prefix also has 0.1 Mb/s of probes on each link it does not use.
    provs = [Provider("a", 10.0), Provider("b", 1000.0), Provider("c", 1000.0)]
    w = World(n=5, provs=provs)
    w.bgp_best[4] = 1
    w.rtt[:] = [[30, 40, 60]] * 5
    w.rtt[4] = [40, 30, 60]
    bps = np.full((5, 3), 0.1e6)
    bps[:4, 0] = 2.5e6
    bps[4, 1] = 2.5e6
    w.bps = bps.copy()
    links = dict(zip(NAMES, bps.sum(axis=0).tolist(), strict=True))
    r = w.step(link_bps=links)
    # 10.1 Mb/s on a (prefix 4's probes stay there) against a 9 Mb/s target: one detour.
    assert len(r.changed()) == 1 and w.exit(r, int(r.changed()[0])) == "b"
    assert r.projected_bps["a"] == pytest.approx(7.6e6)
    # b: the probes on it, prefix 4, and the detour with what it measured on a.
    assert r.projected_bps["b"] == pytest.approx(0.4e6 + 2.5e6 + 2.5e6)
    # Next round the flows still show most of the moved prefix on a (the exporter and
    # the smoothing lag): that tail is not a's load, its probes there are.
    moved = int(r.changed()[0])
    w.bps = bps.copy()
    w.bps[moved] = [1.6e6, 1.0e6, 0.1e6]
    links = dict(zip(NAMES, w.bps.sum(axis=0).tolist(), strict=True))
    r = w.step(link_bps=links)
    assert len(r.changed()) == 0
    assert r.projected_bps["a"] == pytest.approx(7.5e6 + 0.1e6 + 0.1e6)


def test_a_link_near_its_limit_is_projected_at_its_prefixes_recent_peaks() -> None:
    # 8.8 Mb/s on a 10 Mb/s link (target 9, hysteresis line 8.5): then the exporters'
    # bursts make the same traffic read 8.0 for a round. The link is still 8.8.
    provs = [Provider("a", 10.0), Provider("b", 1000.0), Provider("c", 1000.0)]
    w = World(n=4, provs=provs)
    w.rtt[:] = [[30, 40, 60]] * 4
    w.bps = np.full(4, 2.2e6)
    r = w.step(link_bps={"a": 8.8e6, "b": 0.0, "c": 0.0})
    assert r.projected_bps["a"] == pytest.approx(8.8e6) and not len(r.changed())
    w.bps = np.full(4, 2.0e6)
    r = w.step(link_bps={"a": 8.0e6, "b": 0.0, "c": 0.0})
    assert r.projected_bps["a"] == pytest.approx(8.8e6)
    # A crest above target detours, counted at the crest.
    w.bps = np.full(4, 2.4e6)
    r = w.step(link_bps={"a": 9.6e6, "b": 0.0, "c": 0.0})
    assert len(r.changed()) == 1 and r.projected_bps["a"] == pytest.approx(7.2e6)
