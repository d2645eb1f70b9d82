"""The REST API's response and request bodies: the JSON field names are a contract.

Each model mirrors what ``ControllerView`` documents (api/view.py). FastAPI
validates every answer against them, so a view that drifts from the contract
fails loudly in tests instead of silently changing what clients see, and the
OpenAPI spec (docs/openapi.json) says exactly what each field is.
"""

from __future__ import annotations

from typing import Any, Literal

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


class BilledRates(_Out):
    in_bps: float | None
    """Billed inbound rate (the per-sample greater in ``greater`` mode); null when unknown."""
    out_bps: float | None
    billable_bps: float | None
    """What the provider bills: the larger of the two, or the ``greater`` series'."""


class Billing(_Out):
    """Where one provider or billing group stands in the open billing period."""

    name: str
    mode: str
    """``separate``, ``greater`` or ``greater_separate``."""
    period_start: float
    period_end: float
    slots: int
    """Samples in the whole period."""
    samples: int
    """Samples so far."""
    commit_bps: float
    current: BilledRates
    """The percentile of the samples so far."""
    projected: BilledRates
    """The percentile projected to the end of the period."""
    projected_without: BilledRates | None = None
    """The same projection with routepilot's moves taken out (BGP alone)."""
    free_slots: int
    """Samples of the period that are free by the percentile rule."""
    over_commit: int
    """Samples so far above the commit."""
    burst_left: int
    """Samples above the commit still free this period."""


class BillingSample(_Out):
    start: float | None
    """Sample start (seconds since the epoch); null for flows' samples."""
    in_bps: float | None
    out_bps: float | None
    billable_bps: float | None
    """What this sample counts for in the provider's mode."""


class BillingEntry(_Out):
    """One provider or billing group in its open period."""

    name: str
    kind: Literal["provider", "group"]
    mode: str
    """``separate``, ``greater`` or ``greater_separate``."""
    period_start: float | None
    """Null for flows' samples (no billing day known)."""
    period_end: float | None
    slots: int
    """Samples in the whole period."""
    samples: int
    """Samples so far."""
    current_bps: float | None
    """95th percentile of the samples so far; null before the first."""
    projected_bps: float | None
    """95th percentile projected to the end of the period (recent samples repeating)."""
    projected_without_bps: float | None
    """The same projection with routepilot's moves taken out: BGP alone."""
    commit_bps: float
    level_bps: float | None
    """Rate above which commit control relieves it now (null: no commit control)."""
    burst_free: int
    """Samples of the period that are free (above the percentile): the burst allowance."""
    over_commit: int
    """Samples so far above the commit."""
    burst_left: int
    """Free samples still unused."""
    price_per_mbps: float
    cost: float | None
    """Cost above the commit at the current 95th percentile."""
    cost_projected: float | None
    cost_projected_without: float | None
    saving_projected: float | None
    """Projected cost without routepilot less with it."""
    series: list[BillingSample] | None = None
    """Every sample of the period (with ``?series=true``)."""


class BillingView(_Out):
    source: Literal["snmp", "flows"]
    """Interface counters by SNMP, or flows' samples (no SNMP configured)."""
    time: float
    sample_s: float
    percentile: float
    providers: list[BillingEntry]
    groups: list[BillingEntry]


class TelemetryProvider(_Out):
    in_bps: float | None
    """Inbound rate of the provider's links by SNMP; null when unknown or stale."""
    out_bps: float | None
    known: bool
    """Every link of the provider is measured right now."""
    billing: Billing | None


class TelemetryLink(_Out):
    provider: str
    agent: str
    interface: str
    """As configured: the ifName, or the ifIndex as text."""
    if_index: int | None
    in_bps: float | None
    out_bps: float | None
    updated: float | None
    """End of the last good interval; null before the first."""
    counter_bits: int | None
    """64 or 32; null until known."""
    status: str
    """``ok`` or the latest problem, for an operator."""


class TelemetryStatus(_Out):
    link_source: Literal["snmp", "flows"]
    """Where link load comes from: interface counters by SNMP, or sampled flows."""
    time: float
    providers: dict[str, TelemetryProvider]
    groups: dict[str, Billing]
    """Billing groups (providers billed together)."""
    links: list[TelemetryLink]
    errors: dict[str, int]
    """Failed SNMP requests and dropped counter intervals since start, per reason."""
    warnings: list[str]


class RoutesStatus(_Out):
    state: Literal["waiting", "arriving", "silent", "synced", "down"]
    """The routers' tables: ``arriving`` while one is still coming (nothing is decided
    or alerted on it), ``synced`` once every router that is up has sent its whole table,
    ``waiting`` before any session came up, ``down`` when every session went down,
    ``silent`` when every router that is up has sent nothing at all since its session
    came up, for ``rib.sync_first_path_wait`` or more (nothing is decided, and no
    provider is called out for missing routes while any router is silent)."""
    routers: dict[str, Literal["down", "arriving", "silent", "synced"]]
    """Per edge router, the same words for its own table."""
    paths: int
    """Paths held (every router, every add-path path)."""
    prefixes: int
    """Prefixes ever learned."""


class HaPeer(_Out):
    node: str
    role: Literal["active", "standby"]
    """The role it last reported in its heartbeat."""
    epoch: int
    api_url: str
    """Where its API is reached ('' when not configured)."""
    seen_at: float
    """Its last heartbeat, by the database server's clock."""
    age_s: float | None = None
    """How long ago that was when this instance last asked the database."""


class HaTakeover(_Out):
    time: float
    reason: str
    saved: int
    """Improvements in force in the shared state at takeover."""
    announced: int
    """Of those, announced at once (recent enough, and the provider still has a route)."""
    state_age_s: float | None = None
    """How old the shared state was (null: none saved)."""
    ms: float
    """From taking the lease to the announcements handed to the BGP speaker."""
    billing_samples_adopted: int | None = None
    """Billing samples of the open period taken in from the former active's (null: no
    SNMP telemetry)."""


class HaStatus(_Out):
    enabled: bool
    """Whether this instance takes part in leadership (``ha.enabled``)."""
    node: str
    role: Literal["active", "standby"]
    """``active``: holds the lease and announces; ``standby``: learns and measures only."""
    epoch: int
    """The lease's epoch: held by this instance when active, last seen when standby."""
    active: str | None = None
    """The node holding the lease now, as last seen (null: none, or expired)."""
    lease_until: float | None = None
    """When the lease expires unless renewed (the database server's clock)."""
    since: float | None = None
    """When this instance took its current role."""
    transitions: int = 0
    """Changes of role since start."""
    peers: list[HaPeer] = []
    """The other instances on the database, from their heartbeats."""
    last_takeover: HaTakeover | None = None
    """This instance's last takeover (null: never took the lease)."""


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
    telemetry: TelemetryStatus | None = None
    """Link counters by SNMP and billing; ``link_source: flows`` when SNMP is off."""
    routes: RoutesStatus | None = None
    """Whether the routers' tables are whole yet."""
    ha: HaStatus | None = None
    """Leadership (``GET /api/v1/ha``): this instance's role in an active/standby pair."""


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
    exchange: str | None = None
    """The exchange (IX) LAN this provider is a peer on; null: not an exchange peer."""


class ExchangePeer(_Out):
    name: str
    session_up: bool
    """The peer's routes reach the controller."""
    healthy: bool
    """The peer answers its probes."""
    rate_bps: float
    """Current traffic leaving by this peer."""
    capacity_bps: float
    """The peer's own capacity (its port or agreed rate)."""
    prefixes_routed: int


class Exchange(_Out):
    name: str
    peers: list[ExchangePeer]
    """Every configured peer on this exchange LAN."""
    peers_up: int
    """Peers whose routes reach the controller."""
    peers_healthy: int
    """Peers that answer their probes."""
    rate_bps: float
    """Traffic leaving by all of its peers."""
    capacity_bps: float
    """Sum of its peers' capacities."""
    utilization: float
    """rate_bps / capacity_bps."""
    prefixes_routed: int
    """Busy prefixes that leave by one of its peers now."""


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
    """RTT through from_provider for a move; through default_provider (BGP's choice) for
    a prefix that stays where it is (from_provider = to_provider)."""
    new_rtt_ms: float | None
    """RTT through to_provider."""
    old_loss: float | None
    """Loss on the old side, as old_rtt_ms."""
    new_loss: float | None
    threshold_ms: float | None
    dry_run: bool
    """Recorded in dry-run mode: nothing was announced."""
    incident_asn: int | None = None
    """For reason ``as_incident``: the AS of the open incident the exit avoids (the one the
    path it left crosses); null for other reasons, and in entries journaled before
    routepilot kept it."""
    old_jitter_ms: float | None = None
    """Jitter (RFC 3550 running mean of consecutive RTT differences) on the old side, as
    old_rtt_ms, when the decision was made; null when not measured, and in entries
    journaled before routepilot kept it."""
    new_jitter_ms: float | None = None
    """Jitter through to_provider, as old_jitter_ms."""
    after_time: float | None = None
    """When to_provider was re-measured, ``controller.remeasure_after_s`` after the move;
    null until then (and when it had no samples then, or for an entry that moved nothing)."""
    after_rtt_ms: float | None = None
    """Median RTT through to_provider at after_time: did the move deliver what it expected
    (new_rtt_ms)?"""
    after_loss: float | None = None
    """Probe loss through to_provider at after_time, as after_rtt_ms."""
    summary: str | None = None
    """The decision as a sentence, with units ("moved off isp1: it lost 7.5% of probes …")."""


class PolicyConstraint(_Out):
    """What of the policy (docs/policy.md) constrained a prefix in the last round."""

    rule: str | None = None
    """Name of the governing rule (``rules[N]`` when it has none), or null."""
    action: str | None = None
    """Its action: ignore, allow, deny, static or vip."""
    text: str | None = None
    """The rule, or the allowlist's verdict, in words."""
    allowlist: str | None = None
    """The inject allowlist entry that holds the prefix (null: none, or no allowlist)."""
    inside_allowlist: bool | None = None
    """Inside the inject allowlist (null: there is no allowlist)."""
    note: str | None = None
    """Why a rule did not apply as written (a static rule not held, a denied default …)."""


class SynHint(_Out):
    """Unanswered TCP SYNs to the prefix through one provider, seen in unsampled flows:
    its paths are probed first until ``until``. A hint never moves the prefix itself."""

    provider: str
    """The provider the unanswered attempts left through."""
    unanswered: int
    """Attempts (flow records with SYN, neither ACK nor RST) never answered, over the
    counting windows when the hint was last raised."""
    attempts: int
    """Every attempt (flow records with SYN) over the same windows."""
    sources: int
    """Distinct sources among the unanswered (counted up to ``syn_hints.min_sources``)."""
    since: float
    until: float


class PrefixDetail(PrefixSummary):
    measurements: list[PrefixMeasurement]
    """One row per provider."""
    explanation: Decision | None
    """The last decision about this prefix, with the numbers behind it."""
    policy: PolicyConstraint | None = None
    """The rule and/or allowlist entry that constrained the prefix; null when none did."""
    syn_hints: list[SynHint] = []
    """Providers through which the prefix's TCP SYNs went unanswered (flows), hinting it
    for probing first; empty when none does."""
    confirming: bool = False
    """A target's RTT spread was wide (``probe.retry_spread_ms``): its paths are being
    re-measured with longer trains, and no loss, jitter or latency move or revert is made
    until they are back (outage, capacity and commit moves never wait)."""


class Router(_Out):
    name: str
    address: str | None
    asn: int | None
    session: str
    """``established`` or ``down``."""
    route_source: str
    """How routepilot learns this router's paths: ``addpath``, ``bmp`` or ``both``."""
    synced: bool
    """Its whole table has arrived since the session came up."""
    paths: int
    """Paths learned from it (routepilot's own reflected routes included)."""
    providers: dict[str, int]
    """Paths per provider it reaches."""
    routes_announced: int
    """Routes routepilot holds announced to it (0 in dry-run or with the session down)."""
    bmp_providers: dict[str, int] | None = None
    """With ``route_source: both``: paths per provider from its BMP stream, to compare with
    ``providers`` (from add-path); null for other route sources."""
    bmp_agrees: bool | None = None
    """With ``route_source: both``: BMP gives the same paths per provider as add-path."""


class RoutePath(_Out):
    router: str
    """The router that sent this path."""
    path_id: int
    """Its add-path identifier (0 without add-path)."""
    provider: str | None
    """The provider its next hop belongs to (null: not a provider's)."""
    own: bool
    """routepilot's own injected route, reflected back."""
    next_hop: str
    as_path: list[int]
    origin: int
    """0 IGP, 1 EGP, 2 incomplete."""
    med: int | None
    local_pref: int | None
    communities: list[str]
    best: bool
    """The path BGP's best-path selection picks."""


class InjectedRouteOut(_Out):
    provider: str | None
    next_hop: str
    local_pref: int
    communities: list[str]


class RouteLookup(_Out):
    query: str
    """The prefix or address asked for."""
    prefix: str
    """The longest learned prefix that covers it."""
    bgp_choice: str | None
    """The provider BGP picks without routepilot."""
    paths: list[RoutePath]
    injected: InjectedRouteOut | None
    """What routepilot announces for this prefix (null: nothing; BGP decides)."""
    dry_run: bool
    """Recommendation mode: ``injected`` is what would be announced."""


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


class MaintenanceRequest(_In):
    provider: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """The provider under maintenance."""
    duration_s: float | None = Field(None, gt=0, le=366 * 86400)
    """How long from now (give this or ``until``)."""
    until: float | None = Field(None, gt=0, le=1e11)
    """When it ends, in seconds since the epoch (give this or ``duration_s``)."""
    drain: StrictBool = False
    """Also move the traffic whose BGP default is this provider onto the others."""
    reason: str = Field("", max_length=200)
    """Free text kept with the window (ticket, provider's notice …)."""


class MaintenanceWindow(_Out):
    id: int | None
    """The window's number (windows started through the API or CLI); null for a planned one."""
    name: str | None
    """A planned window's name in the configuration."""
    provider: str
    start: float
    end: float
    drain: bool
    reason: str
    state: Literal["active", "scheduled", "ended"]
    """active: in force now (a draining window from ``maintenance.drain_lead_s`` before)."""
    source: Literal["api", "config"]
    cron: str | None
    """A repeating planned window's schedule (this is its current or next occurrence)."""


class ControlEvent(_Out):
    id: int | None
    time: float
    kind: str
    """maintenance_start, maintenance_end, config_applied, config_refused."""
    detail: str


class IncidentCause(_Out):
    kind: str
    """``as`` (degraded on every provider whose path crosses the AS, healthy on those that
    avoid it), ``provider`` (degraded on that provider only, across prefixes) or ``prefix``
    (one prefix, fewer than ``diagnose.min_prefixes`` share a cause)."""
    asn: int | None
    """The AS of an ``as`` incident."""
    provider: str | None
    """The provider of a ``provider`` incident."""
    prefix: str | None
    """The prefix of a ``prefix`` incident."""


class IncidentHop(_Out):
    ttl: int
    address: str | None
    """Who answered at this TTL (None: nobody)."""
    asn: int | None
    """The AS of the address by the learned routes' longest match (None: not routed)."""
    rtt_ms: float | None
    loss: float
    """Share of this hop's probes without an answer."""


class IncidentEvidence(_Out):
    prefix: str
    provider: str
    loss: float | None
    """Loss ratio over the measurement window."""
    rtt_ms: float | None
    """Median RTT over the window."""
    as_path: list[int]
    """The ASes the path crosses (BGP's AS path, completed by traceroute hops)."""
    hops: list[IncidentHop]
    """The path's newest traceroute (empty before one ran)."""


class PathTrace(_Out):
    """One traceroute of a prefix through one provider, as diagnose/ ran and kept it."""

    prefix: str
    provider: str
    target: str
    """The address traced (one of the prefix's probe targets)."""
    time: float
    reached: bool
    """The target itself answered."""
    asns: list[int]
    """The ASes the hops belong to, in order, each once."""
    hops: list[IncidentHop]


class Incident(_Out):
    id: int
    cause: IncidentCause
    opened: float
    closed: float | None
    """None while open."""
    updated: float
    """When the cause last explained a degraded prefix."""
    prefixes: list[str]
    """Every prefix the cause explained while the incident was open."""
    evidence: list[IncidentEvidence]
    """The degraded paths of the latest round that saw the cause."""


class ReloadResult(_Out):
    applied: bool
    changed: list[str]
    """The keys that changed, dotted (``policy.latency_threshold_ms``)."""
    source: str
    """Where the configuration came from: api, file, sighup."""
    time: float


ConfigBody = dict[str, Any]
"""The effective configuration, secrets replaced by ``"***"``."""
