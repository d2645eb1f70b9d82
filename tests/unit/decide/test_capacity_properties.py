"""Capacity over sequences of rounds (hypothesis): no link over its target, no oscillation.

The world changes between rounds (demand goes up and down) and is seen the way
flows/ sees it: an exporter reports a (prefix, provider) flow only after it has
lived ``lag`` rounds (its active timeout), and rates are smoothed with an EWMA.
So after a move a prefix's traffic shows late on its new link, and a link's
measured rate lags what the exits already in force send to it.

The reference load of a link is what decide() could know: each prefix's
demand, capped by the highest total rate it was shown for that prefix since it
last moved (its current rate if it has not moved), summed where the round's
exits send it, plus the link's traffic outside the tracked prefixes.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from routepilot.decide import DecisionState, PolicyConfig, Reason, decide
from routepilot.decide.scenario import Provider, make_input, prefixes_v4

NAMES = ("a", "b", "c")
DT = 10.0
BIG_MBPS = 10_000.0


@st.composite
def scenarios(draw):
    n = draw(st.integers(2, 14))
    seed = draw(st.integers(0, 2**31))
    small = draw(st.floats(5.0, 50.0))
    policy = PolicyConfig(
        target_utilization_pct=draw(st.floats(60.0, 95.0)),
        capacity_hysteresis_pct=draw(st.floats(1.0, 20.0)),
        hold_down_s=draw(st.sampled_from([0.0, 20.0, 60.0])),
        allocator=draw(st.sampled_from(["greedy", "lp", "auto"])),
        max_changes_per_minute=100_000,
        max_improvements=100_000,
    )
    world = {
        "n": n,
        "rng": np.random.default_rng(seed),
        "small": small,
        "alpha": draw(st.floats(0.15, 1.0)),
        "lag": draw(st.integers(0, 2)),
        "rounds": draw(st.integers(8, 25)),
        "churn": draw(st.floats(0.0, 0.5)),
    }
    return world, policy


def _run(world: dict, policy: PolicyConfig) -> None:
    n, rng, small = world["n"], world["rng"], world["small"]
    providers = [Provider("a", small), Provider("b", BIG_MBPS), Provider("c", BIG_MBPS)]
    cap = np.array([p.capacity_mbps for p in providers]) * 1e6
    target = cap * policy.target_utilization_pct / 100
    margin = cap * (policy.target_utilization_pct - policy.capacity_hysteresis_pct) / 100
    prefixes = prefixes_v4(n)
    default = rng.choice(3, n, p=[0.7, 0.2, 0.1]).astype(np.int64)
    demand = rng.uniform(0.02, 0.6, n) * target[0]
    residual = np.array([rng.uniform(0, 0.2) * target[0], 0.0, 0.0])
    rtt = rng.uniform(10, 60, (n, 3))
    exits = default.copy()
    injections: dict[str, str] = {}
    state = DecisionState()
    measured = np.zeros((n, 3))
    measured[np.arange(n), exits] = demand
    age = np.full(n, world["lag"])  # rounds the flow on the current exit has lived
    backlog = np.zeros(n)  # bits carried but not yet exported
    seen: list[list[float] | None] = [None] * n  # totals shown since the last move
    now = 1_000_000.0
    for step in range(world["rounds"]):
        inp = make_input(
            now=now,
            prefixes=prefixes,
            providers=NAMES,
            bps=measured.copy(),
            rtt=rtt,
            bgp_best=default,
            samples=60,
            link_bps=dict(zip(NAMES, (measured.sum(axis=0) + residual).tolist(), strict=True)),
            injections=dict(injections),
        )
        r = decide(inp, state, policy, providers)
        total = measured.sum(axis=1)
        for i in range(n):
            if seen[i] is not None:
                seen[i].append(float(total[i]))
        shown = [max(s) if s is not None else float(t) for s, t in zip(seen, total, strict=True)]
        known = np.minimum(demand, shown)
        load = residual + np.bincount(r.exit, weights=known, minlength=3)
        over = load - target
        assert (over <= 1e-6 * cap).all(), (step, load / cap, r.reason_counts())
        came_home = (
            (r.exit != r.current)
            & (r.exit == r.default)
            & (r.reason == Reason.REVERT)
            & np.array([state.active.get(p, (None, None))[1] is Reason.CAPACITY for p in prefixes])
        )
        for i in np.flatnonzero(came_home):
            k = int(r.exit[i])
            assert load[k] <= margin[k] + 1e-6 * cap[k], (step, i, load[k] / cap[k])
        state = r.state
        injections = dict(r.injections)
        moved = r.exit != exits
        for i in np.flatnonzero(moved):
            seen[i] = [float(total[i])]
        exits = r.exit.copy()
        age = np.where(moved, 0, age + 1)
        # The next interval: demand changes, the exits carry it, the exporters report.
        change = rng.random(n) < world["churn"]
        demand = np.where(change, demand * rng.uniform(0.3, 2.5, n), demand)
        demand = np.minimum(demand, 0.8 * target[0])
        backlog = np.where(moved, 0.0, backlog) + demand * DT
        exported = np.zeros((n, 3))
        ready = age >= world["lag"]
        exported[np.flatnonzero(ready), exits[ready]] = backlog[ready] / DT
        backlog = np.where(ready, 0.0, backlog)
        a = world["alpha"]
        measured = (1 - a) * measured + a * exported
        now += DT


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_capacity_never_projects_a_link_over_target_and_returns_only_with_hysteresis(
    scenario,
) -> None:
    world, policy = scenario
    note(f"world={ {k: v for k, v in world.items() if k != 'rng'} } policy={policy!r}")
    _run(world, policy)
