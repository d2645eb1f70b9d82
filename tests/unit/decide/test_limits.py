"""Change-rate budget, cap on active improvements, busiest first; outages apart."""

from __future__ import annotations

import numpy as np

from routepilot.decide import PolicyConfig, Reason

from .helpers import World


def _all_faster_on_b(w: World) -> None:
    w.rtt[:] = [80.0, 20.0, 80.0]


def test_changes_per_minute_are_capped_busiest_first() -> None:
    w = World(n=10, policy=PolicyConfig(latency_rounds=1, max_changes_per_minute=3))
    _all_faster_on_b(w)
    w.bps = np.arange(10, dtype=float) * 1e6
    r = w.step(dt=20)
    moved = set(r.changed().tolist())
    assert moved == {9, 8, 7}
    assert (r.reason[[0, 1, 2]] == Reason.DEFERRED).all()
    assert len(w.step(dt=20).changed()) == 0  # 40 s later: the budget is spent
    assert len(w.step(dt=20).changed()) == 0
    r = w.step()  # 60 s after the first changes
    assert set(r.changed().tolist()) == {6, 5, 4}


def test_active_improvements_are_capped() -> None:
    w = World(n=10, policy=PolicyConfig(latency_rounds=1, max_improvements=4))
    _all_faster_on_b(w)
    w.bps = np.arange(10, dtype=float) * 1e6
    r = w.step()
    assert len(r.injections) == 4
    for _ in range(10):
        r = w.step(dt=100)
        assert len(r.injections) <= 4


def test_outages_skip_the_normal_cap_but_have_their_own() -> None:
    pol = PolicyConfig(
        max_changes_per_minute=0, max_improvements=0, max_outage_changes_per_minute=2
    )
    w = World(n=4, policy=pol)
    w.cons[:, 0] = 5
    w.bps = np.array([1.0, 4.0, 3.0, 2.0]) * 1e6
    r = w.step()
    assert set(r.changed().tolist()) == {1, 2}
    assert all(Reason(x) is Reason.OUTAGE for x in r.reason[[1, 2]])
    assert all(Reason(x) is Reason.DEFERRED for x in r.reason[[0, 3]])


def test_removals_do_not_wait_for_the_improvement_cap() -> None:
    pol = PolicyConfig(latency_rounds=1, max_improvements=1, revert_rounds=1, hold_down_s=0)
    w = World(n=2, policy=pol)
    w.rtt[0] = [80, 20, 80]
    w.step()
    w.rtt[0] = [20, 20, 80]
    w.rtt[1] = [80, 20, 80]
    r = w.step()
    assert w.exit(r, 0) == "a"  # the revert frees the only slot ...
    assert w.exit(r, 1) == "b"  # ... which the new improvement takes


def test_budget_serves_loss_before_busier_latency() -> None:
    w = World(n=2, policy=PolicyConfig(latency_rounds=1, max_changes_per_minute=1))
    w.rtt[0] = [80, 20, 80]
    w.bps[0] = 100e6  # busy, latency
    w.loss[1] = [0.2, 0.0, 0.0]
    w.bps[1] = 1e6  # quiet, loss
    r = w.step()
    assert r.changed().tolist() == [1]
    assert Reason(r.reason[1]) is Reason.LOSS and Reason(r.reason[0]) is Reason.DEFERRED


def test_deferred_move_keeps_the_improvement_reason_in_state() -> None:
    pol = PolicyConfig(latency_rounds=1, max_changes_per_minute=1, hold_down_s=0, revert_rounds=1)
    w = World(n=2, policy=pol)
    w.rtt[:] = [80, 20, 80]
    w.bps[:] = [2e6, 1e6]
    w.step(dt=61)
    r = w.step(dt=61)
    assert len(r.injections) == 2
    w.rtt[:] = [20, 20, 80]  # both should revert; the budget allows one a minute
    r = w.step(dt=10)
    assert sorted(Reason(x).label for x in r.reason) == ["deferred", "revert"]
    deferred = w.prefixes[int(np.flatnonzero(r.reason == Reason.DEFERRED)[0])]
    assert r.state.active[deferred].reason is Reason.LATENCY
