"""The change limits: outage rate cap, change-rate budget, cap on active improvements.

Applied last, to the moves the rules want. Moves are served in the order of
``BUDGET_RANK`` (outage, operator and policy, capacity, loss, revert, latency,
cost), except that among the improvements (loss, revert, latency, cost) the moves
of VIP prefixes come first; within a rank, the highest improvement weight first
(gain x traffic, decide/rules.py ``score``), then the busiest prefix. What does not
fit is deferred to a later round (reason ``deferred``) and the prefix stays where
it is.
"""

from __future__ import annotations

import numpy as np

from routepilot.decide.reasons import BUDGET_RANK, Reason

WINDOW_S = 60.0

_RANK = np.array([BUDGET_RANK[r] for r in Reason], dtype=np.int64)
_SAFETY = BUDGET_RANK[Reason.CAPACITY]
"""Ranks up to this one (outage, operator, policy, capacity) are served before any VIP
improvement: they keep traffic off dead, forbidden or full paths."""


def recent(log: tuple[tuple[float, int], ...], now: float) -> tuple[tuple[float, int], ...]:
    """The entries of a (time, count) log that are still inside the one-minute window."""
    return tuple((t, c) for t, c in log if now - t < WINDOW_S)


def used(log: tuple[tuple[float, int], ...]) -> int:
    return sum(c for _, c in log)


def apply_limits(
    *,
    desired: np.ndarray,
    reason: np.ndarray,
    current: np.ndarray,
    default: np.ndarray,
    fallback: np.ndarray,
    traffic: np.ndarray,
    outage_budget: int,
    change_budget: int,
    max_improvements: int,
    vip: np.ndarray | None = None,
    score: np.ndarray | None = None,
) -> tuple[int, int]:
    """Defers, in place, the moves that exceed a limit. Returns (outage, normal) changes kept.

    A deferred row goes to ``fallback``: its current exit, except for an injection
    whose provider lost its route, which is withdrawn whatever the budgets say
    (reason ``outage``): keeping it would point traffic at a provider with no route.
    """
    change = desired != current
    is_outage = change & (reason == Reason.OUTAGE)
    # Outage moves: their own budget, busiest first.
    rows = np.flatnonzero(is_outage)
    if rows.size > outage_budget:
        order = rows[np.argsort(-traffic[rows], kind="stable")]
        _defer(desired, reason, current, fallback, order[max(outage_budget, 0) :])
    kept_outage = int(min(rows.size, max(outage_budget, 0)))

    rows = np.flatnonzero(change & ~is_outage)
    if rows.size == 0:
        return kept_outage, 0
    rank = _RANK[reason[rows]]
    weight = np.zeros(rows.size) if score is None else score[rows]
    first = np.zeros(rows.size, dtype=bool) if vip is None else vip[rows]
    tier = np.where(rank <= _SAFETY, rank, _SAFETY + 1)
    order = rows[np.lexsort((-traffic[rows], -weight, rank, ~first, tier))]
    # +1: adds an injection; -1: removes one; 0: moves one.
    delta = (desired[order] != default[order]).astype(np.int64) - (
        current[order] != default[order]
    ).astype(np.int64)
    # Injections in force once the kept outage moves apply.
    outage_now = (desired != current) & (reason == Reason.OUTAGE)
    active_now = int(np.where(outage_now, desired != default, current != default).sum())
    keep = np.zeros(order.size, dtype=bool)
    budget = max(change_budget, 0)
    # Room for new injections, counting every removal this round as done.
    room = max_improvements - active_now + int((delta < 0).sum())
    adds = np.flatnonzero(delta > 0)
    allowed_adds = np.zeros(order.size, dtype=bool)
    allowed_adds[adds[: max(room, 0)]] = True
    candidate = (delta <= 0) | allowed_adds
    keep_idx = np.flatnonzero(candidate)[:budget]
    keep[keep_idx] = True
    # Removals that did not fit the budget leave less room: drop the last adds.
    removed = int((keep & (delta < 0)).sum())
    room = max_improvements - (active_now - removed)
    kept_adds = np.flatnonzero(keep & (delta > 0))
    if kept_adds.size > max(room, 0):
        keep[kept_adds[max(room, 0) :]] = False
    _defer(desired, reason, current, fallback, order[~keep])
    return kept_outage, int(keep.sum())


def _defer(
    desired: np.ndarray,
    reason: np.ndarray,
    current: np.ndarray,
    fallback: np.ndarray,
    rows: np.ndarray,
) -> None:
    desired[rows] = fallback[rows]
    # A withdrawal forced anyway is an outage (no route) or the policy's (a rule, the
    # allowlist); what stays where it is waits.
    forced = np.where(reason[rows] == Reason.POLICY, Reason.POLICY, Reason.OUTAGE)
    reason[rows] = np.where(fallback[rows] != current[rows], forced, Reason.DEFERRED)
