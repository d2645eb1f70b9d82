"""The billing arithmetic, as providers bill: pure functions, no clock of their own.

A provider cuts its billing period (a month from the billing day) into fixed
samples (5 minutes), each the average rate of the sample in and out. It bills
the 95th percentile of those samples:

* **rank rule**: sort the period's n samples ascending and bill the one at rank
  ``k = ceil(p/100 * n)`` (1-based), i.e. the top ``n - k`` samples are free. With
  ``n = 20`` and p = 95 the 19th value is billed and the single highest is free;
  a 30-day month of 8640 samples frees its 432 highest.
* **modes**:
  ``separate`` bills in and out as two percentiles, each against the commit;
  ``greater`` takes, per sample, the larger of in and out and bills the percentile
  of that one series; ``greater_separate`` computes the in and out percentiles
  separately and bills the larger of the two. ``greater`` is never below
  ``greater_separate`` (a per-sample maximum dominates both series).
* **commit and burst allowance**: the commit is exceeded when the billed value is
  above it, which happens exactly when more than ``N - ceil(p/100 * N)`` of the
  period's N sample slots are above the commit. Those free slots are the burst
  allowance; what is left of it is that number minus the samples already above.
* **groups**: providers billed together are summed sample by sample (a member
  with no sample in a slot counts as 0 there) and billed as one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

SEPARATE = "separate"
GREATER = "greater"
GREATER_SEPARATE = "greater_separate"
MODES = (SEPARATE, GREATER, GREATER_SEPARATE)


@dataclass(frozen=True)
class Sample:
    """One billing sample: average rates over ``[start, start + length)``."""

    start: float
    """Slot start, seconds since the epoch (whole sample lengths after the period start)."""
    in_bps: float
    out_bps: float
    coverage: float = 1.0
    """Share of the slot with counter data (0..1]; the rates are averages over that share."""


@dataclass(frozen=True)
class Billed:
    """The percentiles of one series of samples, in one mode."""

    mode: str
    samples: int
    in_bps: float
    """Percentile of the inbound samples (the per-sample greater in ``greater`` mode)."""
    out_bps: float
    """Percentile of the outbound samples (the per-sample greater in ``greater`` mode)."""
    billable_bps: float
    """What the provider compares with the commit: the larger of the billed directions."""


def rank(n: int, percentile: float = 95.0) -> int:
    """1-based rank of the billed sample among ``n`` sorted ascending: ceil(p/100 * n).

    The product is rounded to 9 decimals first so that 0.95 * 20 counts as 19, not
    19.000000000000004 (which would bill the highest sample).
    """
    return max(1, math.ceil(round(percentile / 100 * n, 9))) if n else 0


def percentile(values: Sequence[float], p: float = 95.0) -> float:
    """The billed value of ``values`` by the rank rule; 0.0 for no values."""
    if not values:
        return 0.0
    return sorted(values)[rank(len(values), p) - 1]


def free_slots(slots: int, p: float = 95.0) -> int:
    """How many of a period's ``slots`` samples are not billed (the burst allowance)."""
    return slots - rank(slots, p)


def _ranked(values: np.ndarray, weights: np.ndarray, p: float) -> float:
    """The billed value of ``values``, each counted ``weights`` times, by the rank rule."""
    total = int(weights.sum())
    if not total:
        return 0.0
    order = np.argsort(values, kind="stable")
    at = np.searchsorted(np.cumsum(weights[order]), rank(total, p))
    return float(values[order][at])


def _bill(ins: np.ndarray, outs: np.ndarray, weights: np.ndarray, mode: str, p: float) -> Billed:
    n = int(weights.sum())
    if mode == GREATER:
        v = _ranked(np.maximum(ins, outs), weights, p)
        return Billed(mode, n, v, v, v)
    if mode in (SEPARATE, GREATER_SEPARATE):
        pi, po = _ranked(ins, weights, p), _ranked(outs, weights, p)
        return Billed(mode, n, pi, po, max(pi, po))
    raise ValueError(f"unknown billing mode {mode!r}; expected one of {', '.join(MODES)}")


def _rates(samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray]:
    n = len(samples)
    ins = np.fromiter((s.in_bps for s in samples), dtype=np.float64, count=n)
    outs = np.fromiter((s.out_bps for s in samples), dtype=np.float64, count=n)
    return ins, outs


def bill(samples: Sequence[Sample], mode: str, p: float = 95.0) -> Billed:
    """The billed rates of ``samples`` in ``mode``."""
    ins, outs = _rates(samples)
    return _bill(ins, outs, np.ones(len(samples), dtype=np.int64), mode, p)


def over_commit(samples: Sequence[Sample], mode: str, commit_bps: float) -> int:
    """Samples that use up burst allowance: above the commit in a billed direction.

    In ``greater`` mode a sample counts when the larger of its in/out is above the
    commit; in the separate modes each direction has its own allowance and the
    direction that used more of it counts.
    """
    if mode == GREATER:
        return sum(1 for s in samples if max(s.in_bps, s.out_bps) > commit_bps)
    return max(
        sum(1 for s in samples if s.in_bps > commit_bps),
        sum(1 for s in samples if s.out_bps > commit_bps),
    )


def burst_left(
    samples: Sequence[Sample], mode: str, commit_bps: float, slots: int, p: float = 95.0
) -> int:
    """Samples above the commit still free this period (0 when it is used up)."""
    return max(0, free_slots(slots, p) - over_commit(samples, mode, commit_bps))


def project(
    samples: Sequence[Sample], mode: str, slots: int, recent: int, p: float = 95.0
) -> Billed:
    """The billed rates at the end of a period of ``slots`` samples.

    The rule: the slots not yet sampled repeat the last ``recent`` samples in a
    cycle (a day of samples by default, so the daily pattern carries on), and the
    whole period is billed. With no samples the projection is 0. The repeats are
    counted, not written out: a month of one-second samples is 2.6M slots, and the
    projection runs on every decision round.
    """
    remaining = max(0, slots - len(samples))
    k = min(recent, len(samples)) if recent > 0 else 0
    if not k or not remaining:
        return bill(samples, mode, p)
    cycles, rest = divmod(remaining, k)
    weights = np.ones(len(samples), dtype=np.int64)
    weights[len(samples) - k :] += cycles
    weights[len(samples) - k : len(samples) - k + rest] += 1
    ins, outs = _rates(samples)
    return _bill(ins, outs, weights, mode, p)


def sum_samples(series: Sequence[Sequence[Sample]]) -> list[Sample]:
    """Samples of providers billed together, summed slot by slot (missing counts as 0)."""
    slots: dict[float, list[float]] = {}
    for samples in series:
        for s in samples:
            acc = slots.setdefault(s.start, [0.0, 0.0, 1.0])
            acc[0] += s.in_bps
            acc[1] += s.out_bps
            acc[2] = min(acc[2], s.coverage)
    return [Sample(t, v[0], v[1], v[2]) for t, v in sorted(slots.items())]


def period_bounds(t: float, day: int, timezone: str = "UTC") -> tuple[float, float]:
    """Start and end (seconds since the epoch) of the billing period holding ``t``.

    A period runs from ``day`` of one month at 00:00 local time to the same day of the
    next month; ``day`` is at most 28 so that every month has it.
    """
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(t, zone)
    year, month = local.year, local.month
    if local.day < day:
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    start = datetime(year, month, day, tzinfo=zone)
    ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
    end = datetime(ny, nm, day, tzinfo=zone)
    return start.timestamp(), end.timestamp()


def slots_in(start: float, end: float, sample_s: float) -> int:
    """Sample slots in a period (a 30-day month holds 8640 five-minute samples)."""
    return math.ceil(round((end - start) / sample_s, 9))


def slot_start(t: float, period_start: float, sample_s: float) -> float:
    """Start of the sample slot holding ``t``, slots counted from the period start."""
    return period_start + math.floor((t - period_start) / sample_s) * sample_s


__all__ = [
    "GREATER",
    "GREATER_SEPARATE",
    "MODES",
    "SEPARATE",
    "Billed",
    "Sample",
    "bill",
    "burst_left",
    "free_slots",
    "over_commit",
    "percentile",
    "period_bounds",
    "project",
    "rank",
    "slot_start",
    "slots_in",
    "sum_samples",
]
