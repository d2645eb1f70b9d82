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
from typing import Any, Protocol

from routepilot.decide.state import DecisionState, Move
from routepilot.decide.windows import Window
from routepilot.flows.snapshot import ProviderRow, SamplerRate, TrafficRow
from routepilot.probe.snapshot import ProbeRollup
from routepilot.store.metrics import StoreMetrics

__all__ = [
    "ControlEvent",
    "AuditQuery",
    "AuditRecord",
    "ControllerState",
    "FencedWrite",
    "JournalEntry",
    "ProbeRollup",
    "ProbePoint",
    "ProviderRow",
    "Query",
    "Store",
    "StoreError",
    "TokenRecord",
    "TrafficRow",
    "UserRecord",
    "UtilizationSample",
    "Window",
]


class StoreError(Exception):
    """The database cannot be used: corrupt, locked, from a newer routepilot, unwritable.

    The message names the file and says what to do; the daemon prints it and exits.
    """


class FencedWrite(StoreError):
    """A write refused because this instance does not hold the HA lease (a standby), or
    holds a stale epoch of it (refused by the database: another instance took over)."""


class Fence(Protocol):
    """What a store asks leadership (``ha/``) before each write transaction."""

    def write_epoch(self) -> int | None:
        """The epoch held now, or None when this instance is not the active."""
        ...

    def holder(self) -> str:
        """The active's name as last seen (for the refusal's message)."""
        ...


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
    incident_asn: int | None = None
    """The AS of the open incident an ``as_incident`` move avoids (None for other reasons)."""
    old_jitter_ms: float | None = None
    """Jitter (RFC 3550) of the old side's path when the move was made: from_provider's,
    or BGP's default's for a prefix that stays (as ``old_rtt_ms``); None: not measured."""
    new_jitter_ms: float | None = None
    """Jitter of to_provider's path when the move was made; None: not measured."""
    id: int | None = None
    """Assigned by the store."""

    @classmethod
    def from_move(
        cls,
        move: Move,
        *,
        dry_run: bool,
        incident_asn: int | None = None,
        old_jitter_ms: float | None = None,
        new_jitter_ms: float | None = None,
    ) -> JournalEntry:
        fields = {f.name: getattr(move, f.name) for f in dataclass_fields(Move)}
        return cls(
            **fields,
            dry_run=dry_run,
            incident_asn=incident_asn,
            old_jitter_ms=old_jitter_ms,
            new_jitter_ms=new_jitter_ms,
        )


JOURNAL_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in dataclass_fields(JournalEntry) if f.name != "id"
)
"""The journal's columns, in the order of the entry's fields (``id`` is the store's):
the one list the SQLite and PostgreSQL stores and ``store migrate`` read and write."""


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
class ControlEvent:
    """One entry of the control journal: what an operator or the daemon changed beside
    the routes (a maintenance window started or ended, a configuration applied or
    refused). ``detail`` is one line of text for the operator."""

    time: float
    kind: str
    """``maintenance_start``, ``maintenance_end``, ``config_applied``, ``config_refused``."""
    detail: str
    id: int | None = None
    """Assigned by the store."""


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


@dataclass(frozen=True)
class UserRecord:
    """A person (or a program) allowed into the API and the dashboard, with one role."""

    name: str
    role: str
    """viewer, operator or admin (api/auth.py gives them their meaning)."""
    created: float
    password_hash: str | None = None
    """argon2 hash of the dashboard password; None: this user cannot log in to the dashboard."""


@dataclass(frozen=True)
class TokenRecord:
    """One API token of a user: ``id`` is its public half (how it is looked up), ``hash``
    the argon2 hash of the whole token; the token itself is never stored."""

    id: str
    user: str
    hash: str
    created: float


@dataclass(frozen=True)
class AuditRecord:
    """One write made through the API: who, when, from where, what, and how it ended.
    Appended only: nothing in the API changes or deletes it."""

    time: float
    user: str | None
    """The user, or ``api.write_token`` / ``api.read_token``; None when nobody was identified."""
    address: str | None
    action: str
    """The endpoint's name (``pause``, ``pin``, ``add_user`` …)."""
    method: str
    path: str
    request: str
    """The request body as JSON text, secrets replaced by ``***``."""
    change: str
    """The answer as JSON text (the resulting state, or the error), secrets replaced."""
    status: int
    outcome: str
    """``ok`` (2xx), ``refused`` (4xx) or ``failed`` (5xx)."""
    id: int | None = None
    """Assigned by the store."""


@dataclass(frozen=True)
class AuditQuery:
    """Filters for the audit log (newest first); None means "any"."""

    since: float | None = None
    until: float | None = None
    user: str | None = None
    action: str | None = None
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
    def write_billing_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Replaces the stored open billing period (telemetry/'s ``BillingLedger.to_rows()``:
        plain dicts of numbers and strings) with ``rows``, in one transaction."""
        ...

    def billing_rows(self) -> list[dict[str, Any]]:
        """The rows last written by :meth:`write_billing_rows`, in their order ([] if none)."""
        ...

    # Maintenance windows started on demand, and the control journal.
    def add_window(self, window: Window) -> int:
        """Stores a window (its ``id`` ignored) and returns the id the store gave it."""
        ...

    def windows(self, ending_after: float | None = None) -> list[Window]:
        """Stored windows, by start then id; with ``ending_after``, only those that end
        after that time (in force or to come)."""
        ...

    def save_incident(self, incident: Mapping[str, Any]) -> None:
        """Inserts or replaces an incident of diagnose/ (``Incident.as_dict()``: ``id``,
        ``cause``, ``opened``, ``closed``, ``updated``, ``prefixes``, ``evidence``)."""
        ...

    def incidents(self, since: float | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Stored incidents, newest first: every one still open, and those closed at or
        after ``since`` (all when None), at most ``limit``."""
        ...

    def save_trace(self, trace: Mapping[str, Any], keep: int) -> None:
        """Stores a traceroute of diagnose/ (``PathTrace.as_dict()``: ``prefix``,
        ``provider``, ``target``, ``time``, ``reached``, ``asns``, ``hops``), then deletes
        the oldest of its (prefix, provider) beyond the newest ``keep``."""
        ...

    def traces(
        self, prefix: str | None = None, provider: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored traceroutes (of ``prefix``, through ``provider``, when given), newest
        first (by time, then the order stored)."""
        ...

    def end_window(self, window_id: int, at: float) -> Window | None:
        """Ends a window at ``at`` (if it would end later); the window as it is now, or
        None for an unknown id."""
        ...

    def append_event(self, event: ControlEvent) -> int: ...
    def events(self, q: Query) -> list[ControlEvent]:
        """The control journal, newest first (``since``, ``until``, ``limit``)."""
        ...

    # Queries (API, reports, CLI).
    def traffic(self, q: Query) -> list[TrafficRow]: ...
    def provider_traffic(self, q: Query) -> list[ProviderRow]: ...
    def probe_rollups(self, q: Query) -> list[ProbeRollup]: ...
    def utilization(self, q: Query) -> list[UtilizationSample]: ...
    def decisions(self, q: Query) -> list[JournalEntry]: ...
    def decision_counts(self, q: Query) -> dict[str, int]: ...
    def probe_series(self, q: Query, step_s: float) -> list[ProbePoint]: ...

    # Users, their API tokens, and the audit log (api/).
    def save_user(self, user: UserRecord) -> None:
        """Adds the user, or replaces the one of that name (role, password hash)."""
        ...

    def remove_user(self, name: str) -> bool:
        """Removes the user and every token of theirs; False when there was no such user."""
        ...

    def users(self) -> list[UserRecord]:
        """Every user, by name."""
        ...

    def add_token(self, token: TokenRecord) -> None: ...
    def remove_tokens(self, user: str) -> int:
        """Revokes every token of ``user``; returns how many."""
        ...

    def token(self, token_id: str) -> TokenRecord | None: ...
    def append_audit(self, record: AuditRecord) -> int:
        """Appends one record; returns its id."""
        ...

    def audit(self, q: AuditQuery) -> list[AuditRecord]:
        """The audit log, newest first, filtered."""
        ...

    # Housekeeping.
    def prune(self, now: float) -> dict[str, int]: ...
    def close(self) -> None: ...
