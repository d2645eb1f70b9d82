"""Maintenance windows in decide/: nothing lands on a provider in a window, improvements
leave it, a drain moves its default traffic away and back (issue 11, part 3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.decide.helpers import World
from tests.unit.decide.test_properties import NAMES, worlds

from routepilot.decide import DecisionState, PolicyConfig, Reason, decide
from routepilot.decide.maintenance import (
    MaintenanceNow,
    Schedule,
    Window,
    in_force,
    landing_ok,
    valid_cron,
)

pytestmark = pytest.mark.unit

A, B, C = 0, 1, 2


def window(*blocked: str, drain: tuple[str, ...] = ()) -> MaintenanceNow:
    return MaintenanceNow(frozenset(blocked) | frozenset(drain), frozenset(drain))


def fast_world(n: int = 4, **policy: object) -> World:
    w = World(n, PolicyConfig(hold_down_s=0, latency_rounds=1, **policy))
    return w


def test_nothing_lands_on_a_provider_in_a_window() -> None:
    w = fast_world()
    w.rtt[0] = [80.0, 10.0, 78.0]  # b is much faster than a (the default), c is not
    r = w.step(maintenance=window("b"))
    assert w.exit(r, 0) == "a"
    w.rtt[0] = [80.0, 10.0, 20.0]  # c is faster too: the move goes to c, not b
    r = w.step(maintenance=window("b"))
    assert w.exit(r, 0) == "c"
    assert r.explain(r.prefixes[0]).reason == "latency"


def test_improvements_on_a_provider_in_a_window_are_withdrawn() -> None:
    w = fast_world()
    w.rtt[0] = [80.0, 10.0, 78.0]
    r = w.step()
    assert w.exit(r, 0) == "b"
    r = w.step(maintenance=window("b"))
    assert w.exit(r, 0) == "a"
    move = r.explain(r.prefixes[0])
    assert move.reason == "maintenance" and move.from_provider == "b"
    # It stays off b for as long as the window lasts, and may come back after it.
    for _ in range(3):
        assert w.exit(w.step(maintenance=window("b")), 0) == "a"
    assert w.exit(w.step(), 0) == "b"


def test_an_improvement_leaving_a_window_goes_elsewhere_when_the_default_is_broken() -> None:
    w = fast_world()
    w.cons[0] = [10, 0, 0]  # the default stopped answering: outage move to b
    w.rtt[0] = [50.0, 10.0, 30.0]
    r = w.step()
    assert w.exit(r, 0) == "b"
    r = w.step(maintenance=window("b"))
    assert w.exit(r, 0) == "c"
    assert r.explain(r.prefixes[0]).reason == "maintenance"


def test_drain_moves_default_traffic_away_and_back() -> None:
    w = fast_world(n=4)
    w.has_route[3] = [True, False, False]  # only a has a route: it stays with BGP
    w.rtt[:, :] = [20.0, 30.0, 25.0]
    r = w.step(maintenance=window(drain=("a",)))
    assert [w.exit(r, i) for i in range(4)] == ["c", "c", "c", "a"]
    assert {m.reason for m in r.moves()} == {"maintenance"}
    assert set(r.injections) == set(w.prefixes[:3])
    # Held while the window lasts; nothing reverts it (a is faster, but in a window).
    for _ in range(3):
        r = w.step(maintenance=window(drain=("a",)))
        assert not r.moves() and len(r.injections) == 3
    r = w.step()
    assert [w.exit(r, i) for i in range(4)] == ["a"] * 4
    assert {m.reason for m in r.moves()} == {"revert"}
    assert not r.injections


def test_drain_respects_the_change_limit_and_the_cap() -> None:
    w = fast_world(n=5, max_changes_per_minute=2)
    w.bps = np.array([5e6, 4e6, 3e6, 2e6, 1e6])
    r = w.step(maintenance=window(drain=("a",)))
    assert len(r.moves()) == 2
    assert [m.prefix for m in r.moves()] == list(w.prefixes[:2])  # busiest first
    w.now += 60
    r = w.step(maintenance=window(drain=("a",)))
    assert len(r.moves()) == 2
    w2 = fast_world(n=5, max_improvements=1)
    r = w2.step(maintenance=window(drain=("a",)))
    assert len(r.injections) == 1


def test_drain_stays_within_capacity() -> None:
    # b is the fastest but small: the drained traffic spreads onto c too.
    provs = [p for p in World().providers]
    provs[B] = replace(provs[B], capacity_mbps=5.0)
    w = World(6, PolicyConfig(hold_down_s=0), provs=provs)
    w.rtt[:, :] = [20.0, 21.0, 24.0]
    w.bps = np.full(6, 2e6)
    r = w.step(maintenance=window(drain=("a",)))
    on_b = sum(1 for i in range(6) if w.exit(r, i) == "b")
    assert 0 < on_b <= 2  # 2 x 2 Mb/s under 90 % of 5 Mb/s
    assert all(w.exit(r, i) in ("b", "c") for i in range(6))


def test_a_pin_to_a_provider_in_a_window_waits() -> None:
    w = fast_world()
    r = w.step(pins={w.prefixes[0]: "b"}, maintenance=window("b"))
    assert w.exit(r, 0) == "a"
    r = w.step(pins={w.prefixes[0]: "b"})
    assert w.exit(r, 0) == "b"


def test_a_drain_follows_a_pin_elsewhere() -> None:
    w = fast_world()
    w.rtt[:, :] = [20.0, 30.0, 25.0]
    r = w.step(pins={w.prefixes[0]: "b"}, maintenance=window(drain=("a",)))
    assert w.exit(r, 0) == "b" and w.exit(r, 1) == "c"


def test_an_outage_still_leaves_for_bgp_default_in_a_window() -> None:
    # Never blackhole: an injection whose provider lost its route goes back to BGP's
    # default even when that default is in a window and nothing else answers.
    w = fast_world()
    w.rtt[0] = [80.0, 10.0, 70.0]
    assert w.exit(w.step(), 0) == "b"
    w.has_route[0] = [True, False, True]
    w.cons[0] = [0, 0, 10]
    r = w.step(maintenance=window("a"))
    assert w.exit(r, 0) == "a"


# -- windows and schedules --------------------------------------------------------------


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_window_in_force_and_drain_lead() -> None:
    w = Window("a", ts("2026-12-02T02:00"), ts("2026-12-02T03:00"))
    assert not w.in_force(ts("2026-12-02T01:59"), lead_s=300)
    assert w.in_force(ts("2026-12-02T02:00")) and not w.in_force(ts("2026-12-02T03:00"))
    d = replace(w, drain=True)
    assert d.in_force(ts("2026-12-02T01:56"), lead_s=300)
    now, live = in_force([w, d], now=ts("2026-12-02T01:56"), lead_s=300)
    assert now.blocked == {"a"} and now.draining == {"a"} and live == [d]


def test_cron_schedule_expands_in_utc() -> None:
    s = Schedule("b", "0 2 * * 2", 3600.0, name="tuesday")  # Tuesdays 02:00-03:00 UTC
    assert s.occurrence(ts("2026-12-01T02:30")) is not None  # a Tuesday
    occ = s.occurrence(ts("2026-12-01T02:00"))
    assert occ is not None and occ.start == ts("2026-12-01T02:00") and occ.name == "tuesday"
    assert s.occurrence(ts("2026-12-01T03:00")) is None
    assert s.occurrence(ts("2026-12-02T02:30")) is None  # Wednesday
    assert s.occurrence(ts("2026-12-01T01:58"), lead_s=300) is None  # no lead without drain
    drain = replace(s, drain=True)
    assert drain.occurrence(ts("2026-12-01T01:58"), lead_s=300) is not None
    now, _ = in_force([], [drain], ts("2026-12-01T01:58"), 300)
    assert now.draining == {"b"}
    assert s.next_start(ts("2026-12-01T03:00")) == ts("2026-12-08T02:00")
    assert valid_cron("*/5 * * * *") and not valid_cron("61 * * * *")


# -- the property -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.sets(st.sampled_from(NAMES)), st.sets(st.sampled_from(NAMES)))
def test_no_move_ever_lands_on_a_provider_in_a_window(world, blocked, draining) -> None:
    inp, policy, providers = world
    m = MaintenanceNow(frozenset(blocked | draining), frozenset(draining))
    state = DecisionState()
    for step in range(3):
        inp = replace(inp, now=inp.now + 10 * step, maintenance=m)
        r = decide(inp, state, policy, providers)
        state = r.state
        inp = replace(inp, injections=dict(r.injections))
        cols = np.array([n in m.blocked for n in NAMES])
        q_bad = np.zeros(len(r.prefixes), bool)
        for i in range(len(r.prefixes)):
            k = int(r.current[i])
            if k >= 0:
                q_bad[i] = (
                    not inp.routes.has_route[i, k]
                    or not inp.routes.provider_up.get(NAMES[k], True)
                    or inp.measurements.consecutive_losses[i, k] >= policy.outage_consecutive_losses
                    or (
                        inp.measurements.samples[i, k] >= policy.min_samples
                        and inp.measurements.loss[i, k] >= 1.0
                    )
                )
        ok = landing_ok(r.exit, r.current, r.default, cols, q_bad)
        assert ok.all(), [r.explain(r.prefixes[i]) for i in np.flatnonzero(~ok)]
        # And no improvement is left on a provider in a window unless a limit deferred it.
        for i in range(len(r.prefixes)):
            k = int(r.exit[i])
            if k >= 0 and k != r.default[i] and NAMES[k] in m.blocked:
                assert r.reason[i] in (Reason.DEFERRED, Reason.MAINTENANCE, Reason.OUTAGE)
                assert r.exit[i] == r.current[i]
