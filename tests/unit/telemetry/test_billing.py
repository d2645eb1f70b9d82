"""The billing arithmetic on a hand-made series with the numbers docs/telemetry.md gives."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from routepilot.telemetry.billing import (
    GREATER,
    GREATER_SEPARATE,
    SEPARATE,
    Sample,
    bill,
    burst_left,
    free_slots,
    over_commit,
    percentile,
    period_bounds,
    project,
    rank,
    slots_in,
    sum_samples,
)

# The series of docs/telemetry.md: 20 samples (Mb/s); in climbs 10..200, out is 300,
# 150 and then 100.
IN = [10.0 * k for k in range(1, 21)]
OUT = [300.0, 150.0] + [100.0] * 18
SERIES = [Sample(300.0 * k, i, o) for k, (i, o) in enumerate(zip(IN, OUT, strict=True))]


def test_rank_rule_drops_the_top_five_percent() -> None:
    assert rank(20) == 19  # the highest of 20 is free
    assert rank(100) == 95
    assert rank(8640) == 8208  # a 30-day month of 5-minute samples frees 432
    assert rank(19) == 19  # fewer than 20 samples: nothing is free yet
    assert rank(1) == 1
    assert rank(0) == 0
    assert percentile([]) == 0.0
    assert percentile([5.0]) == 5.0


def test_separate_bills_each_direction() -> None:
    b = bill(SERIES, SEPARATE)
    assert (b.in_bps, b.out_bps, b.billable_bps) == (190.0, 150.0, 190.0)
    assert b.samples == 20


def test_greater_bills_the_per_sample_maximum() -> None:
    b = bill(SERIES, GREATER)
    # Per-sample maxima: 300, 150, 100 x8, 110..200; the 19th of 20 sorted is 200.
    assert (b.in_bps, b.out_bps, b.billable_bps) == (200.0, 200.0, 200.0)


def test_greater_separate_bills_the_larger_separate_percentile() -> None:
    b = bill(SERIES, GREATER_SEPARATE)
    assert (b.in_bps, b.out_bps, b.billable_bps) == (190.0, 150.0, 190.0)


def test_unknown_mode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown billing mode 'sum'"):
        bill(SERIES, "sum")


def test_burst_allowance() -> None:
    # A period of exactly these 20 slots frees 1 sample; a 100-slot period frees 5.
    assert free_slots(20) == 1 and free_slots(100) == 5
    # Commit 180: greater has 190, 200, 300 above; separate has in 190, 200 and out 300.
    assert over_commit(SERIES, GREATER, 180.0) == 3
    assert over_commit(SERIES, SEPARATE, 180.0) == 2
    assert burst_left(SERIES, GREATER, 180.0, slots=100) == 2
    assert burst_left(SERIES, SEPARATE, 180.0, slots=100) == 3
    assert burst_left(SERIES, GREATER_SEPARATE, 180.0, slots=20) == 0
    assert burst_left(SERIES, GREATER, 400.0, slots=20) == 1


def test_projection_repeats_the_recent_samples() -> None:
    # Half a 40-slot period seen; the last 4 samples (170..200 in, 100 out) repeat 5 times.
    p = project(SERIES, SEPARATE, slots=40, recent=4)
    assert p.samples == 40
    # In: 10..200 plus 5 x (170, 180, 190, 200): rank 38 of 40 is 200.
    assert p.in_bps == 200.0
    # Out: 300, 150 and 38 x 100: rank 38 is 100.
    assert p.out_bps == 100.0
    assert project([], GREATER, slots=40, recent=4).billable_bps == 0.0
    assert project(SERIES, GREATER, slots=20, recent=4) == bill(SERIES, GREATER)


def test_groups_sum_per_sample_and_missing_counts_as_zero() -> None:
    a = [Sample(0.0, 10.0, 20.0), Sample(300.0, 30.0, 40.0)]
    b = [Sample(300.0, 1.0, 2.0, coverage=0.5)]
    assert sum_samples([a, b]) == [Sample(0.0, 10.0, 20.0), Sample(300.0, 31.0, 42.0, 0.5)]


def test_period_bounds_follow_the_billing_day() -> None:
    utc = ZoneInfo("UTC")
    t = datetime(2026, 3, 10, 12, tzinfo=utc).timestamp()
    start, end = period_bounds(t, day=15)
    assert datetime.fromtimestamp(start, utc) == datetime(2026, 2, 15, tzinfo=utc)
    assert datetime.fromtimestamp(end, utc) == datetime(2026, 3, 15, tzinfo=utc)
    assert slots_in(start, end, 300) == 28 * 288
    # January's period ends in February; December's in the next year.
    start, end = period_bounds(datetime(2026, 12, 31, tzinfo=utc).timestamp(), day=1)
    assert datetime.fromtimestamp(end, utc) == datetime(2027, 1, 1, tzinfo=utc)
    paris = ZoneInfo("Europe/Paris")
    start, _ = period_bounds(
        datetime(2026, 7, 1, 0, 30, tzinfo=paris).timestamp(), 1, "Europe/Paris"
    )
    assert datetime.fromtimestamp(start, paris) == datetime(2026, 7, 1, tzinfo=paris)


rates = st.floats(min_value=0, max_value=1e12, allow_nan=False)
series = st.lists(st.tuples(rates, rates), min_size=1, max_size=200).map(
    lambda xs: [Sample(300.0 * k, i, o) for k, (i, o) in enumerate(xs)]
)
modes = st.sampled_from([SEPARATE, GREATER, GREATER_SEPARATE])


@given(series, modes)
def test_billed_is_between_min_and_max(samples: list[Sample], mode: str) -> None:
    b = bill(samples, mode)
    top = max(max(s.in_bps, s.out_bps) for s in samples)
    assert 0 <= b.billable_bps <= top
    assert b.billable_bps >= min(max(s.in_bps, s.out_bps) for s in samples) or mode != GREATER


@given(series, modes, st.integers(min_value=0, max_value=199), rates)
def test_raising_a_sample_never_lowers_the_bill(
    samples: list[Sample], mode: str, index: int, extra: float
) -> None:
    k = index % len(samples)
    s = samples[k]
    raised = [*samples[:k], Sample(s.start, s.in_bps + extra, s.out_bps + extra), *samples[k + 1 :]]
    assert bill(raised, mode).billable_bps >= bill(samples, mode).billable_bps


@given(series)
def test_greater_dominates_greater_separate(samples: list[Sample]) -> None:
    g, gs, sep = (bill(samples, m) for m in (GREATER, GREATER_SEPARATE, SEPARATE))
    assert g.billable_bps >= gs.billable_bps == sep.billable_bps


@given(series, modes, rates)
def test_commit_holds_exactly_while_the_allowance_lasts(
    samples: list[Sample], mode: str, commit: float
) -> None:
    n = len(samples)
    within = bill(samples, mode).billable_bps <= commit
    assert within == (over_commit(samples, mode, commit) <= free_slots(n))
    assert (burst_left(samples, mode, commit, n) > 0) <= within


@given(series, modes, rates)
def test_a_new_sample_at_or_above_the_bill_never_lowers_it(
    samples: list[Sample], mode: str, extra: float
) -> None:
    before = bill(samples, mode)
    high = before.billable_bps + extra
    grown = [*samples, Sample(300.0 * len(samples), high, high)]
    assert bill(grown, mode).billable_bps >= before.billable_bps


def test_projection_counts_the_repeats_as_writing_them_out_would() -> None:
    """The projection bills the period as if the last ``recent`` samples were written
    out in a cycle over every slot left, for every mode and any lengths."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        series = [
            Sample(i * 300.0, float(rng.integers(0, 50)), float(rng.integers(0, 50)))
            for i in range(n)
        ]
        slots, recent = n + int(rng.integers(0, 200)), int(rng.integers(0, 80))
        pattern = series[-recent:] if recent > 0 else []
        left = slots - n
        written = series + [pattern[i % len(pattern)] for i in range(left)] if pattern else series
        for mode in (SEPARATE, GREATER, GREATER_SEPARATE):
            assert project(series, mode, slots, recent) == bill(written, mode), (n, slots, recent)
        # And bill() is the rank rule on the sorted values.
        assert bill(written, SEPARATE).in_bps == percentile([s.in_bps for s in written])
        top = percentile([max(s.in_bps, s.out_bps) for s in written])
        assert bill(written, GREATER).billable_bps == top


@given(series, modes, st.integers(min_value=0, max_value=2000), st.integers(0, 300))
def test_projection_bills_as_if_every_slot_were_filled(
    samples: list[Sample], mode: str, slots: int, recent: int
) -> None:
    # The projection counts each repeated sample instead of listing every slot of the
    # period (a month of 5-second samples is 535,680): the bill must be the same.
    remaining = max(0, slots - len(samples))
    pattern = samples[-recent:] if recent else []
    filled = [pattern[i % len(pattern)] for i in range(remaining)] if pattern else []
    assert project(samples, mode, slots, recent) == bill([*samples, *filled], mode)
