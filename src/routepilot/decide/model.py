"""The values decide() takes and returns: input bundle, carried state, result.

Everything here is plain data. The per-prefix results are columns (numpy), so a
round over 100k prefixes builds no Python object per prefix; ``moves()`` and
``explain()`` turn the few rows a reader cares about into records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from routepilot.decide.reasons import Reason
from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.rib.snapshot import RoutesSnapshot


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
    so far; by default the traffic snapshot's.
    """

    now: float
    traffic: TrafficSnapshot
    routes: RoutesSnapshot
    measurements: MeasurementSnapshot
    injections: Mapping[str, str] | None = None
    pins: Mapping[str, str] = field(default_factory=dict)
    exclusions: frozenset[str] = frozenset()
    link_bps: Mapping[str, float] | None = None
    billing_samples: Mapping[str, Sequence[float]] | None = None


class Active(NamedTuple):
    """An improvement in force: the prefix is routed to ``provider`` for ``reason``.

    A named tuple, not a dataclass: a round may build tens of thousands of them.
    """

    provider: str
    reason: Reason
    since: float
    misses: int = 0
    """Consecutive rounds the improvement did not hold (reverts at revert_rounds)."""


class Demand(NamedTuple):
    """A prefix's recent demand, remembered for capacity while it moves or is detoured."""

    moved: float
    """When the prefix last moved."""
    peaks: tuple[tuple[float, float], ...] = ()
    """(time, bits/s) of the rates measured for it, oldest first, each higher than
    every later one: a sliding maximum whose first entry still inside
    ``capacity_demand_memory_s`` is the highest rate of that span."""
    left: tuple[tuple[str, float], ...] = ()
    """(provider, bits/s): the providers it left within ``capacity_demand_memory_s``,
    each with the most of what is still measured there that stays there (traffic
    that does not follow its route, such as routepilot's own probes); the rest is
    the tail of the move."""


@dataclass(frozen=True)
class DecisionState:
    """What decide() remembers between rounds; saved by store/ for restarts."""

    active: Mapping[str, Active] = field(default_factory=dict)
    """Prefixes routed away from BGP's default, and why."""
    last_move: Mapping[str, float] = field(default_factory=dict)
    """Time of each prefix's last move, kept while its hold-down runs."""
    pending: Mapping[str, int] = field(default_factory=dict)
    """Consecutive rounds an improvement has held for a prefix not yet moved."""
    recent_changes: tuple[tuple[float, int], ...] = ()
    """(time, count) of normal changes in the last minute, for the rate cap."""
    recent_outage_changes: tuple[tuple[float, int], ...] = ()
    """(time, count) of outage moves in the last minute."""
    avoid: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """prefix -> {provider: time it was left for an outage or loss}, kept while
    ``failure_memory_s`` runs."""
    demand: Mapping[str, Demand] = field(default_factory=dict)
    """Recent demand of the prefixes that moved within ``capacity_demand_memory_s``
    or are routed away from BGP's default (see decide/capacity.py)."""
    link_peaks: Mapping[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    """provider -> (time, bits/s) of its projected load at the end of recent rounds, as
    a sliding maximum like ``Demand.peaks``: a detour comes home only under it."""


@dataclass(frozen=True)
class Move:
    """One row of a result, as a record: the desired exit, why, and the numbers behind it."""

    prefix: str
    from_provider: str | None
    to_provider: str | None
    default_provider: str | None
    reason: str
    traffic_bps: float
    old_rtt_ms: float | None
    new_rtt_ms: float | None
    old_loss: float | None
    new_loss: float | None
    threshold_ms: float | None
    time: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


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
