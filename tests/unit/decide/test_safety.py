"""Never blackhole: routes, sessions, failing probes, granularity, covering prefixes."""

from __future__ import annotations

import numpy as np

from routepilot.decide import DecisionState, PolicyConfig, Reason, decide
from routepilot.decide.scenario import make_input

from .helpers import World, providers


def test_never_a_provider_without_a_route() -> None:
    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[0] = [80, 5, 72]
    w.has_route[0, 1] = False
    r = w.step()
    assert w.exit(r, 0) == "a"  # c is not 10 ms faster; b has no route


def test_never_a_provider_whose_session_is_down() -> None:
    w = World(policy=PolicyConfig(latency_rounds=1), provider_up={"b": False})
    w.rtt[0] = [80, 5, 80]
    r = w.step()
    assert w.exit(r, 0) == "a"


def test_never_a_provider_failing_its_probes() -> None:
    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[0] = [80, 5, 80]
    w.cons[0, 1] = 3
    r = w.step()
    assert w.exit(r, 0) == "a"


def test_never_more_specific_than_the_granularity() -> None:
    prefixes = ("198.18.0.0/25", "198.18.1.0/24", "2001:db8::/56", "2001:db8:1::/48")
    inp = make_input(
        now=0.0,
        prefixes=prefixes,
        providers=["a", "b", "c"],
        bps=np.ones(4),
        rtt=np.tile([80.0, 5.0, 80.0], (4, 1)),
    )
    r = decide(inp, DecisionState(), PolicyConfig(latency_rounds=1), providers())
    assert set(r.injections) == {"198.18.1.0/24", "2001:db8:1::/48"}
    assert Reason(r.reason[0]) is Reason.UNCONTROLLED
    assert Reason(r.reason[2]) is Reason.UNCONTROLLED


def test_never_outside_a_prefix_the_provider_announces() -> None:
    """Traffic in /24s; a announces the /16, b only the first /24 of it."""
    from dataclasses import replace

    traffic_prefixes = ("198.18.0.0/24", "198.18.1.0/24")
    inp = make_input(
        now=0.0,
        prefixes=traffic_prefixes,
        providers=["a", "b", "c"],
        bps=np.ones(2),
        rtt=np.tile([80.0, 5.0, 80.0], (2, 1)),
    )
    routes = replace(
        inp.routes,
        prefixes=("198.18.0.0/16", "198.18.0.0/24"),
        has_route=np.array([[True, False, True], [False, True, False]]),
        as_path_len=np.array([[2, -1, 3], [-1, 2, -1]], dtype=np.int32),
        bgp_best=np.array([0, 1], dtype=np.int32),
    )
    inp = replace(inp, routes=routes)
    r = decide(inp, DecisionState(), PolicyConfig(latency_rounds=1), providers())
    # The first /24 is covered by both: BGP prefers b's more specific route already.
    assert r.default[0] == 1 and r.exit[0] == 1
    # The second is only covered by a's and c's /16: b is never offered.
    assert r.default[1] == 0 and r.exit[1] == 0
    assert r.injections == {}


def test_unprobeable_prefixes_are_left_to_bgp() -> None:
    from dataclasses import replace

    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[0] = [80, 5, 80]
    inp = w.input()
    meas = replace(inp.measurements, unprobeable=frozenset({w.prefixes[0]}))
    r = decide(replace(inp, measurements=meas), DecisionState(), w.policy, w.providers)
    assert r.exit[0] == 0 and Reason(r.reason[0]) is Reason.UNCONTROLLED


def test_snapshots_in_other_orders_are_aligned() -> None:
    from dataclasses import replace

    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[1] = [80, 5, 80]
    inp = w.input()
    order = [3, 1, 0, 2]
    cols = [2, 0, 1]
    m = inp.measurements
    meas = replace(
        m,
        prefixes=tuple(m.prefixes[i] for i in order),
        providers=tuple(m.providers[k] for k in cols),
        **{
            name: getattr(m, name)[np.ix_(order, cols)]
            for name in (
                "rtt_median_ms", "rtt_p90_ms", "rtt_min_ms", "jitter_ms", "loss",
                "loss_low", "loss_high", "samples", "consecutive_losses", "last_answer",
            )
        },
    )  # fmt: skip
    r = decide(replace(inp, measurements=meas), DecisionState(), w.policy, w.providers)
    assert r.injections == {w.prefixes[1]: "b"}


def test_decide_is_pure_and_deterministic() -> None:
    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[0] = [80, 5, 80]
    inp = w.input()
    before = inp.measurements.rtt_median_ms.copy()
    r1 = decide(inp, DecisionState(), w.policy, w.providers)
    r2 = decide(inp, DecisionState(), w.policy, w.providers)
    assert (inp.measurements.rtt_median_ms == before).all()
    assert (r1.exit == r2.exit).all() and r1.state == r2.state


def test_no_move_while_every_router_session_is_down() -> None:
    from dataclasses import replace

    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[0] = [80, 5, 80]
    inp = w.input()
    routes = replace(inp.routes, session_up={"edge1": False, "edge2": False})
    r = decide(replace(inp, routes=routes), DecisionState(), w.policy, w.providers)
    assert r.injections == {}
    routes = replace(inp.routes, session_up={"edge1": False, "edge2": True})
    r = decide(replace(inp, routes=routes), DecisionState(), w.policy, w.providers)
    assert r.injections == {w.prefixes[0]: "b"}


def test_ipv6_and_covering_routes_mixed() -> None:
    from dataclasses import replace

    traffic_prefixes = ("2001:db8:1::/48", "2001:db8:2::/48", "198.18.5.0/24")
    inp = make_input(
        now=0.0,
        prefixes=traffic_prefixes,
        providers=["a", "b", "c"],
        bps=np.ones(3),
        rtt=np.tile([80.0, 5.0, 80.0], (3, 1)),
    )
    routes = replace(
        inp.routes,
        prefixes=("2001:db8::/32", "2001:db8:1::/48", "198.18.0.0/15"),
        has_route=np.array([[True, False, False], [False, True, False], [True, True, True]]),
        as_path_len=np.full((3, 3), 2, dtype=np.int32),
        bgp_best=np.array([0, 1, 2], dtype=np.int32),
    )
    r = decide(replace(inp, routes=routes), DecisionState(), PolicyConfig(latency_rounds=1),
               providers())  # fmt: skip
    # 2001:db8:1::/48: b's own /48 is the most specific route: BGP already uses b.
    assert r.default[0] == 1 and r.exit[0] == 1
    # 2001:db8:2::/48: only a's /32 covers it.
    assert r.exit[1] == 0
    # 198.18.5.0/24 inside everyone's /15: BGP's c, moved to the faster b.
    assert r.default[2] == 2 and r.exit[2] == 1


def test_empty_round() -> None:
    from routepilot.decide import DecisionInput
    from routepilot.flows.snapshot import TrafficSnapshot
    from routepilot.probe.snapshot import MeasurementSnapshot
    from routepilot.rib.snapshot import RoutesSnapshot

    names = ("a", "b", "c")
    inp = DecisionInput(
        now=5.0,
        traffic=TrafficSnapshot.empty(5.0, names),
        routes=RoutesSnapshot.empty(5.0, names),
        measurements=MeasurementSnapshot.empty(5.0, names),
    )
    r = decide(inp, DecisionState(), PolicyConfig(), providers())
    assert r.prefixes == () and r.injections == {} and r.moves() == []


def test_snapshots_missing_a_provider_and_prefixes() -> None:
    from dataclasses import replace

    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[:] = [80, 20, 85]
    inp = w.input()
    m = inp.measurements
    # The prober knows only a and b, and only the first two prefixes.
    meas = replace(
        m,
        prefixes=m.prefixes[:2],
        providers=("b", "a"),
        **{
            name: getattr(m, name)[:2][:, [1, 0]]
            for name in (
                "rtt_median_ms", "rtt_p90_ms", "rtt_min_ms", "jitter_ms", "loss",
                "loss_low", "loss_high", "samples", "consecutive_losses", "last_answer",
            )
        },
    )  # fmt: skip
    r = decide(replace(inp, measurements=meas), DecisionState(), w.policy, w.providers)
    assert r.injections == {w.prefixes[0]: "b", w.prefixes[1]: "b"}


def test_unknown_provider_in_injections_or_pins_is_ignored() -> None:
    w = World()
    r = w.step(injections={w.prefixes[0]: "zz"}, pins={w.prefixes[1]: "zz"})
    assert r.injections == {}


def test_malformed_snapshot_gives_a_clear_error() -> None:
    from dataclasses import replace

    import pytest

    w = World()
    inp = w.input()
    bad = replace(inp, measurements=replace(inp.measurements, loss=np.zeros((3, 3))))
    with pytest.raises(ValueError, match=r"measurements snapshot: loss has shape \(3, 3\)"):
        decide(bad, DecisionState(), w.policy, w.providers)


def test_nan_or_negative_traffic_counts_as_none() -> None:
    from dataclasses import replace

    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[0] = [80, 20, 80]
    inp = w.input()
    bps = inp.traffic.bps.copy()
    bps[0, 0], bps[1, 0] = np.nan, -5.0
    r = decide(replace(inp, traffic=replace(inp.traffic, bps=bps)), DecisionState(), w.policy,
               w.providers)  # fmt: skip
    assert r.traffic_bps[0] == 0 and r.traffic_bps[1] == 0
    assert r.injections == {w.prefixes[0]: "b"}
