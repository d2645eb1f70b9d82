"""A prefix under retry on a wide RTT spread (probe/confirm.py) makes no quality move
until its longer trains are back; an outage never waits."""

from __future__ import annotations

from dataclasses import replace

from routepilot.decide import PolicyConfig, Reason
from routepilot.decide.engine import decide
from routepilot.decide.model import DecisionResult

from .helpers import World


def _step(w: World, confirming: set[str]) -> DecisionResult:
    inp = w.input()
    inp = replace(inp, measurements=replace(inp.measurements, confirming=frozenset(confirming)))
    result = decide(inp, w.state, w.policy, w.providers)
    w.state = result.state
    w.now += 10.0
    return result


def test_no_latency_or_loss_move_while_confirming_then_the_move_comes() -> None:
    w = World(policy=PolicyConfig(latency_rounds=1, loss_rounds=1))
    w.rtt[0] = [80, 20, 80]
    w.loss[1] = [0.2, 0.0, 0.0]
    both = {w.prefixes[0], w.prefixes[1]}
    r = _step(w, both)
    assert w.exit(r, 0) == "a" and w.exit(r, 1) == "a"
    r = _step(w, set())
    assert w.exit(r, 0) == "b" and Reason(r.reason[0]) is Reason.LATENCY
    assert Reason(r.reason[1]) is Reason.LOSS


def test_an_outage_moves_a_confirming_prefix_at_once() -> None:
    w = World()
    w.cons[0, 0] = 5
    w.rtt[0] = [50, 40, 30]
    r = _step(w, {w.prefixes[0]})
    assert w.exit(r, 0) == "c" and Reason(r.reason[0]) is Reason.OUTAGE


def test_other_prefixes_are_not_held() -> None:
    w = World(policy=PolicyConfig(latency_rounds=1))
    w.rtt[0] = [80, 20, 80]
    w.rtt[1] = [80, 20, 80]
    r = _step(w, {w.prefixes[1]})
    assert w.exit(r, 0) == "b" and w.exit(r, 1) == "a"
