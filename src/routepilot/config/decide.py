"""Configuration of the decision policy (decide/)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from routepilot.config.base import StrictModel
from routepilot.config.policy import MoveReason, RuleConfig

Precedence = Literal["performance", "commit"]


class CommitGroupConfig(StrictModel):
    """Providers whose commit control is balanced together (e.g. two links of one carrier)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """Group name, shown in the billing view."""
    providers: list[str] = Field(min_length=2)
    """Member providers."""
    balance: Literal["equal", "commit"] = "commit"
    """How the group's level is shared: ``equal`` parts, or in proportion to the members'
    commits (``commit``). Each member is relieved above its share."""
    commit_mbps: float = Field(0.0, ge=0)
    """The group's commit; 0: the sum of the members' commits."""


class CommitControlConfig(StrictModel):
    """Keeping every provider's 95th percentile under its commit, in every mode.

    A provider is relieved when its projected rate passes its *level*:
    ``relieve_start_pct`` of its commit while its burst allowance is whole, lowered by
    up to ``relieve_margin_pct`` points as the allowance is used up. Relieved prefixes
    go only to providers with room under their own level, never to a lossier path, and
    at most ``latency_tolerance_ms`` slower; the least harmful (smallest latency cost)
    first. Where no provider has room the sample bursts above the commit, using one of
    the period's free samples (the top 5 %)."""

    enabled: bool = True
    """Relieve providers above their commit (providers with ``commit_mbps: 0`` never are)."""
    relieve_start_pct: float = Field(99.0, gt=0, le=100)
    """Share of the commit at which relieving starts while the burst allowance is whole."""
    relieve_margin_pct: float = Field(9.0, ge=0, lt=100)
    """Points by which the start is lowered as the allowance is used up (99 -> 90 with
    the defaults, linearly with the share of free samples used)."""
    latency_tolerance_ms: float = Field(10.0, ge=0)
    """A relieved prefix may get at most this much slower than on the provider it leaves."""
    hysteresis_pct: float = Field(5.0, ge=0, lt=50)
    """A commit detour returns to BGP's choice only if that provider then stays this many
    points of its commit under its level."""
    precedence: Precedence = "performance"
    """``performance``: latency and jitter improvements in force are never moved for a
    commit. ``commit``: they give way to the commit. Loss and outage moves never give
    way; they may go on to another provider as clean and within the latency tolerance.
    See docs/decide.md for the whole order."""
    precedence_by_provider: dict[str, Precedence] = Field(default_factory=dict)
    """Per provider (the one over its commit), overriding ``precedence``."""
    order: list[str] = Field(default_factory=list)
    """Providers in the order relieved traffic should go to them (first preferred);
    providers not listed come after, in configuration order."""
    last_resort: str | None = None
    """Provider that takes relieved traffic only once the relieved provider's burst
    allowance is used up."""
    excluded: list[str] = Field(default_factory=list)
    """Providers left out of commit moves: never relieved, never given relieved traffic."""
    groups: list[CommitGroupConfig] = Field(default_factory=list)
    """Providers balanced together against a shared level."""

    def names(self) -> set[str]:
        """Every provider name the section refers to (checked against the providers)."""
        out = set(self.precedence_by_provider) | set(self.order) | set(self.excluded)
        out |= {p for g in self.groups for p in g.providers}
        if self.last_resort:
            out.add(self.last_resort)
        return out


class PolicyConfig(StrictModel):
    """Thresholds and limits of the decision engine; all enforced in decide/."""

    mode: Literal["performance", "cost"] = "performance"
    """Optimise for performance, or for cost while performance stays within tolerance."""
    loss_threshold_pct: float = Field(2.0, ge=0, le=100)
    """Minimum loss improvement, in percentage points, to move a prefix."""
    loss_confidence_pct: float = Field(95.0, ge=50, lt=100)
    """One-sided confidence that a path really loses more than another before it counts."""
    loss_test: Literal["current", "difference"] = "current"
    """"current": the current path's Wilson interval lies at least the threshold above
    the alternative's observed loss (a brownout counts as soon as the current path's
    own probes prove it, however few probes the alternative had). "difference":
    Newcombe's interval for the difference of the two losses lies above zero (stricter:
    it also needs many probes on the alternative; 5% against 0% takes about 65 each)."""
    latency_threshold_ms: float = Field(10.0, ge=0)
    """Minimum absolute RTT improvement to move a prefix."""
    latency_threshold_pct: float = Field(10.0, ge=0)
    """Minimum relative RTT improvement to move a prefix."""
    target_utilization_pct: float = Field(90.0, gt=0, le=100)
    """Never project a link above this share of its capacity."""
    hold_down_s: float = Field(300.0, ge=0)
    """Minimum time between two moves of the same prefix (not applied to outages)."""
    max_improvements: int = Field(1000, ge=0)
    """Cap on prefixes routed away from BGP's default at once (outage moves excepted)."""
    max_changes_per_minute: int = Field(100, ge=0)
    """Cap on route changes per minute (outage moves excepted), busiest prefixes first."""
    ipv4_granularity: int = Field(24, ge=8, le=32)
    """Most specific IPv4 prefix length routepilot announces."""
    ipv6_granularity: int = Field(48, ge=16, le=128)
    """Most specific IPv6 prefix length routepilot announces."""
    outage_consecutive_losses: int = Field(3, ge=1)
    """Probes lost in a row, on every target of a prefix, that make its exit an outage."""
    max_outage_changes_per_minute: int = Field(10000, ge=0)
    """Separate cap on outage moves per minute: they skip hold-down and the normal cap."""
    min_samples: int = Field(5, ge=1)
    """Probes a (prefix, provider) pair needs in the window before loss or RTT count."""
    loss_rounds: int = Field(1, ge=1)
    """Consecutive decision rounds a loss improvement must hold before a move."""
    latency_rounds: int = Field(2, ge=1)
    """Consecutive decision rounds a latency (or jitter) improvement must hold before a
    move. The prober's window median is itself a filter (half the window must be slow), so
    two 10 s rounds on a 30 s window move a +40 ms path within 30 s."""
    jitter_min_samples: int = Field(30, ge=2)
    """Answered probes a path needs in the window before its jitter counts for a rule's
    ``jitter_threshold_ms``. The prober's jitter is RFC 3550's running mean of the
    difference between consecutive RTTs (gain 1/16), which starts at zero: after 30
    answers it reads at least 85% of the path's level, so a little-measured path never
    looks smoother than it is."""
    revert_rounds: int = Field(6, ge=1)
    """Consecutive rounds an improvement must fail to hold before reverting to BGP's default."""
    failure_memory_s: float = Field(600.0, ge=0)
    """After an outage or loss move away from a provider, that provider is no target of
    the prefix's loss, latency or cost moves for this long: a path whose trouble comes
    and goes is not rejoined at every lull."""
    hysteresis_pct: float = Field(50.0, ge=0, le=100)
    """An active improvement still holds while it beats the default by this share of the
    threshold that created it (50: half the loss points, half the RTT gain, half a rule's
    jitter threshold)."""
    capacity_hysteresis_pct: float = Field(5.0, ge=0, le=50)
    """A capacity detour returns only if its link then stays this many points under target."""
    capacity_demand_memory_s: float = Field(300.0, ge=0)
    """For capacity, a prefix that moved within this long, or is routed away from BGP's
    default, counts at the highest total rate measured for it in this long. After a
    move its traffic shows on its new link only once the exporter reports the new flow
    (its active timeout) and the smoothing catches up, so its current rate reads low;
    and a detour comes home only if its full recent demand fits. Keep it above the
    exporters' active timeout plus a few ``flows.smoothing_s``."""
    cost_tolerance_ms: float = Field(5.0, ge=0)
    """Cost mode: a cheaper provider may be at most this much slower than the best one."""
    cost_tolerance_loss_pct: float = Field(0.5, ge=0, le=100)
    """Cost mode: a cheaper provider may lose at most this many more points than the best."""
    allocator: Literal["auto", "greedy", "lp"] = "auto"
    """Global allocation (capacity, cost): greedy, LP (HiGHS), or both and keep the better."""
    lp_max_prefixes: int = Field(4000, ge=1)
    """The LP considers at most this many of the busiest movable prefixes."""
    rules: list[RuleConfig] = Field(default_factory=list)
    """Policy rules (ignore, allow, deny, static, vip) by prefix and/or origin AS; each
    prefix follows one: a prefix rule beats an origin-AS rule, the longest prefix wins,
    then list order (docs/policy.md)."""
    target_exclusions: dict[str, list[MoveReason]] = Field(default_factory=dict)
    """provider -> reasons for which no move may land on it (e.g. ``isp3: [capacity,
    cost]``: never a capacity or cost destination)."""

    commit: CommitControlConfig = Field(default_factory=CommitControlConfig)
    """Commit control (95th percentile under the commit), in every mode."""

    @model_validator(mode="after")
    def _consistent(self) -> PolicyConfig:
        if self.capacity_hysteresis_pct >= self.target_utilization_pct:
            raise ValueError("capacity_hysteresis_pct must be below target_utilization_pct")
        return self
