"""95th-percentile billing: the estimate decide/ budgets commits against.

Transit is billed on the 95th percentile of 5-minute average rates over the
billing period: the top 5% of samples are free. Mid-period, the samples so
far are the best estimate; with few samples the estimate is their maximum,
because the free 5% of a handful of samples is less than one sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_SAMPLES_FOR_PERCENTILE = 20


def p95(samples: np.ndarray) -> float:
    """95th-percentile estimate (bits/s) from the 5-minute samples so far; 0 if none."""
    if samples.size == 0:
        return 0.0
    if samples.size < MIN_SAMPLES_FOR_PERCENTILE:
        return float(samples.max())
    # Billing discards the top 5% and bills the highest remaining sample.
    ordered = np.sort(samples)
    keep = int(np.ceil(0.95 * ordered.size))
    return float(ordered[keep - 1])


def free_level(commit_bps: float, samples: np.ndarray) -> float:
    """Rate below which more traffic costs nothing this period: the commit, or the
    percentile already reached if higher (those Mbps are billed anyway)."""
    return max(commit_bps, p95(samples))


MONTH_SLOTS = 8640
"""Five-minute samples in a 30-day month: the period assumed when only flows' samples
are known (no SNMP telemetry, which knows the billing day)."""


@dataclass(frozen=True)
class BillingInput:
    """Where one provider stands in its billing period, as decide/ needs it.

    From the telemetry ledger (SNMP counters, the provider's own billing mode) when it
    is configured, else from flows' 5-minute samples with a 30-day period."""

    samples: tuple[float, ...]
    """Billable rate of each sample so far (bits/s), oldest first: the larger of in and
    out per sample, or the billed direction's, as the provider's mode counts them."""
    slots: int = MONTH_SLOTS
    """Sample slots in the whole period."""
    percentile: float = 95.0


def free_slots(slots: int, percentile: float = 95.0) -> int:
    """Samples of a period of ``slots`` that are not billed: its burst allowance."""
    if slots <= 0:
        return 0
    billed = max(1, math.ceil(round(percentile / 100 * slots, 9)))
    return slots - billed


def allowance(b: BillingInput, commit_bps: float) -> tuple[int, int]:
    """(free samples of the period, of which still unused) against ``commit_bps``."""
    free = free_slots(b.slots, b.percentile)
    used = sum(1 for s in b.samples if s > commit_bps)
    return free, max(0, free - used)


def relieve_level(
    commit_bps: float, free: int, left: int, start_pct: float, margin_pct: float
) -> float:
    """Rate above which a provider is relieved: ``start_pct`` of the commit with the
    allowance whole, down by ``margin_pct`` points as it goes (linearly in the share of
    free samples used); inf without a commit."""
    if commit_bps <= 0:
        return math.inf
    used = 1.0 if free <= 0 else 1.0 - left / free
    return commit_bps * (start_pct - margin_pct * used) / 100


def projected(samples: Sequence[float], slots: int, recent: int, percentile: float) -> float:
    """95th percentile at the end of the period if the last ``recent`` samples repeat
    until then (0 with no samples)."""
    if not samples:
        return 0.0
    done = list(samples)
    pattern = done[-recent:] if recent > 0 else []
    remaining = max(0, slots - len(done))
    filled = [pattern[i % len(pattern)] for i in range(remaining)] if pattern else []
    values = sorted(done + filled)
    k = max(1, math.ceil(round(percentile / 100 * len(values), 9)))
    return values[k - 1]
