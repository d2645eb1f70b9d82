"""Statistics more than one stage needs, as plain functions on arrays (no stage's types).

The prober summarises its windows with them and decide/ tests significance with the
same numbers: one implementation, so that the two never disagree."""

from __future__ import annotations

import numpy as np

Z95 = 1.959963984540054


def wilson_ratio(p: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of loss ratios ``p`` over ``n`` probes; NaN where n is 0.

    The one implementation (the prober's summaries, decide/'s tests of significance and
    its scenarios all use it). With nothing lost the interval starts at exactly 0, and
    with everything lost it ends at exactly 1: in floating point the formula leaves a few
    1e-18 there, and "this path's interval lies above that path's loss" must not hold
    between two paths that both lost nothing."""
    p = np.asarray(p, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.where(n > 0, n, np.nan)
        z2 = z * z
        denom = 1.0 + z2 / n
        center = (p + z2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
        low = np.where(p <= 0, 0.0, np.clip(center - half, 0.0, 1.0))
        high = np.where(p >= 1, 1.0, np.clip(center + half, 0.0, 1.0))
    nan = np.isnan(n) | np.isnan(p)
    return np.where(nan, np.nan, low), np.where(nan, np.nan, high)
