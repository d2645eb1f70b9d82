"""Where rollups go: a small protocol the daemon wires to store/, and an in-memory fake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from routepilot.flows.snapshot import ProviderRow, TrafficRow

__all__ = ["MemorySink", "ProviderRow", "RollupSink", "TrafficRow"]


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
