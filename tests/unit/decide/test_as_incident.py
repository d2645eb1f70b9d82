"""Open AS incidents (diagnose/) in the decision: prefer the providers whose path avoids
the sick AS, never a move for the worse, and the preference ends with the incident.

The world: providers a, b, c; BGP picks a for every prefix; every path measures 50 ms and
no loss unless a test says otherwise. AS64601 is the AS of an open incident.
"""

from __future__ import annotations

import numpy as np

from routepilot.decide import PolicyConfig, Reason
from routepilot.decide.policy import RoundPolicy
from routepilot.decide.windows import MaintenanceNow
from routepilot.explain import summary

from .helpers import World, providers

ASN = 64601


def crossing(w: World, rows: list[int], provs: str = "ab") -> dict[str, dict[str, int]]:
    """The diagnosis's map: the paths of ``rows`` through ``provs`` cross AS64601."""
    return {w.prefixes[i]: {p: ASN for p in provs} for i in rows}


def said(r, prefix: str) -> str:  # type: ignore[no-untyped-def]
    """The live explanation's sentence, as the API builds it (run/view.py)."""
    return summary({**r.explain(prefix).as_dict(), "incident_asn": r.incident_asn.get(prefix)})


def test_a_prefix_whose_path_crosses_the_as_moves_to_one_avoiding_it_seen_degraded_or_not() -> None:
    w = World()
    r = w.step(as_incidents=crossing(w, [0, 1]))
    # Neither path was measured degraded: the incident is the evidence.
    assert [w.exit(r, i) for i in range(4)] == ["c", "c", "a", "a"]
    assert [Reason(x) for x in r.reason[:2]] == [Reason.AS_INCIDENT] * 2
    assert r.injections == {w.prefixes[0]: "c", w.prefixes[1]: "c"}
    assert r.incident_asn == {w.prefixes[0]: ASN, w.prefixes[1]: ASN}
    text = said(r, w.prefixes[0])
    assert text.startswith("moved off a to c: a's path crosses AS64601, where an incident is open")
    # A record without the AS (journaled before it was kept) says so without a number.
    journal = summary(r.explain(w.prefixes[0]).as_dict())
    assert "an AS an open incident names" in journal and "None" not in journal


def test_no_move_to_an_avoiding_provider_measured_worse() -> None:
    w = World()
    w.loss[0, 2] = 0.2  # c loses 20% for prefix 0
    w.rtt[1, 2] = 50 + 25  # and is 25 ms slower for prefix 1 (threshold 10 ms)
    w.rtt[2, 2] = 50 + 5  # 5 ms slower for prefix 2: within the threshold, not worse
    r = w.step(as_incidents=crossing(w, [0, 1, 2]))
    assert [w.exit(r, i) for i in range(3)] == ["a", "a", "c"]
    assert Reason(r.reason[0]) is Reason.DEFAULT and Reason(r.reason[1]) is Reason.DEFAULT
    assert Reason(r.reason[2]) is Reason.AS_INCIDENT


def test_never_to_a_provider_without_a_route_unmeasured_or_in_a_window() -> None:
    w = World()
    w.has_route[0, 2] = False
    w.samples[1, 2] = 0
    r = w.step(as_incidents=crossing(w, [0, 1, 2]), maintenance=MaintenanceNow(frozenset()))
    assert [w.exit(r, i) for i in range(3)] == ["a", "a", "c"]
    w2 = World()
    r2 = w2.step(
        as_incidents=crossing(w2, [0]), maintenance=MaintenanceNow(blocked=frozenset({"c"}))
    )
    assert w2.exit(r2, 0) == "a" and r2.injections == {}


def test_every_provider_crossing_it_leaves_the_prefix_where_it_is() -> None:
    w = World()
    r = w.step(as_incidents=crossing(w, [0], "abc"))
    assert w.exit(r, 0) == "a" and not r.changed().size


def test_a_loss_move_lands_on_the_provider_avoiding_the_as_when_one_is_better_enough() -> None:
    w = World(policy=PolicyConfig(loss_rounds=1))
    w.loss[0, 0] = 0.2  # a loses; a avoids the AS, b crosses it and is the fastest
    w.rtt[0] = [50, 20, 40]
    r = w.step(as_incidents=crossing(w, [0], "b"))
    assert w.exit(r, 0) == "c" and Reason(r.reason[0]) is Reason.LOSS
    # Without the incident the loss move takes the fastest: b.
    w2 = World(policy=PolicyConfig(loss_rounds=1))
    w2.loss[0, 0], w2.rtt[0] = 0.2, [50, 20, 40]
    assert w2.exit(w2.step(), 0) == "b"


def test_a_crossing_provider_is_still_a_target_when_it_is_the_only_one_better() -> None:
    w = World(policy=PolicyConfig(loss_rounds=1))
    w.loss[0] = [0.2, 0.0, 0.2]  # a and c lose; only b, which crosses the AS, does not
    r = w.step(as_incidents=crossing(w, [0], "b"))
    assert w.exit(r, 0) == "b" and Reason(r.reason[0]) is Reason.LOSS
    # Next rounds: c avoids the AS but is lossier than b: the prefix stays (no flap).
    for _ in range(3):
        r = w.step(as_incidents=crossing(w, [0], "b"))
        assert w.exit(r, 0) == "b" and not r.changed().size


def test_an_outage_move_prefers_the_provider_avoiding_the_as() -> None:
    w = World()
    w.cons[0, 0] = 5
    w.rtt[0] = [50, 20, 40]
    r = w.step(as_incidents=crossing(w, [0], "b"))
    assert w.exit(r, 0) == "c" and Reason(r.reason[0]) is Reason.OUTAGE


def test_hold_down_delays_the_move_and_the_preference_ends_with_the_incident() -> None:
    policy = PolicyConfig(latency_rounds=1, hold_down_s=60.0, revert_rounds=2)
    w = World(policy=policy)
    w.rtt[0] = [50, 20, 50]  # b is faster: a latency move to b
    r = w.step()
    assert w.exit(r, 0) == "b" and Reason(r.reason[0]) is Reason.LATENCY
    # b's path now crosses the incident's AS; the latency move is 10 s old (hold-down 60 s).
    w.rtt[0] = [50, 50, 50]
    r = w.step(as_incidents=crossing(w, [0], "b"))
    assert w.exit(r, 0) == "b" and not r.changed().size
    w.now += 60
    r = w.step(as_incidents=crossing(w, [0], "ab"))
    assert w.exit(r, 0) == "c" and Reason(r.reason[0]) is Reason.AS_INCIDENT
    assert r.incident_asn == {w.prefixes[0]: ASN}
    # While the incident lasts the prefix stays on c, though c is no faster than a: BGP's
    # default crosses the AS, and the improvement holds for that.
    for _ in range(4):
        r = w.step(dt=30.0, as_incidents=crossing(w, [0], "ab"))
        assert w.exit(r, 0) == "c" and Reason(r.reason[0]) is Reason.AS_INCIDENT
    held = said(r, w.prefixes[0])
    assert held.startswith("held on c: the path of BGP's default (a) crosses AS64601"), held
    # The incident closes: the improvement no longer holds, and reverts after revert_rounds.
    r = w.step(dt=30.0)
    assert w.exit(r, 0) == "c"
    r = w.step(dt=30.0)
    assert w.exit(r, 0) == "a" and Reason(r.reason[0]) is Reason.REVERT and r.injections == {}


def test_no_revert_onto_a_default_crossing_the_as() -> None:
    policy = PolicyConfig(latency_rounds=1, hold_down_s=0.0, revert_rounds=1)
    w = World(policy=policy)
    w.rtt[0] = [50, 50, 20]
    r = w.step()
    assert w.exit(r, 0) == "c" and Reason(r.reason[0]) is Reason.LATENCY
    # c's advantage is gone, but a crosses the AS of an open incident: it stays on c.
    w.rtt[0] = [50, 50, 50]
    for _ in range(3):
        r = w.step(as_incidents=crossing(w, [0], "ab"))
        assert w.exit(r, 0) == "c" and not r.changed().size
    r = w.step()
    assert w.exit(r, 0) == "a" and Reason(r.reason[0]) is Reason.REVERT


def test_drained_traffic_comes_home_only_once_the_default_avoids_the_as() -> None:
    w = World(policy=PolicyConfig(hold_down_s=0.0))
    w.rtt[0] = [20, 30, 25]
    drain = MaintenanceNow(frozenset({"a"}), frozenset({"a"}))
    r = w.step(maintenance=drain)
    assert w.exit(r, 0) == "c" and Reason(r.reason[0]) is Reason.MAINTENANCE
    # The window is over, but a's path now crosses the AS of an open incident for prefix 0
    # (the other drained prefixes come home).
    for _ in range(3):
        r = w.step(as_incidents=crossing(w, [0], "ab"))
        assert w.exit(r, 0) == "c" and 0 not in r.changed()
    r = w.step()
    assert w.exit(r, 0) == "a" and Reason(r.reason[0]) is Reason.REVERT


def test_capacity_still_rules_an_as_incident_move() -> None:
    # c's link is 10 Mb/s; the 9 Mb/s prefix 0 moving there would fill it past its target.
    w = World(provs=providers(c=10.0))
    w.bps = np.array([9e6, 1e6, 1e6, 1e6])
    r = w.step(as_incidents=crossing(w, [0, 1]))
    # Prefix 0 stays on a: c has no room, and b crosses the AS too.
    assert w.exit(r, 0) == "a" and Reason(r.reason[0]) is Reason.DEFAULT
    assert w.exit(r, 1) == "c" and Reason(r.reason[1]) is Reason.AS_INCIDENT
    assert r.projected_bps["c"] <= 10e6 * PolicyConfig().target_utilization_pct / 100


def test_the_change_limit_still_rules() -> None:
    w = World(n=6, policy=PolicyConfig(max_changes_per_minute=2))
    r = w.step(as_incidents=crossing(w, list(range(6))))
    assert len(r.changed()) == 2
    assert sorted(Reason(x).label for x in r.reason) == ["as_incident"] * 2 + ["deferred"] * 4


def test_the_input_ignores_unknown_prefixes_providers_and_bad_asns() -> None:
    w = World()
    paths = {
        w.prefixes[0]: {"zz": ASN, "a": 0, "b": -5},
        "203.0.113.0/24": {"a": ASN},
        w.prefixes[1]: {"a": ASN},
    }
    r = w.step(as_incidents=paths)
    assert [w.exit(r, i) for i in range(4)] == ["a", "b", "a", "a"]


def test_a_provider_excluded_as_an_as_incident_target_is_never_one() -> None:
    """``policy.target_exclusions: {c: [as_incident]}``: the move goes to b, which avoids
    the AS too, not to the faster c; with b crossing as well, the prefix stays."""
    w = World()
    w.rtt[0] = [50, 48, 30]
    assert w.exit(w.step(as_incidents=crossing(w, [0], "a")), 0) == "c"
    barred = RoundPolicy.compile([], (), {"c": ["as_incident"]})
    w = World(rules=barred)
    w.rtt[0] = [50, 48, 30]
    r = w.step(as_incidents=crossing(w, [0], "a"))
    assert w.exit(r, 0) == "b" and Reason(r.reason[0]) is Reason.AS_INCIDENT
    w = World(rules=barred)
    w.rtt[0] = [50, 48, 30]
    r = w.step(as_incidents=crossing(w, [0], "ab"))
    assert w.exit(r, 0) == "a" and r.injections == {}
    # The policy's other reasons are not barred from c.
    w = World(policy=PolicyConfig(latency_rounds=1), rules=barred)
    w.rtt[1] = [80, 80, 20]
    assert w.exit(w.step(), 1) == "c"
