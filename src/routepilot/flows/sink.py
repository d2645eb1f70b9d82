"""Where rollups go: a small protocol the daemon wires to store/, and an in-memory fake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


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


class SamplerRateStore(Protocol):
    """Where flows/ keeps sampling rates across restarts (store/ implements it)."""

    def write_sampler_rates(self, rows: Sequence[SamplerRate]) -> None: ...

    def sampler_rates(self) -> list[SamplerRate]: ...


class RollupSink(Protocol):
    """What flows/ writes closed buckets to (store/ implements it)."""

    def write_traffic(self, rows: Sequence[TrafficRow]) -> None: ...

    def write_provider_traffic(self, rows: Sequence[ProviderRow]) -> None: ...


@dataclass
class MemorySink:
    """Keeps every row; for tests and for `flows listen` without a store."""

    traffic: list[TrafficRow] = field(default_factory=list)
    providers: list[ProviderRow] = field(default_factory=list)

    def write_traffic(self, rows: Sequence[TrafficRow]) -> None:
        self.traffic.extend(rows)

    def write_provider_traffic(self, rows: Sequence[ProviderRow]) -> None:
        self.providers.extend(rows)


@dataclass
class MemoryRates:
    """Sampler rates in memory (tests, and `flows listen` without a store)."""

    rows: dict[tuple[str, int, int, int], SamplerRate] = field(default_factory=dict)

    def write_sampler_rates(self, rows: Sequence[SamplerRate]) -> None:
        for r in rows:
            self.rows[(r.exporter, r.version, r.domain, r.sampler)] = r

    def sampler_rates(self) -> list[SamplerRate]:
        return list(self.rows.values())
