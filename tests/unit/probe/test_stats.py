"""Statistics: Wilson interval, RFC 3550 jitter, quantiles, consecutive losses, windows."""

from __future__ import annotations

import math
from collections import deque
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from routepilot.probe.stats import (
    Z95,
    Z99,
    PathStats,
    rfc3550_jitter,
    summarize,
    summarize_many,
    wilson,
)
from routepilot.stats import wilson_ratio


def test_wilson_known_values():
    # Reference values of the Wilson score interval at 95%.
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4) and high == pytest.approx(1.0)


def test_wilson_contains_ratio_and_narrows_with_samples():
    for lost, n in ((1, 20), (30, 1000), (999, 1000)):
        low, high = wilson(lost, n)
        assert low <= lost / n <= high
    assert wilson(10, 100)[1] - wilson(10, 100)[0] > wilson(100, 1000)[1] - wilson(100, 1000)[0]
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_jitter_follows_rfc3550_recurrence():
    assert rfc3550_jitter([10.0] * 50) == 0.0
    # Alternating 10/12 ms: |D| = 2 each time, J converges to 2.
    alt = [10.0, 12.0] * 200
    assert rfc3550_jitter(alt) == pytest.approx(2.0, abs=1e-3)
    # First step: J = |D| / 16.
    assert rfc3550_jitter([10.0, 26.0]) == pytest.approx(1.0)


def test_summarize_quantiles_and_loss():
    rtts = np.arange(1, 101, dtype=float)  # 1..100 ms
    s = summarize(rtts, samples=125)
    assert s.rtt_median_ms == pytest.approx(50.5)
    assert s.rtt_p90_ms == pytest.approx(90.1)
    assert s.rtt_min_ms == 1.0 and s.rtt_max_ms == 100.0
    assert s.loss == pytest.approx(0.2)
    assert s.loss_low < 0.2 < s.loss_high
    empty = summarize(np.zeros(0), samples=3)
    assert empty.loss == 1.0 and math.isnan(empty.rtt_median_ms)
    assert empty.as_dict()["rtt_median_ms"] is None


def test_consecutive_losses_in_send_order():
    st = PathStats(window_s=60)
    st.add(1.0, 10.0, 1.01)
    for t in (2.0, 3.0, 4.0):
        st.add(t, math.nan, t + 2)
    assert st.consecutive_losses == 3
    # An answer to an older probe arriving late does not hide newer losses.
    st.add(1.5, 10.0, 6.0)
    assert st.consecutive_losses == 3
    st.add(5.0, 11.0, 6.1)
    assert st.consecutive_losses == 0
    assert st.last_answer == 6.1


def test_window_trims_old_samples():
    st = PathStats(window_s=10)
    for t in range(30):
        st.add(float(t), math.nan if t < 15 else 5.0, float(t))
    s = st.summary(now=30.0)
    assert s.samples == 10  # sent at 20..29
    assert s.loss == 0.0
    assert st.sent_total == 30


def test_summarize_many_matches_one_by_one():
    import random

    rng = random.Random(3)
    paths = []
    for n in (0, 1, 2, 7, 50, 301):
        st = PathStats(window_s=100)
        for i in range(n):
            lost = rng.random() < 0.2
            st.add(float(i) * 0.1, math.nan if lost else rng.uniform(1, 90), float(i) * 0.1)
        paths.append(st)
    many = summarize_many(paths, now=40.0)
    for i, st in enumerate(paths):
        one = st.summary(now=40.0)
        for key in ("rtt_median_ms", "rtt_p90_ms", "rtt_min_ms", "loss", "loss_low", "loss_high"):
            a, b = many[key][i], getattr(one, key)
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b), (key, n)
        assert many["samples"][i] == one.samples


def test_wilson_is_exact_at_no_loss_and_at_total_loss() -> None:
    # The formula leaves a few 1e-18 at the ends in floating point; "this path's interval
    # lies above that one's loss" must never hold between two paths that lost nothing.
    n = np.arange(1, 5001, dtype=np.float64)
    for z in (NormalDist().inv_cdf(0.95), Z95, Z99):
        low, high = wilson_ratio(np.zeros_like(n), n, z)
        assert (low == 0.0).all() and (high > 0).all()
        low, high = wilson_ratio(np.ones_like(n), n, z)
        assert (high == 1.0).all() and (low < 1).all()
    assert wilson(0, 99) == (0.0, wilson(0, 99)[1])
    assert all(np.isnan(wilson_ratio(np.array([0.0]), np.array([0]))[0]))


class _Path:
    """What PathStats keeps, by its definition (it is kept in C)."""

    def __init__(self, window_s: float, cap: int) -> None:
        self.window_s, self.sent, self.rtts = window_s, deque(maxlen=cap), deque(maxlen=cap)
        self.jitter = self.prev = self.last_answer = math.nan
        self.run: deque[float] = deque()
        self.last_answer_sent = -math.inf
        self.sent_total = self.answered_total = 0

    def add(self, sent_at: float, rtt: float, now: float) -> int:
        self.sent.append(sent_at)
        self.rtts.append(rtt)
        self.sent_total += 1
        if rtt == rtt:
            self.answered_total += 1
            self.last_answer = now
            if sent_at >= self.last_answer_sent:
                self.last_answer_sent = sent_at
                while self.run and self.run[0] <= sent_at:
                    self.run.popleft()
            if self.prev == self.prev:  # RFC 3550 6.4.1
                d = abs(rtt - self.prev)
                self.jitter = (
                    d / 16 if self.jitter != self.jitter else self.jitter + (d - self.jitter) / 16
                )
            self.prev = rtt
        elif sent_at > self.last_answer_sent:
            self.run.append(sent_at)
        return len(self.run)

    def trim(self, now: float) -> None:
        while self.sent and self.sent[0] < now - self.window_s:
            self.sent.popleft()
            self.rtts.popleft()


@given(
    st.floats(0.5, 50),
    st.integers(1, 40),
    st.lists(
        st.tuples(
            st.floats(0, 100, allow_nan=False),  # sent at
            st.one_of(st.floats(0, 500, allow_nan=False), st.just(math.nan)),
            st.floats(0, 5, allow_nan=False),  # answered or given up this long after
            st.booleans(),  # trimmed to its window after this one
        ),
        max_size=200,
    ),
)
def test_the_path_kept_in_c_is_its_definition(window_s, cap, results):
    """Results in any order (late answers, losses given up after later answers), windows
    of any length, rings of any size: the same window, jitter and losses in a row."""
    got, want = PathStats(window_s, max_samples=cap), _Path(window_s, cap)
    for sent_at, rtt, after, trim in results:
        assert got.add(sent_at, rtt, sent_at + after) == want.add(sent_at, rtt, sent_at + after)
        if trim:
            got.trim(sent_at + after)
            want.trim(sent_at + after)
        assert str(got.rtts) == str(list(want.rtts))  # NaN == NaN in their text
        assert got.times == list(want.sent)
    assert got.consecutive_losses == len(want.run)
    for name in ("jitter", "last_answer"):
        a, b = getattr(got, name), getattr(want, name)
        assert a == b or (math.isnan(a) and math.isnan(b))
    assert (got.sent_total, got.answered_total) == (want.sent_total, want.answered_total)


def test_the_path_refuses_what_it_cannot_keep():
    with pytest.raises(ValueError):
        PathStats(60, max_samples=0)
    with pytest.raises(TypeError):
        PathStats(60).add(1.0, "2", 3.0)
    with pytest.raises(TypeError):
        summarize_many([object()], now=1.0)  # type: ignore[list-item]
