"""The typed values probe/ hands out: measurements per (prefix, provider) for decide/,
and per-minute rollups of each path for store/.

Columnar like the traffic snapshot. Unknown values are NaN (floats) or 0
(counts); a prefix/provider pair never probed has ``samples == 0``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

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
    confirming: frozenset[str] = frozenset()
    """Prefixes under retry on a wide RTT spread whose longer trains are not back yet:
    decide/ makes no loss or latency move on them this round (an outage move never waits)."""

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


@dataclass(frozen=True)
class ProbeRollup:
    """One path over one minute (or ``probe.rollup_s``)."""

    minute: int
    """Start of the rollup, seconds since the epoch (a multiple of its length)."""
    prefix: str
    provider: str
    kind: str
    sent: int
    answered: int
    rtt_min_ms: float
    rtt_median_ms: float
    rtt_p90_ms: float
    rtt_max_ms: float
    jitter_ms: float
    """RFC 3550 jitter at the end of the minute (NaN before two answers)."""
    loss: float
    """Lost / sent in this minute (NaN when nothing was sent)."""

    def as_dict(self) -> dict:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }
