"""The typed value probe/ hands to decide/: measurements per (prefix, provider).

Columnar like the traffic snapshot. Unknown values are NaN (floats) or 0
(counts); a prefix/provider pair never probed has ``samples == 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class MeasurementSnapshot:
    """Per (prefix, provider) path quality over the recent window, at ``time``."""

    time: float
    prefixes: tuple[str, ...]
    providers: tuple[str, ...]
    rtt_median_ms: np.ndarray
    rtt_p90_ms: np.ndarray
    rtt_min_ms: np.ndarray
    jitter_ms: np.ndarray
    loss: np.ndarray
    """Loss ratio 0..1 over the window."""
    loss_low: np.ndarray
    """Lower bound of the Wilson 95% interval of the loss ratio."""
    loss_high: np.ndarray
    """Upper bound of the Wilson 95% interval of the loss ratio."""
    samples: np.ndarray
    """Probes sent in the window (int)."""
    consecutive_losses: np.ndarray
    """Probes lost in a row, on every target of the prefix, most recent first (int)."""
    last_answer: np.ndarray
    """Time of the last answer (seconds since the epoch), NaN if never."""
    unprobeable: frozenset[str] = frozenset()
    """Prefixes where no target answers through any provider: left to BGP."""
    provider_healthy: dict[str, bool] = field(default_factory=dict)
    """Per provider: False when most of its measured paths are down (an outage of the provider)."""
    outage_losses: int = 3
    """Consecutive losses at which a path counts as down (``ProbeConfig.outage_losses``)."""
    targets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per prefix: the live addresses measured, for explaining decisions."""

    def down(self) -> np.ndarray:
        """Per (prefix, provider): the path is down (lost ``outage_losses`` probes in a row)."""
        return self.consecutive_losses >= self.outage_losses

    @staticmethod
    def empty(time: float = 0.0, providers: tuple[str, ...] = ()) -> MeasurementSnapshot:
        shape = (0, len(providers))
        nan = np.full(shape, np.nan)
        zero = np.zeros(shape, dtype=np.int64)
        return MeasurementSnapshot(
            time, (), providers, nan, nan, nan, nan, nan, nan, nan, zero, zero, nan
        )
