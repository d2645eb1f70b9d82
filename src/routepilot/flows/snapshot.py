"""The typed values flows/ hands out: traffic per (prefix, provider) for decide/, and
the closed buckets (rows) for store/.

Columnar on purpose: a busy edge has 100k+ prefixes, and decide/ works on whole
columns (numpy), not on one Python object per prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TrafficSnapshot:
    """Smoothed traffic rates at ``time`` (seconds since the epoch).

    ``bps[i, k]`` is the estimated rate (bits/s, scaled for sampling) of traffic
    to ``prefixes[i]`` leaving through ``providers[k]``; ``pps`` likewise in
    packets/s. Rows are ordered busiest first.
    """

    time: float
    window_s: float
    prefixes: tuple[str, ...]
    providers: tuple[str, ...]
    bps: np.ndarray
    pps: np.ndarray
    provider_bps: dict[str, float] = field(default_factory=dict)
    """Current total rate per provider (bits/s)."""
    provider_5m_samples: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """5-minute average rates (bits/s) over the billing period so far, oldest first."""
    unattributed_bps: float = 0.0
    """Traffic no provider could be attributed to."""
    prefix_unattributed_bps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Per prefix (row of ``bps``), the rate no provider could be attributed to."""
    provider_1m_samples: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """1-minute average rates (bits/s) over the last hour, oldest first."""
    whole: bool = True
    """Has every flow been reported since the collector started? False for the first
    exporter active timeout after a (re)start, when some flows are in and others not,
    and for the stored minute that stands in meanwhile (run/controller.py)."""

    @staticmethod
    def empty(time: float = 0.0, providers: tuple[str, ...] = ()) -> TrafficSnapshot:
        shape = (0, len(providers))
        return TrafficSnapshot(
            time=time,
            window_s=0.0,
            prefixes=(),
            providers=providers,
            bps=np.zeros(shape),
            pps=np.zeros(shape),
        )

    def total_bps(self) -> np.ndarray:
        """Rate per prefix over all providers."""
        return self.bps.sum(axis=1)


@dataclass(frozen=True)
class TrafficRow:
    """Traffic of one (prefix, provider) over one closed bucket, scaled for sampling."""

    time: float
    """Start of the bucket (seconds since the epoch, aligned to ``window_s``)."""
    window_s: float
    prefix: str
    provider: str | None
    """None: no provider could be attributed."""
    bytes: float
    packets: float


@dataclass(frozen=True)
class ProviderRow:
    """Total traffic of one provider over one closed 1-minute or 5-minute bucket."""

    time: float
    window_s: float
    provider: str | None
    bytes: float
    packets: float
    bps: float
    """Average rate over the bucket; the 5-minute ones feed 95th-percentile billing."""


@dataclass(frozen=True)
class SamplerRate:
    """The last sampling rate an exporter announced for one sampler (options data).

    Kept in the store so that a restarted collector scales records at once instead
    of counting them unsampled until the exporter resends its sampler table.
    """

    exporter: str
    version: int
    """9 (NetFlow v9) or 10 (IPFIX)."""
    domain: int
    """Source id (v9) or observation domain (IPFIX)."""
    sampler: int
    """Sampler or selector id; 0 for the rate of the whole domain."""
    rate: int
    time: float
    """When it was learned."""
