"""What decide/ hands out besides a result: its memory between rounds and the record
of a move. Small shared types: the store persists them, the API shows them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from routepilot.decide.reasons import Reason


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
    """One row of a result, as a record: the desired exit, why, and the numbers behind it.

    The one definition of a decision record: the store's journal entry extends it,
    the API serves its fields."""

    time: float
    prefix: str
    from_provider: str | None
    to_provider: str | None
    default_provider: str | None
    reason: str
    traffic_bps: float
    old_rtt_ms: float | None = None
    new_rtt_ms: float | None = None
    old_loss: float | None = None
    new_loss: float | None = None
    threshold_ms: float | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)
