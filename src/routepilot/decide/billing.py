"""95th-percentile billing: the estimate decide/ budgets commits against.

Transit is billed on the 95th percentile of 5-minute average rates over the
billing period: the top 5% of samples are free. Mid-period, the samples so
far are the best estimate; with few samples the estimate is their maximum,
because the free 5% of a handful of samples is less than one sample.
"""

from __future__ import annotations

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
