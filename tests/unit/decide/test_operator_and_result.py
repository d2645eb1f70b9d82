"""Pins, exclusions, and the result as the journal and API read it."""

from __future__ import annotations

from routepilot.decide import PolicyConfig, Reason
from routepilot.explain import summary

from .helpers import World


def test_pin_moves_now_and_unpin_reverts() -> None:
    w = World(policy=PolicyConfig(hold_down_s=3600))
    r = w.step(pins={w.prefixes[0]: "c"})
    assert w.exit(r, 0) == "c" and Reason(r.reason[0]) is Reason.PINNED
    r = w.step(pins={w.prefixes[0]: "c"})
    assert w.exit(r, 0) == "c"
    r = w.step()
    assert w.exit(r, 0) == "a" and Reason(r.reason[0]) is Reason.REVERT


def test_pin_to_a_failing_provider_is_not_honoured() -> None:
    w = World()
    w.cons[0, 2] = 9
    r = w.step(pins={w.prefixes[0]: "c"})
    assert w.exit(r, 0) == "a"


def test_pin_for_a_prefix_without_traffic_still_applies() -> None:
    w = World()
    r = w.step(pins={"198.51.100.0/24": "b"})
    # No route is known for it: nothing may be injected.
    assert "198.51.100.0/24" not in r.injections


def test_exclusion_withdraws_and_stays_hands_off() -> None:
    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[0] = [80, 20, 80]
    w.step()
    w.cons[0, 0] = 9  # even an outage of the default is left alone
    r = w.step(exclusions=frozenset({w.prefixes[0]}))
    assert w.exit(r, 0) == "a" and Reason(r.reason[0]) is Reason.EXCLUDED


def test_moves_and_explain_carry_the_numbers() -> None:
    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[1] = [80, 20, 80]
    w.bps[1] = 5e6
    r = w.step()
    (m,) = r.moves()
    assert m.as_dict() == {
        "prefix": w.prefixes[1],
        "from_provider": "a",
        "to_provider": "b",
        "default_provider": "a",
        "reason": "latency",
        "traffic_bps": 5e6,
        "old_rtt_ms": 80.0,
        "new_rtt_ms": 20.0,
        "old_loss": 0.0,
        "new_loss": 0.0,
        "threshold_ms": 10.0,
        "time": r.time,
    }
    assert r.explain(w.prefixes[0]).reason == "default"


def test_a_held_improvement_is_explained_against_bgps_default_not_itself() -> None:
    """The round after a move, the prefix stays on b: its record compares b with a (BGP's
    default), and the sentence says it is held there, not that it moved off b through b."""
    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[1] = [80, 20, 80]
    w.bps[1] = 5e6
    w.step()
    r = w.step()
    assert r.moves() == []
    m = r.explain(w.prefixes[1])
    assert (m.from_provider, m.to_provider, m.default_provider) == ("b", "b", "a")
    assert m.reason == "latency"
    assert (m.old_rtt_ms, m.new_rtt_ms) == (80.0, 20.0)
    assert summary(m.as_dict()).startswith(
        "held on b, where a latency move took it: RTT 20.0 ms against 80.0 ms through a"
    )
    # A prefix on BGP's default compares the default with itself, as before.
    d = r.explain(w.prefixes[0])
    assert d.reason == "default" and d.old_rtt_ms == d.new_rtt_ms


def test_state_carries_injections_when_inject_reports_none() -> None:
    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[0] = [80, 20, 80]
    w.step()
    r = w.step()
    assert r.current[0] == 1 and not r.changed().size
    assert r.state.active[w.prefixes[0]].reason is Reason.LATENCY


def test_injections_reported_by_inject_are_the_current_exit() -> None:
    w = World()
    r = w.step(injections={w.prefixes[0]: "b"})
    # b is no better than a: an unexplained injection reverts after revert_rounds.
    assert r.current[0] == 1
    for _ in range(w.policy.revert_rounds + 1):
        r = w.step(injections=dict(r.injections), dt=400)
    assert r.injections == {}


def test_improvements_lost_with_the_session_come_back_despite_hold_down() -> None:
    w = World(policy=PolicyConfig(latency_rounds=3, hold_down_s=3600))
    w.rtt[0] = [80, 20, 80]
    w.rtt[1] = [80, 20, 80]
    for _ in range(3):
        r = w.step()
    assert len(r.injections) == 2
    w.rtt[1] = [20, 20, 80]  # this one no longer holds
    r = w.step(injections={})  # restart: the routers hold nothing of ours
    assert r.injections == {w.prefixes[0]: "b"}
    assert Reason(r.reason[0]) is Reason.LATENCY and r.current[0] == 0


def test_restart_with_restored_state_through_the_store_codec() -> None:
    from routepilot.store.codec import state_from_json, state_to_json

    w = World(policy=PolicyConfig(latency_rounds=1, hold_down_s=3600))
    w.rtt[0] = [80, 20, 80]
    w.step()
    w.state = state_from_json(state_to_json(w.state))
    r = w.step(injections={})
    assert r.injections == {w.prefixes[0]: "b"}


def test_outage_of_the_current_exit_goes_to_the_pin_when_it_answers() -> None:
    w = World()
    w.cons[0, 0] = 9
    w.rtt[0] = [50, 20, 60]
    r = w.step(pins={w.prefixes[0]: "c"})
    assert w.exit(r, 0) == "c"
