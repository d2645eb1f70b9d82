"""Host qualification and the RTT spread: which target is a fair witness of its prefix."""

from __future__ import annotations

import math
import random
from collections import deque

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from routepilot.probe.qualify import LOSS, SPREAD, HostRecord, SpreadRule, judge, spread_ms
from routepilot.probe.targets import TargetManager

PREFIX = "198.18.1.0/24"
RULE = SpreadRule(10.0, 0.25)


def test_the_spread_reads_p90_minus_p10_of_a_normal_or_uniform_spread():
    rng = random.Random(1)
    for draw, expected in (
        (lambda: 50 + rng.gauss(0, 10), 2.563 * 10),  # normal: p90 - p10 = 2.563 sigma
        (lambda: 50 + rng.uniform(-15, 15), 1.6 * 15),  # uniform: 0.8 of the width
    ):
        estimates = [spread_ms([draw() for _ in range(20)]) for _ in range(400)]
        assert float(np.median(estimates)) == pytest.approx(expected, rel=0.15)


def test_a_step_in_the_delay_is_not_a_spread():
    """A new 40 ms delay in the middle of the window: its p90 - p10 is the whole step, which
    is what made a window-quantile spread retry every lab path that was impaired."""
    rng = random.Random(2)
    rtts = [1.0 + rng.uniform(-0.3, 0.3) for _ in range(10)]
    rtts += [41.0 + rng.uniform(-0.3, 0.3) for _ in range(10)]
    p10, p90 = np.percentile(rtts, (10, 90))
    assert p90 - p10 > 39
    assert spread_ms(rtts) < 2
    assert not RULE.wide(rtts)


def test_losses_in_the_series_are_skipped_and_few_answers_tell_nothing():
    assert math.isnan(spread_ms([10.0, math.nan] * 7))  # 7 answers
    assert spread_ms([10.0, math.nan, 30.0] * 4) == pytest.approx(2.7 * 20)


def _spread_by_definition(rtts) -> float:
    """The spread as the module docstring defines it, in plain Python."""
    answered = [r for r in rtts if r == r]
    if len(answered) < 8:
        return math.nan
    steps = sorted(abs(b - a) for a, b in zip(answered, answered[1:], strict=False))
    n = len(steps)
    return 2.7 * (steps[n // 2] if n % 2 else (steps[n // 2 - 1] + steps[n // 2]) / 2)


@given(
    st.lists(st.one_of(st.floats(0, 1e4, allow_nan=False), st.just(math.nan)), max_size=200),
    st.sampled_from([list, deque]),
)
def test_the_spread_read_in_c_is_the_definition_exactly(rtts, container):
    """Rings of any length (past the C reading's 64 on its stack too), NaN anywhere."""
    got, want = spread_ms(container(rtts)), _spread_by_definition(rtts)
    assert got == want or (math.isnan(got) and math.isnan(want))


def test_the_spread_refuses_what_is_not_a_number():
    with pytest.raises(TypeError):
        spread_ms([1.0] * 8 + ["9"])


def test_wide_needs_both_the_milliseconds_and_the_share_of_the_median():
    zigzag = [100.0, 130.0] * 10  # 81 ms spread on a 115 ms median
    assert RULE.wide(zigzag)
    assert not SpreadRule(10.0, 1.0).wide(zigzag)
    assert not SpreadRule(100.0, 0.0).wide(zigzag)
    assert not SpreadRule(0.0, 0.0).wide(zigzag)  # 0 ms: off


class _Record:
    """What a HostRecord keeps, by its definition: a ring of the last ``n`` results per
    provider, and whether the spread was wide when last read (every ``every``-th answer)."""

    def __init__(self, n: int) -> None:
        self.n, self.rings, self.added, self.wide = n, {}, {}, {}

    def settle(self, p: int, rtt: float, every: int, rule: SpreadRule) -> bool:
        ring = self.rings.setdefault(p, deque(maxlen=self.n))
        ring.append(rtt)
        self.added[p] = self.added.get(p, 0) + 1
        if rtt == rtt and self.added[p] % every == 0:
            self.wide[p] = rule.wide(ring)
        return self.wide.get(p, False)


@given(
    st.integers(1, 80),
    st.integers(1, 6),
    st.sampled_from([RULE, SpreadRule(0.5, 0.0), SpreadRule(0.0, 0.0), SpreadRule(3.0, 0.1)]),
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.one_of(st.floats(0, 50, allow_nan=False), st.just(math.nan)),
        ),
        max_size=300,
    ),
    st.floats(0, 1),
)
def test_the_record_kept_in_c_is_its_definition(n, every, rule, results, loss):
    """Every result through any provider, rings of any size (past the C spread's 64 on its
    stack too): the same results kept, the same losses, the same spreads read wide."""
    got, want = HostRecord(n), _Record(n)
    for fresh, (p, rtt) in enumerate(results, 1):
        assert got.settle(p, rtt, every, rule.ms, rule.ratio) == want.settle(p, rtt, every, rule)
        assert got.fresh == fresh
    rings = {p: list(r) for p, r in sorted(want.rings.items())}
    assert str(got.results) == str(rings)  # NaN == NaN in their text; providers in order
    assert got.losses == {p: sum(v != v for v in r) for p, r in rings.items()}
    assert got.added == want.added
    assert got.wide == want.wide
    assert sorted(got.full()) == sorted(p for p, r in rings.items() if len(r) == n)
    for p in range(5):
        assert got.count(p) == len(rings.get(p, []))
        assert got.lost(p) == sum(v != v for v in rings.get(p, []))
    suspect = any(v >= loss * n for v in got.losses.values()) or any(want.wide.values())
    assert got.suspect(loss) == suspect
    for p in want.rings:
        assert got.read_spread(p, rule) == rule.wide(want.rings[p])


def test_the_record_refuses_what_it_cannot_keep():
    with pytest.raises(ValueError):
        HostRecord(0)
    h = HostRecord(4)
    with pytest.raises(ValueError):
        h.add(-1, 1.0)
    with pytest.raises(TypeError):
        h.add(0, "1")
    assert h.count(-0) == 0 and h.results == {}


def _host(results: dict[int, list[float]], n: int = 20) -> HostRecord:
    h = HostRecord(n)
    for p, rs in results.items():
        for r in rs:
            h.add(p, r)
        h.read_spread(p, RULE)
    return h


def _lossy(share: float, n: int = 20, rtt: float = 10.0) -> list[float]:
    lost = round(share * n)
    return [math.nan] * lost + [rtt] * (n - lost)


def test_a_host_lossy_through_every_provider_beside_a_good_sibling_is_disqualified():
    bad = _host({0: _lossy(0.35), 1: _lossy(0.35), 2: _lossy(0.35)})
    good = _host({0: _lossy(0), 1: _lossy(0), 2: _lossy(0)})
    assert judge(bad, [good], 0.2, RULE) == LOSS
    assert judge(good, [bad], 0.2, RULE) is None


def test_a_loss_on_one_provider_only_is_the_paths_not_the_hosts():
    bad = _host({0: _lossy(0.5), 1: _lossy(0), 2: _lossy(0)})
    good = _host({0: _lossy(0), 1: _lossy(0), 2: _lossy(0)})
    assert judge(bad, [good], 0.2, RULE) is None


def test_when_every_address_is_lossy_none_is_disqualified():
    a = _host({0: _lossy(0.35), 1: _lossy(0.35)})
    b = _host({0: _lossy(0.3), 1: _lossy(0.4)})
    assert judge(a, [b], 0.2, RULE) is None
    assert judge(b, [a], 0.2, RULE) is None


def test_a_sibling_must_be_judged_on_the_same_providers():
    bad = _host({0: _lossy(0.35), 1: _lossy(0.35)})
    elsewhere = _host({2: _lossy(0), 3: _lossy(0)})
    assert judge(bad, [elsewhere], 0.2, RULE) is None


def test_a_host_with_a_wide_spread_everywhere_beside_a_steady_sibling_is_disqualified():
    rng = random.Random(3)
    wild = _host({p: [20 + rng.uniform(0, 60) for _ in range(20)] for p in (0, 1)})
    steady = _host({p: [20 + rng.uniform(0, 1) for _ in range(20)] for p in (0, 1)})
    assert judge(wild, [steady], 0.2, RULE) == SPREAD
    # Wide through one provider only: that path's jitter, not the host's.
    one = _host({0: [20 + rng.uniform(0, 60) for _ in range(20)], 1: [20.0] * 20})
    assert judge(one, [steady], 0.2, RULE) is None
    # Every address as wild: the path is, and nothing is replaced.
    assert judge(wild, [wild], 0.2, RULE) is None


def _manager(**kw) -> TargetManager:
    tm = TargetManager(k=2, dead_after=1000, **kw)
    tm.set_prefixes([PREFIX])
    tm.observe(["198.18.1.10", "198.18.1.11", "198.18.1.12"])
    for _ in range(10):
        for addr, verifying, _kind, _target in tm.pick(PREFIX, 0.0):
            if verifying:
                tm.result(PREFIX, addr, True, True, 0.0)
    assert tm.active(PREFIX) == ["198.18.1.10", "198.18.1.11"]
    return tm


def _probe(tm: TargetManager, rounds: int, loss: dict[str, float], seed: int = 4) -> None:
    rng = random.Random(seed)
    for i in range(rounds):
        for addr in tm.active(PREFIX):
            for provider in range(3):
                answered = rng.random() >= loss.get(addr, 0.0)
                tm.result(PREFIX, addr, answered, False, float(i), "icmp", provider, 10.0)


def test_the_manager_replaces_the_lossy_target_and_keeps_its_sibling():
    tm = _manager()
    _probe(tm, 60, {"198.18.1.10": 0.35})
    assert tm.disqualified == {LOSS: 1}
    assert tm.active(PREFIX) == ["198.18.1.11"]
    # The next candidate is verified in its place; the disqualified one rests.
    for _ in range(8):
        for addr, verifying, _kind, _target in tm.pick(PREFIX, 100.0):
            if verifying:
                tm.result(PREFIX, addr, True, True, 100.0)
    assert tm.active(PREFIX) == ["198.18.1.11", "198.18.1.12"]


def test_the_manager_never_disqualifies_every_address_of_a_lossy_prefix():
    tm = _manager()
    _probe(tm, 200, {"198.18.1.10": 0.35, "198.18.1.11": 0.35})
    assert not tm.disqualified
    assert tm.active(PREFIX) == ["198.18.1.10", "198.18.1.11"]


def test_qualification_can_be_turned_off():
    tm = _manager(qualify=False)
    _probe(tm, 60, {"198.18.1.10": 0.35})
    assert not tm.disqualified and len(tm.active(PREFIX)) == 2
