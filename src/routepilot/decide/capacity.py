"""Capacity and cost: link loads projected from each prefix's demand, a global allocation,
and detours that come home only when they fit.

A link's load is projected from the prefixes it will carry, each at its own
demand, plus the link's traffic outside the tracked prefixes. It is never the
link's measured rate with the round's moves added and removed: that rate lags
the exits already in force (an exporter reports a flow once per active timeout,
and flows/ smooths), so right after detours the link still looks full (and more
prefixes would leave), and right after detours came home it still looks empty
(and more would come home, all together, over the limit).

A prefix's demand is its measured total rate, whichever provider it was seen
on. For a prefix that moved recently, or is detoured, it is the highest total
measured for it within ``capacity_demand_memory_s`` (``Demand`` in the state):
its current rate reads low until the exporters and the smoothing catch up with
the move, and a detour comes home only if its full recent demand fits under the
target less ``capacity_hysteresis_pct``, together with the others coming home
to the same link in the same round.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from routepilot.decide import allocate as alloc
from routepilot.decide.billing import free_level
from routepilot.decide.config import PolicyConfig
from routepilot.decide.context import Round
from routepilot.decide.frame import MBPS, Frame
from routepilot.decide.quality import Quality, penalty, pick
from routepilot.decide.reasons import Reason
from routepilot.decide.state import Demand

# Tie-breakers of the cost allocation, per Mbps: a move costs a little, an
# injection a little more, so that equal prices lead back to BGP's default.
_MOVE_EPS = 1e-6
_INJECTION_EPS = 2e-6
_COST_MODE_PERF_WEIGHT = 1e-4


def _peak(peaks: tuple[tuple[float, float], ...], now: float, span: float) -> float:
    """The highest value of a sliding maximum still inside ``span`` (0 if none)."""
    for t, v in peaks:
        if now - t < span:
            return v
    return 0.0


def _extend(
    peaks: tuple[tuple[float, float], ...], now: float, value: float, span: float
) -> tuple[tuple[float, float], ...]:
    """A sliding maximum with ``value`` added at ``now`` and what left ``span`` dropped."""
    kept = [(t, v) for t, v in peaks if now - t < span]
    while kept and kept[-1][1] <= value:
        kept.pop()
    kept.append((now, value))
    return tuple(kept)


def demand_of(
    f: Frame,
    cur: np.ndarray,
    lost: np.ndarray,
    memory: Mapping[str, Demand],
    row: Mapping[str, int],
    now: float,
    span: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Splits each prefix's measured traffic into what stays where it is measured and what
    follows its route; returns (demand, pinned, steer).

    Traffic measured on a provider other than the prefix's exit stays there (pinned):
    it does not follow the route (routepilot's own probes, another router's traffic).
    On a provider the prefix left within ``span``, only up to what its new exit
    carried before the move (the same kind of traffic): the rest is the move's tail,
    traffic already gone that the exporters and the smoothing still report. On the
    provider of an improvement the routers lost (``lost``, -1 for none: the exit
    routepilot had in force, when the routers no longer route the prefix there) none
    stays: the prefix left it without a move, so what is measured there is its own
    tail, and no record says what else was there. ``steer`` is the rest of the
    prefix's traffic, and ``demand`` the higher of it and its peak.
    """
    n = len(cur)
    pinned = f.bps.copy()
    has = np.flatnonzero(cur >= 0)
    pinned[has, cur[has]] = 0.0
    # A session drop or a restart takes routepilot's routes with it and the prefix falls
    # back to BGP's default with no decision. Read as traffic that stays where it was
    # measured, its own tail on the exit it had would be recorded as what stays on the
    # default when the improvement is restored (``remember``), and its traffic on the
    # default would then, a round later, count as staying there: its route-following rate
    # would read low, and a link measured by SNMP would count it twice.
    gone = np.flatnonzero((lost >= 0) & (lost != cur))
    pinned[gone, lost[gone]] = 0.0
    col = {name: k for k, name in enumerate(f.providers)}
    recent: list[tuple[int, float]] = []
    for p, d in memory.items():
        i = row.get(p)
        if i is None:
            continue
        recent.append((i, _peak(d.peaks, now, span)))
        if now - d.moved >= span:
            continue
        for prov, stays in d.left:
            k = col.get(prov)
            if k is not None and k != cur[i]:
                pinned[i, k] = min(pinned[i, k], stays)
    steer = np.maximum(f.tot - pinned.sum(axis=1), 0.0) if n else np.zeros(0)
    demand = steer.copy()
    for i, peak in recent:
        demand[i] = max(demand[i], peak)
    return demand, pinned, steer


def project(r: Round, exits: np.ndarray) -> np.ndarray:
    """Link loads with every prefix's demand on its exit in ``exits``, plus the traffic
    that stays where it is measured: pinned, and the traffic outside the tracked
    prefixes (a link's measured rate less what flows/ attributes to prefixes)."""
    f = r.f
    k = len(f.providers)
    on = exits >= 0
    # The traffic outside the tracked prefixes is what a link's rate holds beyond what
    # flows attribute to them. On a link measured by SNMP a prefix that has just moved
    # onto it is in the rate at once, while flows show it there only an export later
    # (and still on the link it left): it is explained there by its traffic that follows
    # its route, or the remainder would count it a second time beside its demand.
    explained = f.bps.copy()
    now_on = np.flatnonzero((r.cur >= 0) & f.link_measured[np.maximum(r.cur, 0)])
    col = r.cur[now_on]
    explained[now_on, col] = np.maximum(explained[now_on, col], r.steer[now_on])
    # Likewise a prefix that has just left a link SNMP measures is out of its rate at
    # once, while flows show it there for an export and the smoothing longer (longer
    # still while rates warm up after a restart): it is explained there only by what of
    # it stays there (pinned). Its tail, counted, would hide as much of the traffic
    # outside the tracked prefixes, the link would read that much emptier than it is,
    # and detours would come home onto it early.
    off = f.link_measured[None, :] & (np.arange(k)[None, :] != r.cur[:, None])
    explained = np.where(off, np.minimum(explained, r.pinned), explained)
    load = np.maximum(f.link_bps - explained.sum(axis=0), 0.0)
    load += r.pinned.sum(axis=0)
    load += np.bincount(exits[on], weights=r.demand[on], minlength=k)
    # A prefix with no exit at all still loads wherever it was measured.
    load += (f.bps[~on] - r.pinned[~on]).sum(axis=0)
    return load


def allocate(r: Round) -> tuple[dict[str, object], np.ndarray]:
    """Keeps links under target (and, in cost mode, traffic on cheap links) by a global
    allocation of the prefixes that may move. Returns what the allocators scored and
    which links were over their target before it."""
    f, policy, desired = r.f, r.policy, r.desired
    load = project(r, desired)
    limit = f.capacity_bps * policy.target_utilization_pct / 100
    overloaded = load > limit
    cost_mode = policy.mode == "cost"
    if not overloaded.any() and not cost_mode:
        return {}, overloaded
    moved_now = desired != r.cur
    # Congestion does not wait for a hold-down: a prefix on an overloaded link may
    # be detoured even if it moved recently (Edge Fabric re-allocates every round).
    on_overloaded = overloaded[np.maximum(desired, 0)]
    movable = (
        (desired >= 0)
        & (r.demand > 0)
        & ~r.pin_ok
        & ~r.excluded
        & ~f.unprobeable
        & (~r.hold | moved_now | on_overloaded)
        & ~(r.decided & ~moved_now)
    )
    if not cost_mode:
        movable &= on_overloaded
    rows = np.flatnonzero(movable)
    if rows.size == 0:
        return {}, overloaded
    nprov = len(f.providers)
    start = desired[rows]
    allowed = r.q.usable[rows].copy()
    allowed &= ~r.barred(Reason.CAPACITY, *((Reason.COST,) if cost_mode else ()))[None, :]
    pen = penalty(f, desired, policy)[rows]
    if cost_mode:
        allowed &= ~r.avoid[rows]
        allowed &= _acceptable(f, r.q, policy)[rows]
        pen = _COST_MODE_PERF_WEIGHT * pen + _INJECTION_EPS * (
            np.arange(nprov)[None, :] != r.default[rows][:, None]
        )
    allowed = r.prefer_avoiding(allowed, rows)
    allowed[np.arange(rows.size), start] = True
    pen = pen + _MOVE_EPS * (np.arange(nprov)[None, :] != start[:, None])
    pen[np.arange(rows.size), start] -= pen[np.arange(rows.size), start]
    t = r.demand[rows] / MBPS
    fixed = load / MBPS - np.bincount(start, weights=t, minlength=nprov)
    commit = np.full(nprov, np.inf)
    price = np.zeros(nprov)
    if cost_mode:
        commit = np.array(
            [free_level(c, b) / MBPS for c, b in zip(f.commit_bps, f.billing, strict=True)]
        )
        price = f.price_per_bps * MBPS
    problem = alloc.Problem(t, start, allowed, pen, fixed, limit / MBPS, commit, price)
    assign, info = alloc.allocate(problem, policy.allocator, policy.lp_max_prefixes)
    changed = assign != start
    moved_rows, new = rows[changed], assign[changed]
    was_over = overloaded[start[changed]]
    desired[moved_rows] = new
    why = np.where(was_over | (not cost_mode), Reason.CAPACITY, Reason.COST)
    # An outage move stays one (and keeps its own budget) whichever exit capacity picks.
    why = np.where(r.reason[moved_rows] == Reason.OUTAGE, Reason.OUTAGE, why)
    r.reason[moved_rows] = why
    back = moved_rows[new == r.cur[moved_rows]]
    r.reason[back] = np.where(r.cur[back] == r.default[back], Reason.DEFAULT, r.reason[back])
    r.decided[moved_rows] = True
    return info, overloaded


def _acceptable(f: Frame, q: Quality, policy: PolicyConfig) -> np.ndarray:
    """Cost mode: providers whose performance is within tolerance of the best one."""
    rtt = np.where(q.usable, f.rtt, np.nan)
    loss = np.where(q.usable, f.loss, np.nan)
    with np.errstate(all="ignore"):
        best_rtt = np.nanmin(np.where(q.usable, rtt, np.inf), axis=1)
        best_loss = np.nanmin(np.where(q.usable, loss, np.inf), axis=1)
    return (
        q.usable
        & (rtt <= best_rtt[:, None] + policy.cost_tolerance_ms)
        & (loss <= best_loss[:, None] + policy.cost_tolerance_loss_pct / 100)
    )


def come_home(
    r: Round, overloaded: np.ndarray, peaks: Mapping[str, tuple[tuple[float, float], ...]]
) -> None:
    """Brings capacity detours home when their full demand fits under the target less the
    hysteresis, all of this round's returns to a link together; never to a link that
    was over its target this round.

    The home link's load is the higher of its projection now and its highest projected
    load of the last ``capacity_demand_memory_s`` (``peaks``): measured rates wobble
    (exporters report in bursts), and a detour that came home in a trough would leave
    again at the next crest."""
    d = r.default
    home = (
        (r.act_reason == Reason.CAPACITY) & (r.cur != d) & (d >= 0) & ~r.decided & ~r.hold
        & pick(r.q.usable, d)
    )  # fmt: skip
    home &= ~overloaded[np.maximum(d, 0)]
    home &= ~r.onto_crossing(d)  # not back onto an open incident's AS
    rows = np.flatnonzero(home)
    if rows.size == 0:
        return
    policy = r.policy
    margin = (policy.target_utilization_pct - policy.capacity_hysteresis_pct) / 100
    load = project(r, r.desired)
    for k, name in enumerate(r.f.providers):
        load[k] = max(load[k], _peak(peaks.get(name, ()), r.now, policy.capacity_demand_memory_s))
    room = r.f.capacity_bps * margin - load
    rows = rows[np.argsort(-r.demand[rows], kind="stable")]
    for j in np.unique(d[rows]):
        left = room[j]
        # Busiest first; one that does not fit leaves room for smaller ones.
        for i in rows[(d[rows] == j) & (r.demand[rows] <= left)].tolist():
            if r.demand[i] <= left:
                left -= r.demand[i]
                r.desired[i] = j
                r.reason[i] = Reason.REVERT
                r.decided[i] = True


def remember(
    r: Round,
    memory: Mapping[str, Demand],
    prefixes: tuple[str, ...],
    row: Mapping[str, int],
    moved: np.ndarray,
    projected: np.ndarray,
) -> dict[str, Demand]:
    """The demand memory for the next round: prefixes that moved within the span, are
    routed away from BGP's default or leave by a link projected at or above its target
    less the hysteresis, each with its sliding maximum extended by this round's
    measured demand (taken before its move takes effect, when it moves now) and, on a
    move, the provider it leaves with what stays there.

    On a link near its limit every prefix thus counts at its recent peak: measured
    rates wobble (an exporter reports each long flow in one burst per active
    timeout), and a link allocated to the troughs would be over its target at
    every crest."""
    span, now, names = r.policy.capacity_demand_memory_s, r.now, r.f.providers
    away = (r.desired != r.default) & (r.desired >= 0)
    policy = r.policy
    line = r.f.capacity_bps * (policy.target_utilization_pct - policy.capacity_hysteresis_pct)
    busy = projected >= line / 100
    on_busy = (r.desired >= 0) & busy[np.maximum(r.desired, 0)]
    rows = np.flatnonzero(away | moved | on_busy)
    index = {prefixes[i]: i for i in rows.tolist()}
    for p, d in memory.items():
        if p not in index and p in row and now - d.moved < span:
            index[p] = row[p]
    out: dict[str, Demand] = {}
    for p, i in index.items():
        old = memory.get(p)
        peaks = _extend(old.peaks if old else (), now, float(r.steer[i]), span)
        left = old.left if old and now - old.moved < span else ()
        c, e = int(r.cur[i]), int(r.desired[i])
        if moved[i] and c >= 0 and e >= 0:
            # What the new exit carried before the move was traffic that does not
            # follow the route: the same kind stays on the provider it leaves.
            stays = (names[c], float(r.pinned[i, e]))
            left = tuple(x for x in left if x[0] not in (names[c], names[e])) + (stays,)
        # A prefix tracked only for its link never moved: it counts as moved long ago.
        when = now if moved[i] else (old.moved if old else float(r.since[i]) if away[i] else 0.0)
        out[p] = Demand(when, peaks, left)
    return out


def remember_links(
    r: Round, peaks: Mapping[str, tuple[tuple[float, float], ...]], projected: np.ndarray
) -> dict[str, tuple[tuple[float, float], ...]]:
    """Each link's sliding maximum extended by this round's final projected load."""
    span = r.policy.capacity_demand_memory_s
    return {
        name: _extend(peaks.get(name, ()), r.now, float(projected[k]), span)
        for k, name in enumerate(r.f.providers)
    }
