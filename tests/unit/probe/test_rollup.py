"""The minute rollup's numbers equal ``np.percentile`` and friends per path.

Paths are summarised in groups of equal answer counts (issue 18: one call per path
took most of a second for 20k paths, on every minute and every API chart of the
minute in progress); the result must be the same as summarising each path alone.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from routepilot.probe.rollup import MinuteAccumulator


def alone(acc: MinuteAccumulator) -> list[tuple]:
    """Per path, in order: (prefix, provider, sent, answered, min, median, p90, max)."""
    out = []
    for (prefix, provider), (sent, rtts) in acc._paths.items():
        arr = np.asarray(rtts, dtype=np.float64)
        if arr.size:
            med, p90 = np.percentile(arr, (50, 90))
            mn, mx = float(arr.min()), float(arr.max())
        else:
            med = p90 = mn = mx = math.nan
        out.append((prefix, provider, sent, int(arr.size), mn, float(med), float(p90), mx))
    return out


def same(a: tuple, b: tuple) -> bool:
    return all(x == y or (x != x and y != y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("seed", range(10))
def test_grouped_rollup_equals_each_path_summarised_alone(seed: int) -> None:
    rng = random.Random(seed)
    acc = MinuteAccumulator("icmp")
    acc.roll(600.0, {})
    for i in range(rng.randint(0, 300)):
        prefix = f"198.18.{i}.0/24" if i % 3 else f"2001:db8:{i:x}::/48"
        for provider in rng.sample(["isp1", "isp2", "isp3"], rng.randint(1, 3)):
            lost = rng.choice([0.0, 0.1, 1.0])  # some paths lose everything
            for _ in range(rng.randint(1, 12)):
                rtt = math.nan if rng.random() < lost else rng.choice([rng.uniform(1, 200), 5.0])
                acc.add(601.0, prefix, provider, rtt)
    jitter = {key: rng.random() for key in list(acc._paths)[::2]}
    want = alone(acc)
    rows = acc.peek(jitter)
    got = [
        (r.prefix, r.provider, r.sent, r.answered, r.rtt_min_ms, r.rtt_median_ms, r.rtt_p90_ms,
         r.rtt_max_ms)
        for r in rows
    ]  # fmt: skip
    assert len(got) == len(want) and all(same(g, w) for g, w in zip(got, want, strict=True))
    for r in rows:
        assert same((r.jitter_ms,), (jitter.get((r.prefix, r.provider), math.nan),))
        assert same((r.loss,), ((r.sent - r.answered) / r.sent,))
    # One prefix's rows: those of the whole minute for that prefix.
    one = rows[0].prefix if rows else "198.18.1.0/24"
    assert acc.peek(jitter, one) == [r for r in rows if r.prefix == one]
    assert acc.turns(659.0) is False and acc.turns(660.0) is True
    assert len(acc.roll(660.0, jitter)) == len(want) and acc.peek({}) == []


def test_a_rollup_covers_its_own_length_and_never_straddles_a_minute() -> None:
    acc = MinuteAccumulator("icmp", 15)
    assert acc.roll(600.0, {}) == []  # the first period begins
    acc.add(601.0, "198.18.0.0/24", "isp1", 10.0)
    acc.add(614.9, "198.18.0.0/24", "isp1", math.nan)
    assert not acc.turns(614.9) and acc.roll(614.9, {}) == []
    assert acc.turns(615.0)
    (row,) = acc.roll(615.0, {})
    assert (row.minute, row.sent, row.answered, row.loss) == (600, 2, 1, 0.5)
    assert acc.roll(645.0, {}) == [] and acc.minute == 645  # nothing probed in 630-645
    acc.add(650.0, "198.18.0.0/24", "isp1", 12.0)
    (row,) = acc.roll(660.0, {})  # the last quarter, ended with the minute
    assert (row.minute, row.sent) == (645, 1) and acc.minute == 660
    minute = MinuteAccumulator("icmp")  # the default: one minute
    minute.roll(600.0, {})
    assert not minute.turns(659.9) and minute.turns(660.0)


@pytest.mark.parametrize("length_s", [0, 7, 45, 90])
def test_a_rollup_length_that_does_not_divide_the_minute_is_refused(length_s: int) -> None:
    with pytest.raises(ValueError, match="divisor of 60"):
        MinuteAccumulator("icmp", length_s)
