"""The values decide() takes and returns: input bundle, carried state, result.

Everything here is plain data. The per-prefix results are columns (numpy), so a
round over 100k prefixes builds no Python object per prefix; ``moves()`` and
``explain()`` turn the few rows a reader cares about into records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from routepilot.decide.billing import BillingInput
from routepilot.decide.policy import EMPTY, Evaluation, RoundPolicy
from routepilot.decide.reasons import Reason
from routepilot.decide.state import Active, DecisionState, Demand, Move
from routepilot.decide.windows import MaintenanceNow
from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.rib.snapshot import RoutesSnapshot

__all__ = [
    "Active",
    "DecisionInput",
    "DecisionResult",
    "DecisionState",
    "Demand",
    "Move",
    "ProviderLike",
]


class ProviderLike(Protocol):
    """What decide() needs of a provider; ``ProviderConfig`` is one."""

    @property
    def name(self) -> str: ...
    @property
    def capacity_mbps(self) -> float: ...
    @property
    def commit_mbps(self) -> float: ...
    @property
    def cost_per_mbps(self) -> float: ...


@dataclass(frozen=True)
class DecisionInput:
    """Everything one decision round looks at, taken at ``now``.

    ``injections`` is what inject/ reports as announced (prefix -> provider);
    ``None`` means "what the previous round decided" (dry-run, tests).
    ``link_bps`` is the measured rate per provider link, including traffic
    routepilot does not steer; by default the traffic snapshot's per-provider
    totals. ``billing_samples`` are the 5-minute rates of the billing period
    so far; by default the traffic snapshot's. ``maintenance`` names the providers in a
    maintenance window now (decide/maintenance.py).
    """

    now: float
    traffic: TrafficSnapshot
    routes: RoutesSnapshot
    measurements: MeasurementSnapshot
    injections: Mapping[str, str] | None = None
    pins: Mapping[str, str] = field(default_factory=dict)
    exclusions: frozenset[str] = frozenset()
    link_bps: Mapping[str, float] | None = None
    link_measured: frozenset[str] = frozenset()
    """Providers whose ``link_bps`` is measured on the link (SNMP) rather than summed from
    flows: it holds a prefix's traffic as soon as the prefix moves onto the link, where
    flows show it only an export later (decide/capacity.py's ``project``)."""
    billing_samples: Mapping[str, Sequence[float]] | None = None
    policy: RoundPolicy = EMPTY
    """Policy rules, target exclusions and the inject allowlist (decide/policy.py)."""

    maintenance: MaintenanceNow = field(default_factory=MaintenanceNow)

    billing: Mapping[str, BillingInput] | None = None
    """Each provider's billing period (samples so far, slots) for commit control; from
    the telemetry ledger when SNMP is configured. A provider missing here is judged on
    ``billing_samples`` over a 30-day period."""

    as_incidents: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """prefix -> {provider: ASN}: that provider's path for the prefix crosses the AS of an
    open AS incident (diagnose/). Such a provider is no move's target while an eligible
    one avoids the AS, and a prefix leaves it for one that avoids it and is not measured
    worse (reason ``as_incident``)."""


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


@dataclass(frozen=True)
class DecisionResult:
    """The desired exit of every prefix, with its reason and numbers, and the next state.

    Columns are indexed like ``prefixes``; provider columns hold indexes into
    ``providers`` (-1: none). ``exit == default`` means "BGP's choice, nothing
    injected"; ``injections`` lists the rest (prefix -> provider).
    """

    time: float
    prefixes: tuple[str, ...]
    providers: tuple[str, ...]
    exit: np.ndarray
    current: np.ndarray
    default: np.ndarray
    reason: np.ndarray
    traffic_bps: np.ndarray
    old_rtt_ms: np.ndarray
    new_rtt_ms: np.ndarray
    old_loss: np.ndarray
    new_loss: np.ndarray
    threshold_ms: np.ndarray
    injections: dict[str, str]
    state: DecisionState
    projected_bps: dict[str, float] = field(default_factory=dict)
    """Projected rate per provider link once the decisions apply."""
    allocation: dict[str, object] = field(default_factory=dict)
    """Which allocator ran and what each scored (capacity and cost rounds)."""
    round_policy: RoundPolicy = EMPTY
    evaluation: Evaluation | None = None
    """What the policy said about each row (None: no rule and no allowlist)."""
    notes: dict[str, str] = field(default_factory=dict)
    """prefix -> why a policy rule did not apply as written (a static rule not held …)."""

    def constraint(self, prefix: str) -> dict[str, object] | None:
        """The rule and/or allowlist entry that constrained ``prefix`` this round, with
        the note of why a rule was not applied as written (None: nothing did)."""
        out: dict[str, object] = {}
        if self.evaluation is not None and prefix in self.prefixes:
            out = self.round_policy.constraint(self.evaluation, self.prefixes.index(prefix)) or {}
        if prefix in self.notes:
            out["note"] = self.notes[prefix]
        return out or None

    bgp_bps: dict[str, float] = field(default_factory=dict)
    """Projected rate per provider link with every prefix on BGP's choice: the load
    without routepilot, for the billing projection."""
    commit: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per provider with a commit: ``commit_bps``, ``level_bps``, ``free`` and ``left``
    samples of the burst allowance, as commit control saw them this round."""
    commit_allocation: dict[str, object] = field(default_factory=dict)
    """What the commit allocation scored, and which providers were above their level."""
    incident_asn: dict[str, int] = field(default_factory=dict)
    """prefix -> the AS of the open incident its ``as_incident`` exit avoids (the live
    explanation names it; the journal keeps it beside the move, run/journal.py)."""

    def changed(self) -> np.ndarray:
        """Row indexes whose exit changes this round."""
        return np.flatnonzero(self.exit != self.current)

    def moves(self) -> list[Move]:
        """The changes of this round, busiest first."""
        rows = self.changed()
        rows = rows[np.argsort(-self.traffic_bps[rows], kind="stable")]
        return [self._record(int(i)) for i in rows]

    def explain(self, prefix: str) -> Move:
        """Why ``prefix`` leaves where it does (KeyError if not in this round)."""
        try:
            i = self.prefixes.index(prefix)
        except ValueError:
            raise KeyError(f"prefix {prefix!r} was not in this decision round") from None
        return self._record(i)

    def reason_counts(self) -> dict[str, int]:
        counts = np.bincount(self.reason.astype(np.int64), minlength=len(Reason))
        return {Reason(i).label: int(c) for i, c in enumerate(counts) if c}

    def _name(self, k: int) -> str | None:
        return self.providers[k] if k >= 0 else None

    def _record(self, i: int) -> Move:
        return Move(
            prefix=self.prefixes[i],
            from_provider=self._name(int(self.current[i])),
            to_provider=self._name(int(self.exit[i])),
            default_provider=self._name(int(self.default[i])),
            reason=Reason(int(self.reason[i])).label,
            traffic_bps=float(self.traffic_bps[i]),
            old_rtt_ms=_num(self.old_rtt_ms[i]),
            new_rtt_ms=_num(self.new_rtt_ms[i]),
            old_loss=_num(self.old_loss[i]),
            new_loss=_num(self.new_loss[i]),
            threshold_ms=_num(self.threshold_ms[i]),
            time=self.time,
        )
