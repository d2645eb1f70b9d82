"""Properties over random worlds (hypothesis): safety, limits, outages, no flapping."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routepilot.decide import DecisionState, PolicyConfig, Reason, decide
from routepilot.decide.scenario import Provider, make_input, prefixes_v4

NAMES = ("a", "b", "c", "d")


@st.composite
def worlds(draw):
    n = draw(st.integers(1, 12))
    p = len(NAMES)
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    has_route = rng.random((n, p)) < draw(st.floats(0.2, 1.0))
    rtt = rng.uniform(5, 200, (n, p))
    loss = np.where(rng.random((n, p)) < 0.3, rng.uniform(0, 1, (n, p)), 0.0)
    cons = np.where(rng.random((n, p)) < 0.2, rng.integers(0, 20, (n, p)), 0)
    samples = rng.integers(0, 60, (n, p))
    injections = {}
    for i in range(n):
        if rng.random() < 0.3:
            injections[prefixes_v4(n)[i]] = NAMES[int(rng.integers(0, p))]
    caps = rng.uniform(1, 100, p)
    policy = PolicyConfig(
        latency_rounds=draw(st.integers(1, 3)),
        max_changes_per_minute=draw(st.integers(0, 6)),
        max_improvements=draw(st.integers(0, 6)),
        max_outage_changes_per_minute=draw(st.integers(0, 6)),
        hold_down_s=draw(st.sampled_from([0.0, 60.0, 300.0])),
        mode=draw(st.sampled_from(["performance", "cost"])),
        allocator=draw(st.sampled_from(["greedy", "lp", "auto"])),
    )
    providers = [
        Provider(nm, capacity_mbps=float(caps[k]), commit_mbps=5.0, cost_per_mbps=float(k))
        for k, nm in enumerate(NAMES)
    ]
    inp = make_input(
        now=10_000.0,
        prefixes=prefixes_v4(n),
        providers=NAMES,
        bps=rng.uniform(0, 20e6, n),
        rtt=rtt,
        loss=loss,
        has_route=has_route,
        samples=samples,
        consecutive_losses=cons,
        injections=injections,
        provider_up={nm: bool(rng.random() < 0.9) for nm in NAMES},
    )
    return inp, policy, providers


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(worlds())
def test_never_chooses_a_provider_without_a_route(world) -> None:
    inp, policy, providers = world
    r = decide(inp, DecisionState(), policy, providers)
    up = np.array([inp.routes.provider_up.get(n, True) for n in NAMES])
    for i in range(len(r.prefixes)):
        k = int(r.exit[i])
        if k < 0 or k == r.default[i]:
            continue  # nothing injected: BGP's own choice
        assert inp.routes.has_route[i, k] and up[k]
        if r.exit[i] != r.current[i]:
            # A new injection always goes to a provider that answers.
            assert inp.measurements.consecutive_losses[i, k] < policy.outage_consecutive_losses
            assert inp.measurements.samples[i, k] >= policy.min_samples


@SETTINGS
@given(worlds())
def test_never_exceeds_change_caps(world) -> None:
    inp, policy, providers = world
    r = decide(inp, DecisionState(), policy, providers)
    changed = r.changed()
    # Withdrawing an injection whose provider lost its route is never deferred.
    up = np.array([inp.routes.provider_up.get(n, True) for n in NAMES])
    cur = np.maximum(r.current, 0)
    routable = inp.routes.has_route[np.arange(len(cur)), cur] & up[cur]
    forced = (r.current >= 0) & (r.current != r.default) & ~routable
    changed = changed[~forced[changed]]
    outage = int((r.reason[changed] == Reason.OUTAGE).sum())
    assert outage <= policy.max_outage_changes_per_minute
    assert len(changed) - outage <= policy.max_changes_per_minute
    before = int(((r.current != r.default) & (r.current >= 0)).sum())
    non_outage = (r.exit != r.default) & (r.exit >= 0) & (r.reason != Reason.OUTAGE)
    assert non_outage.sum() <= max(policy.max_improvements, before)


@SETTINGS
@given(worlds(), st.integers(0, 11))
def test_outage_beats_hold_down(world, row) -> None:
    inp, policy, providers = world
    n = len(inp.traffic.prefixes)
    i = row % n
    prefix = inp.traffic.prefixes[i]
    cur = inp.injections.get(prefix) if inp.injections else None
    k = NAMES.index(cur) if cur else int(inp.routes.bgp_best[i])
    if k < 0:
        return
    cons = inp.measurements.consecutive_losses.copy()
    cons[i, k] = 50
    from dataclasses import replace

    inp = replace(inp, measurements=replace(inp.measurements, consecutive_losses=cons))
    state = DecisionState(last_move={prefix: inp.now - 1})
    policy = policy.model_copy(update={"max_outage_changes_per_minute": 100})
    r = decide(inp, state, policy, providers)
    m = inp.measurements
    up = np.array([inp.routes.provider_up.get(nm, True) for nm in NAMES])
    usable = (
        inp.routes.has_route[i]
        & up
        & (m.samples[i] >= policy.min_samples)
        & (m.consecutive_losses[i] < policy.outage_consecutive_losses)
        & ~((m.samples[i] >= policy.min_samples) & (m.loss[i] >= 1))
    )
    usable[k] = False
    excluded_or_pinned = prefix in inp.exclusions or prefix in inp.pins
    if usable.any() and not excluded_or_pinned:
        assert r.exit[i] != k and usable[r.exit[i]]


def _replay(flip_s: float, impaired: str, kind: str, minutes: int = 30):
    """A world where one provider's impairment to all prefixes flips every ``flip_s``."""
    n, names = 6, ("a", "b", "c")
    providers = [Provider(nm) for nm in names]
    policy = PolicyConfig()
    state = DecisionState()
    moves: dict[int, list[float]] = {i: [] for i in range(n)}
    rng = np.random.default_rng(1)
    base = rng.uniform(20, 60, (n, 3))
    injections = None
    for step in range(minutes * 6):
        now = 1_000_000.0 + step * 10.0
        on = int(now // flip_s) % 2 == 0
        rtt = base.copy()
        loss = np.zeros((n, 3))
        cons = np.zeros((n, 3), dtype=np.int64)
        k = names.index(impaired)
        if on and kind == "latency":
            rtt[:, k] += 40
        elif on and kind == "loss":
            loss[:, k] = 0.2
        elif on and kind == "blackhole":
            loss[:, k] = 1.0
            cons[:, k] = 10
        inp = make_input(
            now=now,
            prefixes=prefixes_v4(n),
            providers=names,
            bps=np.full(n, 1e6),
            rtt=rtt,
            loss=loss,
            samples=60,
            consecutive_losses=cons,
            bgp_best=np.zeros(n, dtype=np.int64),
            injections=injections,
        )
        r = decide(inp, state, policy, providers)
        state = r.state
        injections = dict(r.injections)
        for i in r.changed():
            moves[int(i)].append(now)
    return moves


@settings(max_examples=12, deadline=None)
@given(
    st.sampled_from(["latency", "loss", "blackhole"]),
    st.sampled_from(["a", "b"]),
    st.floats(15.0, 25.0),
)
def test_no_flapping_under_an_impairment_that_flips_every_20s(kind, impaired, flip_s) -> None:
    moves = _replay(flip_s, impaired, kind)
    for times in moves.values():
        for t0 in times:
            in_window = [t for t in times if t0 <= t < t0 + 600]
            assert len(in_window) <= 2, (kind, impaired, times)


def test_flapping_default_is_left_once_and_not_flapped_back() -> None:
    moves = _replay(20.0, "a", "blackhole")
    assert all(len(t) == 1 for t in moves.values())
