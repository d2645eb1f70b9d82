"""Where rollups go: a small protocol the daemon wires to store/, and an in-memory fake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from routepilot.flows.snapshot import ProviderRow, SamplerRate, TrafficRow

__all__ = ["MemorySink", "ProviderRow", "RollupSink", "SamplerRate", "TrafficRow"]


class SamplerRateSink(Protocol):
    """Where flows/ keeps sampling rates across restarts (store/ implements it).

    Writing only: whoever owns the pipeline reads the kept rates back once, when the
    store is open, and hands them to :meth:`FlowPipeline.restore_rates`.
    """

    def write_sampler_rates(self, rows: Sequence[SamplerRate]) -> None: ...


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
