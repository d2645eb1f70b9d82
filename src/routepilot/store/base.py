"""The storage interface: what the stages write and the surfaces read.

``Store`` is a protocol with two implementations: ``SqliteStore`` (the
embedded default) and ``MemoryStore`` (a fake for other stages' tests). It is
also the sink flows/ and probe/ write their rollups to, with their own row
types, so no stage converts anything for storage. Calls are synchronous and
short; the daemon goes through ``AsyncStore``, which runs them on one worker
thread so the event loop never waits on the disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Protocol

from routepilot.decide.state import DecisionState, Move
from routepilot.flows.snapshot import ProviderRow, SamplerRate, TrafficRow
from routepilot.probe.snapshot import ProbeRollup
from routepilot.store.metrics import StoreMetrics

__all__ = [
    "ControllerState",
    "JournalEntry",
    "ProbeRollup",
    "ProbePoint",
    "ProviderRow",
    "Query",
    "Store",
    "StoreError",
    "TrafficRow",
    "UtilizationSample",
]


class StoreError(Exception):
    """The database cannot be used: corrupt, locked, from a newer routepilot, unwritable.

    The message names the file and says what to do; the daemon prints it and exits.
    """


@dataclass(frozen=True)
class UtilizationSample:
    """A provider link's rate at ``time`` against its capacity and commit."""

    time: float
    provider: str
    rate_bps: float
    capacity_bps: float
    commit_bps: float = 0.0


@dataclass(frozen=True)
class JournalEntry(Move):
    """One move in the decisions journal: decide/'s record of the move (the field names
    are the API's contract), how it was made, and what was measured after it."""

    dry_run: bool = False
    """Recorded in dry-run mode: nothing was announced."""
    after_time: float | None = None
    """When the new exit was re-measured after the move (None until then)."""
    after_rtt_ms: float | None = None
    after_loss: float | None = None
    id: int | None = None
    """Assigned by the store."""

    @classmethod
    def from_move(cls, move: Move, *, dry_run: bool) -> JournalEntry:
        fields = {f.name: getattr(move, f.name) for f in dataclass_fields(Move)}
        return cls(**fields, dry_run=dry_run)


@dataclass(frozen=True)
class ControllerState:
    """What a restarted controller needs back: operator actions, what it announced,
    and decide/'s memory (hold-downs, counters, change budget)."""

    pins: Mapping[str, str] = field(default_factory=dict)
    exclusions: frozenset[str] = frozenset()
    paused: bool = False
    dry_run: bool | None = None
    """None: as configured; True/False: switched at run time through the API."""
    injections: Mapping[str, str] = field(default_factory=dict)
    """Routes announced when the state was saved (prefix -> provider)."""
    decision: DecisionState = field(default_factory=DecisionState)
    saved_at: float | None = None


@dataclass(frozen=True)
class ProbePoint:
    """Probe results summed over a time bucket: one provider's path to one prefix, or
    (``prefix`` None) to all its prefixes together, for the dashboard and reports."""

    time: float
    """Start of the bucket (a multiple of the step)."""
    provider: str
    prefix: str | None
    rtt_ms: float
    """Mean of the per-minute median RTTs, weighted by answers (NaN: no answer)."""
    rtt_p90_ms: float
    """Highest per-minute 90th percentile in the bucket."""
    loss: float
    """Lost / sent over the bucket (NaN: nothing sent)."""
    sent: int


@dataclass(frozen=True)
class Query:
    """Filters for the time-series and journal queries; None means "any".

    ``since`` is inclusive, ``until`` exclusive. For the journal, ``provider``
    matches the provider moved from or to. Results come oldest first, except the
    journal, newest first; ``limit`` keeps that many from the front.
    """

    since: float | None = None
    until: float | None = None
    prefix: str | None = None
    provider: str | None = None
    reason: str | None = None
    window_s: float | None = None
    """Provider traffic only: 60 or 300 (the 5-minute billing samples)."""
    limit: int | None = None


class Store(Protocol):
    """Time series, the decisions journal and the controller's state."""

    metrics: StoreMetrics
    """Its counters: a collector the wiring registers in the daemon's metrics registry."""

    # Sinks (flows/, probe/, the daemon).
    def write_traffic(self, rows: Sequence[TrafficRow]) -> None: ...
    def write_provider_traffic(self, rows: Sequence[ProviderRow]) -> None: ...
    def write_probe_rollups(self, rows: Sequence[ProbeRollup]) -> None: ...
    def write_utilization(self, rows: Sequence[UtilizationSample]) -> None: ...
    def append_decisions(self, entries: Sequence[JournalEntry]) -> list[int]: ...
    def record_outcome(self, entry_id: int, time: float, rtt_ms: float | None,
                       loss: float | None) -> None: ...  # fmt: skip
    def save_state(self, state: ControllerState) -> None: ...
    def load_state(self) -> ControllerState: ...
    def write_sampler_rates(self, rows: Sequence[SamplerRate]) -> None: ...
    def sampler_rates(self) -> list[SamplerRate]: ...

    # Queries (API, reports, CLI).
    def traffic(self, q: Query) -> list[TrafficRow]: ...
    def provider_traffic(self, q: Query) -> list[ProviderRow]: ...
    def probe_rollups(self, q: Query) -> list[ProbeRollup]: ...
    def utilization(self, q: Query) -> list[UtilizationSample]: ...
    def decisions(self, q: Query) -> list[JournalEntry]: ...
    def decision_counts(self, q: Query) -> dict[str, int]: ...
    def probe_series(self, q: Query, step_s: float) -> list[ProbePoint]: ...

    # Housekeeping.
    def prune(self, now: float) -> dict[str, int]: ...
    def close(self) -> None: ...
