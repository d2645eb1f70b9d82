"""Jitter as a decision criterion: a policy rule's ``jitter_threshold_ms`` (docs/policy.md).

Three providers a, b, c, BGP's default a, every path at 50 ms without loss; prefix 0 is
governed by a rule with a 5 ms jitter threshold, prefix 1 by none.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pydantic import ValidationError

from routepilot.config.policy import RuleConfig
from routepilot.decide import PolicyConfig, Reason
from routepilot.decide.policy import RoundPolicy
from routepilot.decide.scenario import Provider
from routepilot.explain import summary, with_interval

from .helpers import World

VOICE = "198.18.0.0/24"  # prefixes_v4's first /24: row 0


def world(action: str = "vip", threshold: float = 5.0, **policy: object) -> World:
    # allow: every provider; deny: one not configured. Both leave every path usable.
    extra = {"allow": {"providers": ["a", "b", "c"]}, "deny": {"providers": ["x"]}}.get(action, {})
    rule = RuleConfig(
        name="voice", prefix=VOICE, action=action, jitter_threshold_ms=threshold, **extra
    )
    w = World(
        n=2,
        policy=PolicyConfig(**{"latency_rounds": 2, "hold_down_s": 0.0, **policy}),
        rules=RoundPolicy.compile([rule]),
    )
    w.jitter = np.ones((2, 3))
    return w


def step(w: World):  # type: ignore[no-untyped-def]
    return w.step(jitter=w.jitter)


@pytest.mark.parametrize("action", ["vip", "allow", "deny"])
def test_a_ruled_prefix_leaves_a_jittery_path_and_an_unruled_one_stays(action: str) -> None:
    w = world(action)
    w.jitter[:, 0] = 12.0  # a: ±15 ms around the same median
    first = step(w)
    assert w.exit(first, 0) == "a"  # sustained over latency_rounds, like a latency move
    r = step(w)
    assert w.exit(r, 0) in ("b", "c") and Reason(r.reason[0]) is Reason.JITTER
    assert w.exit(r, 1) == "a" and Reason(r.reason[1]) is Reason.DEFAULT
    (move,) = r.moves()
    assert move.reason == "jitter" and move.prefix == VOICE


def test_no_move_below_the_threshold() -> None:
    w = world()
    w.jitter[0] = [5.9, 1.0, 1.0]  # 4.9 ms smoother: under 5
    for _ in range(5):
        r = step(w)
    assert w.exit(r, 0) == "a" and not r.moves()


def test_no_move_to_a_lossier_or_slower_path() -> None:
    w = world()
    w.jitter[0] = [12.0, 1.0, 1.0]
    w.loss[0, 1:] = 0.10  # 10 of 100 probes lost against none
    for _ in range(4):
        r = step(w)
    assert w.exit(r, 0) == "a"
    w.loss[0, 1:] = 0.0
    w.rtt[0, 1:] = 60.0  # slower by the latency threshold (10 ms)
    for _ in range(4):
        r = step(w)
    assert w.exit(r, 0) == "a"
    w.rtt[0, 1] = 59.0  # slower, but by less than the threshold
    for _ in range(2):
        r = step(w)
    assert w.exit(r, 0) == "b" and Reason(r.reason[0]) is Reason.JITTER


def test_jitter_counts_only_with_enough_answers_on_both_paths() -> None:
    w = world(jitter_min_samples=30)
    w.jitter[0] = [12.0, 1.0, 1.0]
    w.samples[0, 1:] = 29  # the running mean starts at 0: b and c would look smoother
    for _ in range(4):
        r = step(w)
    assert w.exit(r, 0) == "a"
    w.samples[0, 1:] = 40
    w.loss[0, 1:] = 0.3  # 40 sent, 28 answered: still too few (and lossier)
    for _ in range(4):
        r = step(w)
    assert w.exit(r, 0) == "a"
    w.loss[0, 1:] = 0.0
    w.samples[0, 0] = 20  # the current exit's jitter is not known either
    for _ in range(4):
        r = step(w)
    assert w.exit(r, 0) == "a"


def test_hysteresis_then_return_to_bgp() -> None:
    w = world(revert_rounds=3)
    w.jitter[0] = [12.0, 1.0, 1.0]
    step(w)
    r = step(w)
    moved_to = w.exit(r, 0)
    assert moved_to in ("b", "c")
    # Half the threshold still holds (hysteresis 50%): 2.6 ms smoother than the default.
    w.jitter[0] = [3.6, 1.0, 1.0]
    for _ in range(8):
        r = step(w)
        assert w.exit(r, 0) == moved_to
    # Less than half: after revert_rounds it goes back to BGP's default.
    w.jitter[0] = [2.0, 1.0, 1.0]
    exits = []
    for _ in range(4):
        r = step(w)
        exits.append(w.exit(r, 0))
    assert exits == [moved_to, moved_to, "a", "a"]
    assert Reason(w.results[-2].reason[0]) is Reason.REVERT


def test_a_latency_move_never_lands_on_a_path_more_jittery_by_the_threshold() -> None:
    w = world()
    w.rtt[:] = [70.0, 40.0, 70.0]  # b is 30 ms faster for both prefixes
    w.jitter[:, 1] = 12.0  # and jittery
    for _ in range(3):
        r = step(w)
    assert w.exit(r, 0) == "a"  # the ruled prefix stays
    assert w.exit(r, 1) == "b" and Reason(r.reason[1]) is Reason.LATENCY
    w.rtt[0, 2] = 45.0  # c is fast and smooth: a latency move may go there
    w.samples[0, 2] = 20  # once its jitter is known (it would read low before)
    for _ in range(3):
        r = step(w)
    assert w.exit(r, 0) == "a"
    w.samples[0, 2] = 100
    for _ in range(2):
        r = step(w)
    assert w.exit(r, 0) == "c" and Reason(r.reason[0]) is Reason.LATENCY


def test_an_improvement_does_not_hold_on_a_path_that_became_jittery() -> None:
    w = world(revert_rounds=2)
    w.rtt[0] = [70.0, 40.0, 70.0]
    for _ in range(2):
        r = step(w)
    assert w.exit(r, 0) == "b" and Reason(r.reason[0]) is Reason.LATENCY
    w.jitter[0, 1] = 12.0  # b turns jittery; a and c stay smooth
    exits = [w.exit(step(w), 0) for _ in range(3)]
    assert exits[-1] == "a" and "b" in exits[:2]


def test_latency_and_jitter_rules_never_take_turns() -> None:
    """Constant measurements, no hold-down and the fastest revert: over a grid of RTT and
    jitter combinations the ruled prefix never returns to a provider it left, and jitter
    moves never leave it slower than BGP's default by the latency threshold."""
    for rtt_b, jit_a, jit_b in itertools.product(range(30, 72, 2), (1.0, 7.0, 12.0), (1.0, 12.0)):
        w = world(revert_rounds=1, latency_rounds=1)
        w.rtt[0] = [50.0, float(rtt_b), 55.0]
        w.jitter[0] = [jit_a, jit_b, 6.5]
        exits: list[str | None] = []
        for _ in range(12):
            r = step(w)
            exits.append(w.exit(r, 0))
            if Reason(r.reason[0]) is Reason.JITTER:
                assert r.new_rtt_ms[0] - 50.0 < 10.0, (rtt_b, jit_a, jit_b, exits)
        runs = [x for x, _ in itertools.groupby(["a", *exits])]
        assert len(runs) == len(set(runs)), (rtt_b, jit_a, jit_b, exits)


def test_commit_precedence_treats_jitter_improvements_as_latency_ones() -> None:
    """performance: a jitter improvement in force is never moved for a commit; commit:
    it gives way, to a provider as smooth (c), as latency improvements do."""
    mb = 1e6
    for precedence, keeps in (("performance", True), ("commit", False)):
        provs = [Provider("a", 1000.0), Provider("b", 1000.0, commit_mbps=20.0)]
        provs.append(Provider("c", 1000.0))
        rule = RuleConfig(prefix="198.18.0.0/16", action="vip", jitter_threshold_ms=5.0)
        w = World(
            n=4,
            policy=PolicyConfig(hold_down_s=0, latency_rounds=1, commit={"precedence": precedence}),
            provs=provs,
            rules=RoundPolicy.compile([rule]),
        )
        w.bps = np.full(4, 10 * mb)
        w.rtt[:] = [50, 50, 52]  # b first among the smooth ones, c as smooth
        jitter = np.tile([12.0, 1.0, 1.0], (4, 1))
        r = w.step(jitter=jitter, link_bps={"a": 40 * mb, "b": 0.0, "c": 0.0})
        if keeps:
            assert {Reason(x) for x in r.reason} == {Reason.JITTER}
        on_b = int((r.exit == 1).sum())
        for _ in range(3):
            on_c = int((r.exit == 2).sum())
            links = {"a": 0.0, "b": 10 * mb * on_b, "c": 10 * mb * on_c}
            r = w.step(jitter=jitter, link_bps=links)
            on_b = int((r.exit == 1).sum())
        if keeps:
            assert on_b == 4
        else:
            assert on_b * 10 <= 20 * 0.99 and (r.exit == 2).sum() == 4 - on_b


def test_jitter_excluded_targets_are_not_used() -> None:
    w = world()
    w.extra["rules"] = RoundPolicy.compile(
        [RuleConfig(name="voice", prefix=VOICE, action="vip", jitter_threshold_ms=5.0)],
        target_exclusions={"b": ["jitter"], "c": ["jitter"]},
    )
    w.jitter[0] = [12.0, 1.0, 1.0]
    for _ in range(4):
        r = step(w)
    assert w.exit(r, 0) == "a"


def test_the_explanation_names_the_rule_and_the_jitter() -> None:
    w = world()
    w.jitter[0] = [12.0, 1.0, 1.0]
    step(w)
    r = step(w)
    assert "jitter threshold 5 ms" in str(r.constraint(VOICE)["text"])  # type: ignore[index]
    record = {**r.explain(VOICE).as_dict(), "dry_run": False}
    told = summary(
        with_interval(
            record,
            [
                {"provider": p, "jitter_ms": float(j)}
                for p, j in zip("abc", w.jitter[0], strict=True)
            ],
        )
    )
    to = record["to_provider"]
    assert told.startswith(f"moved off a: its jitter was 12.0 ms against 1.0 ms through {to}")
    assert "at an RTT of 50.0 ms against 50.0 ms" in told
    # A record without the jitter numbers (journaled before they were kept) says so.
    assert "by at least the policy rule's threshold" in summary(record)


@pytest.mark.parametrize("action", ["static", "ignore"])
def test_jitter_threshold_is_refused_where_it_cannot_apply(action: str) -> None:
    extra = {"provider": "isp1"} if action == "static" else {}
    with pytest.raises(ValidationError, match="jitter_threshold_ms is only for"):
        RuleConfig(prefix=VOICE, action=action, jitter_threshold_ms=5.0, **extra)
