"""The REST API's response and request bodies: the JSON field names are a contract.

Each model mirrors what ``ControllerView`` documents (api/view.py). FastAPI
validates every answer against them, so a view that drifts from the contract
fails loudly in tests instead of silently changing what clients see, and the
OpenAPI spec (docs/openapi.json) says exactly what each field is.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool


class _Out(BaseModel):
    """Response bodies ignore extra keys a view may add: only documented fields go out."""

    model_config = ConfigDict(extra="ignore", use_attribute_docstrings=True)


class _In(BaseModel):
    """Request bodies reject unknown keys, like the configuration does."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ErrorBody(_Out):
    """Every 4xx/5xx answer."""

    error: str
    """What went wrong, in one sentence."""


class Cycle(_Out):
    count: int
    """Decision cycles run since start."""
    last: float | None
    """When the last cycle ran (seconds since the epoch), null before the first."""
    duration_ms: float | None
    """How long the last cycle took."""


class Counts(_Out):
    prefixes: int
    """Busy prefixes tracked."""
    active_improvements: int
    """Prefixes currently routed away from BGP's default."""
    moves_last_hour: int
    """Journal entries in the last hour."""


class Status(_Out):
    version: str
    started: float
    """When the controller started (seconds since the epoch)."""
    now: float
    """The controller's clock; relative times in queries count back from it."""
    paused: bool
    """Control paused: no changes are made, announced routes stay."""
    dry_run: bool
    """Recommendation mode: decisions are recorded, nothing is announced."""
    cycle: Cycle
    sessions: dict[str, str]
    """BGP session state per edge router (``established`` when up)."""
    degraded: list[str]
    """Why the controller is degraded; empty when all is well."""
    counts: Counts


class Provider(_Out):
    name: str
    asn: int
    session_up: bool
    """The provider's routes reach the controller."""
    healthy: bool
    """The provider answers its probes."""
    rtt_ms: float | None
    """Median RTT over the probed prefixes; null when nothing was measured."""
    loss: float | None = Field(ge=0, le=1)
    """Probe loss, 0..1; null when nothing was measured."""
    rate_bps: float
    """Current traffic leaving by this provider."""
    capacity_bps: float
    utilization: float
    """rate_bps / capacity_bps."""
    commit_bps: float
    """Committed rate (0: none)."""
    p95_bps: float
    """95th percentile of the rate so far in the billing period."""
    cost_per_mbps: float
    prefixes_routed: int
    """Busy prefixes that currently leave by this provider."""


class PrefixSummary(_Out):
    prefix: str
    traffic_bps: float
    exit: str | None
    """The provider traffic leaves by now."""
    default: str | None
    """BGP's own choice."""
    reason: str
    """Why the exit is what it is (decide/reasons.py: default, latency, loss, outage …)."""
    since: float | None
    """Time of the last move, null when never moved."""
    pinned: str | None
    """Provider an operator pinned the prefix to, or null."""
    excluded: bool
    """An operator left this prefix to BGP."""


class PrefixMeasurement(_Out):
    provider: str
    has_route: bool
    as_path_len: int | None
    rtt_ms: float | None
    rtt_p90_ms: float | None
    loss: float | None
    loss_low: float | None
    """Lower bound of the loss confidence interval."""
    loss_high: float | None
    """Upper bound of the loss confidence interval."""
    jitter_ms: float | None
    samples: int
    consecutive_losses: int
    traffic_bps: float = 0.0
    """This prefix's traffic leaving through this provider now, from the flow exports."""


class Decision(_Out):
    time: float
    prefix: str
    from_provider: str | None
    to_provider: str | None
    default_provider: str | None
    reason: str
    traffic_bps: float | None
    old_rtt_ms: float | None
    new_rtt_ms: float | None
    old_loss: float | None
    new_loss: float | None
    threshold_ms: float | None
    dry_run: bool
    """Recorded in dry-run mode: nothing was announced."""


class PrefixDetail(PrefixSummary):
    measurements: list[PrefixMeasurement]
    """One row per provider."""
    explanation: Decision | None
    """The last decision about this prefix, with the numbers behind it."""


class MeasurementPoint(_Out):
    time: float
    prefix: str | None
    """Null: the provider's aggregate over its prefixes."""
    provider: str
    rtt_ms: float | None
    rtt_p90_ms: float | None
    loss: float | None
    samples: int


class UtilizationPoint(_Out):
    time: float
    provider: str
    rate_bps: float
    capacity_bps: float
    commit_bps: float


class PinRequest(_In):
    provider: str = Field(min_length=1, max_length=64)
    """Name of the provider to route the prefix through."""


class DryRunRequest(_In):
    enabled: StrictBool
    """true: recommendation mode (withdraws every injected route); false: control."""


ConfigBody = dict[str, Any]
"""The effective configuration, secrets replaced by ``"***"``."""
