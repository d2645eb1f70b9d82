"""decide(): one decision round, a pure function of its arguments.

No I/O, no clock (the time is ``inp.now``), no randomness: the same input and
state always give the same result, which is what makes rounds replayable and
the policy testable exhaustively. Precedence, highest first (docs/decide.md):
exclusion, outage, pin, restoration of improvements the routers lost, loss,
latency, revert, capacity, cost; then the granularity rule and the change limits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from routepilot.decide import allocate as alloc
from routepilot.decide.billing import free_level
from routepilot.decide.config import PolicyConfig
from routepilot.decide.frame import MBPS, Frame, build_frame
from routepilot.decide.limits import apply_limits, recent, used
from routepilot.decide.model import (
    Active,
    DecisionInput,
    DecisionResult,
    DecisionState,
    ProviderLike,
)
from routepilot.decide.prefixes import too_specific
from routepilot.decide.quality import (
    Quality,
    assess,
    best,
    latency_better,
    latency_threshold,
    loss_better,
    penalty,
    pick,
    still_holds,
)
from routepilot.decide.reasons import Reason

_PERF_REASONS = (Reason.OUTAGE, Reason.LOSS, Reason.LATENCY, Reason.DEFAULT, -1)
# Tie-breakers of the cost allocation, per Mbps: a move costs a little, an
# injection a little more, so that equal prices lead back to BGP's default.
_MOVE_EPS = 1e-6
_INJECTION_EPS = 2e-6
_COST_MODE_PERF_WEIGHT = 1e-4
_REASONS = tuple(Reason)


def decide(
    inp: DecisionInput,
    state: DecisionState,
    policy: PolicyConfig,
    providers: Sequence[ProviderLike],
) -> DecisionResult:
    """Chooses the exit of every busy prefix; see the module docstring for the order."""
    providers = tuple(providers)
    names = tuple(p.name for p in providers)
    col = {name: k for k, name in enumerate(names)}
    injected = (
        inp.injections
        if inp.injections is not None
        else {p: a.provider for p, a in state.active.items()}
    )
    prefixes, row = _universe(inp, state, injected)
    f = build_frame(inp, prefixes, providers)
    n = len(prefixes)
    now = inp.now
    d = f.default
    cur = d.copy()
    for p, prov in injected.items():
        if prov in col:
            cur[row[p]] = col[prov]

    act_reason = np.full(n, -1, dtype=np.int64)
    misses = np.zeros(n, dtype=np.int64)
    since = np.full(n, now)
    act_col = np.full(n, -1, dtype=np.int64)
    for p, a in state.active.items():
        i = row[p]
        act_reason[i], misses[i], since[i] = int(a.reason), a.misses, a.since
        act_col[i] = col.get(a.provider, -1)
    last = np.full(n, -np.inf)
    for p, t in state.last_move.items():
        if p in row:
            last[row[p]] = t
    pend = np.zeros(n, dtype=np.int64)
    for p, r in state.pending.items():
        if p in row:
            pend[row[p]] = r
    hold = (now - last) < policy.hold_down_s
    avoid = np.zeros((n, len(names)), dtype=bool)
    for p, left in state.avoid.items():
        for prov, t in left.items():
            if p in row and prov in col and now - t < policy.failure_memory_s:
                avoid[row[p], col[prov]] = True

    q = assess(f, policy)
    improved = (cur != d) & (cur >= 0)
    desired = cur.copy()
    reason = np.where(improved & (act_reason >= 0), act_reason, Reason.DEFAULT).astype(np.int64)
    decided = np.zeros(n, dtype=bool)

    def settle(mask: np.ndarray, target: np.ndarray | int, why: Reason) -> None:
        mask = mask & ~decided
        desired[mask] = target[mask] if isinstance(target, np.ndarray) else target
        reason[mask] = why
        decided[mask] = True

    pin_col = np.full(n, -1, dtype=np.int64)
    for p, prov in inp.pins.items():
        if prov in col:
            pin_col[row[p]] = col[prov]

    # Exclusions: hands off, BGP's choice.
    excluded = _rows_of(inp.exclusions, row, n)
    settle(excluded, d, Reason.EXCLUDED)

    # Outage: the current exit has no route or stops answering; move now to the
    # best provider that answers, ignoring hold-down; with none, drop the injection.
    has_cur = cur >= 0
    cur_bad = has_cur & (~pick(q.routable, cur) | pick(q.failing, cur))
    alt = q.usable.copy()
    alt[np.flatnonzero(has_cur), cur[has_cur]] = False
    target = best(f, alt, d, policy)
    target = np.where((pin_col >= 0) & pick(alt, pin_col), pin_col, target)  # the pin if it can
    settle(cur_bad & (target >= 0), target, Reason.OUTAGE)
    settle(cur_bad & (cur != d), d, Reason.OUTAGE)

    # Pins: the operator's choice, as long as that provider can carry the prefix.
    pin_ok = (pin_col >= 0) & pick(q.routable, pin_col) & ~pick(q.failing, pin_col)
    settle(pin_ok, pin_col, Reason.PINNED)
    settle((act_reason == Reason.PINNED) & improved & (pin_col < 0), d, Reason.REVERT)

    # Prefixes routepilot cannot judge or has nothing to do with stay with BGP.
    settle(f.unprobeable | ~has_cur, d, Reason.UNCONTROLLED)

    # Improvements the routers lost (a session flap, a restart: announcements die
    # with the session) come back at once if they still hold: a restoration is
    # not a new move, so hold-down does not apply.
    lost = (act_col >= 0) & (act_col != d) & (cur == d) & ~decided
    lost &= np.isin(act_reason, (Reason.OUTAGE, Reason.LOSS, Reason.LATENCY))
    lost &= pick(q.usable, act_col) & still_holds(f, q, act_col, d, policy)
    desired[lost] = act_col[lost]
    reason[lost] = act_reason[lost]
    decided |= lost

    # Loss, then latency: sustained improvements over the current exit.
    rounds = _performance(f, q, policy, cur, d, pend, hold, settle, decided, avoid)

    # Improvements that no longer hold (re-measured after the move) revert to BGP.
    perf_active = improved & ~decided & (d >= 0) & np.isin(act_reason, _PERF_REASONS)
    if policy.mode == "performance":
        perf_active |= improved & ~decided & (act_reason == Reason.COST)
    holds = still_holds(f, q, cur, d, policy)
    misses = np.where(perf_active, np.where(holds, 0, misses + 1), misses)
    settle(perf_active & (misses >= policy.revert_rounds) & ~hold, d, Reason.REVERT)

    # Capacity (and cost, in cost mode): a global allocation of the movable prefixes.
    allocation = _allocate(
        f, q, policy, cur, d, desired, reason, decided, hold, pin_ok, excluded, avoid
    )
    _capacity_returns(f, q, policy, cur, d, desired, reason, decided, hold, act_reason)

    # Granularity: never announce more specific than configured.
    inject_rows = np.flatnonzero((desired != d) & (desired >= 0))
    fine = too_specific(
        [prefixes[i] for i in inject_rows], policy.ipv4_granularity, policy.ipv6_granularity
    )
    bad = inject_rows[fine]
    desired[bad] = d[bad]
    reason[bad] = Reason.UNCONTROLLED

    log = recent(state.recent_changes, now)
    outage_log = recent(state.recent_outage_changes, now)
    kept_outage, kept = apply_limits(
        desired=desired,
        reason=reason,
        current=cur,
        default=d,
        fallback=np.where(has_cur & ~pick(q.routable, cur), d, cur),
        traffic=f.tot,
        outage_budget=policy.max_outage_changes_per_minute - used(outage_log),
        change_budget=policy.max_changes_per_minute - used(log),
        max_improvements=policy.max_improvements,
    )
    if kept:
        log += ((now, kept),)
    if kept_outage:
        outage_log += ((now, kept_outage),)

    moved = desired != cur
    next_state = _next_state(
        state, policy, prefixes, names, now, desired, cur, d, reason, act_reason,
        since, misses, moved, rounds, log, outage_log,
    )  # fmt: skip
    old_rtt = pick(f.rtt, cur)
    injections = {
        prefixes[i]: names[desired[i]] for i in np.flatnonzero((desired != d) & (desired >= 0))
    }
    return DecisionResult(
        time=now,
        prefixes=prefixes,
        providers=names,
        exit=desired,
        current=cur,
        default=d,
        reason=reason.astype(np.int8),
        traffic_bps=f.tot,
        old_rtt_ms=old_rtt,
        new_rtt_ms=pick(f.rtt, desired),
        old_loss=pick(f.loss, cur),
        new_loss=pick(f.loss, desired),
        threshold_ms=latency_threshold(old_rtt, policy),
        injections=injections,
        state=next_state,
        projected_bps=dict(zip(names, _project(f, cur, desired).tolist(), strict=True)),
        allocation=allocation,
    )


def _universe(
    inp: DecisionInput, state: DecisionState, injected: dict[str, str] | object
) -> tuple[tuple[str, ...], dict[str, int]]:
    """Busy prefixes, plus those routepilot steers or was told about, so that an
    injection whose traffic faded is still judged (and reverted) rather than forgotten."""
    prefixes = inp.traffic.prefixes
    row = {p: i for i, p in enumerate(prefixes)}
    extra: list[str] = []
    for source in (state.active, injected, inp.pins):
        for p in source:  # type: ignore[attr-defined]
            if p not in row:
                row[p] = len(prefixes) + len(extra)
                extra.append(p)
    if extra:
        prefixes = prefixes + tuple(extra)
    return prefixes, row


def _rows_of(keys: frozenset[str], row: dict[str, int], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for p in keys:
        i = row.get(p)
        if i is not None:
            mask[i] = True
    return mask


def _performance(f, q, policy, cur, d, pend, hold, settle, decided, avoid) -> np.ndarray:
    """Loss and latency moves; returns the updated sustained-improvement counters."""
    eligible = (~decided & (cur >= 0))[:, None] & ~avoid
    by_loss = loss_better(f, q, cur, policy) & eligible
    by_latency = latency_better(f, q, cur, policy) & eligible
    any_loss, any_latency = by_loss.any(axis=1), by_latency.any(axis=1)
    rounds = np.where(any_loss | any_latency, pend + 1, 0)
    loss_move = any_loss & (rounds >= policy.loss_rounds) & ~hold
    latency_move = any_latency & (rounds >= policy.latency_rounds) & ~hold
    settle(loss_move, best(f, by_loss, d, policy), Reason.LOSS)
    # An improvement goes back to BGP's default by the revert rule (sustained for
    # revert_rounds), not by a latency move: a default whose trouble comes and goes
    # would otherwise be left and rejoined at every flip.
    target = best(f, by_latency, d, policy)
    settle(latency_move & ~((cur != d) & (target == d)), target, Reason.LATENCY)
    return rounds


def _project(f: Frame, cur: np.ndarray, desired: np.ndarray) -> np.ndarray:
    """Link loads once the moves apply: measured load, minus what leaves, plus what comes."""
    p = len(f.providers)
    moving = np.flatnonzero((desired != cur) & (f.tot > 0))
    load = f.link_bps.copy()
    src, dst = cur[moving], desired[moving]
    t = f.tot[moving]
    load -= np.bincount(src[src >= 0], weights=t[src >= 0], minlength=p)
    load += np.bincount(dst[dst >= 0], weights=t[dst >= 0], minlength=p)
    return load


def _allocate(f, q, policy, cur, d, desired, reason, decided, hold, pin_ok, excluded, avoid):
    """Keeps links under target (and, in cost mode, traffic on cheap links) by a global
    allocation of the prefixes that may move; returns what the allocators scored."""
    load = _project(f, cur, desired)
    limit = f.capacity_bps * policy.target_utilization_pct / 100
    overloaded = load > limit
    cost_mode = policy.mode == "cost"
    if not overloaded.any() and not cost_mode:
        return {}
    moved_now = desired != cur
    # Congestion does not wait for a hold-down: a prefix on an overloaded link may
    # be detoured even if it moved recently (Edge Fabric re-allocates every round).
    on_overloaded = overloaded[np.maximum(desired, 0)]
    movable = (
        (desired >= 0)
        & (f.tot > 0)
        & ~pin_ok
        & ~excluded
        & ~f.unprobeable
        & (~hold | moved_now | on_overloaded)
        & ~(decided & ~moved_now)
    )
    if not cost_mode:
        movable &= on_overloaded
    rows = np.flatnonzero(movable)
    if rows.size == 0:
        return {}
    start = desired[rows]
    allowed = q.usable[rows].copy()
    pen = penalty(f, desired, policy)[rows]
    if cost_mode:
        allowed &= ~avoid[rows]
        allowed &= _acceptable(f, q, policy)[rows]
        pen = _COST_MODE_PERF_WEIGHT * pen + _INJECTION_EPS * (
            np.arange(len(f.providers))[None, :] != d[rows][:, None]
        )
    allowed[np.arange(rows.size), start] = True
    pen = pen + _MOVE_EPS * (np.arange(len(f.providers))[None, :] != start[:, None])
    pen[np.arange(rows.size), start] -= pen[np.arange(rows.size), start]
    t = f.tot[rows] / MBPS
    fixed = load / MBPS - np.bincount(start, weights=t, minlength=len(f.providers))
    commit = np.full(len(f.providers), np.inf)
    price = np.zeros(len(f.providers))
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
    why = np.where(reason[moved_rows] == Reason.OUTAGE, Reason.OUTAGE, why)
    reason[moved_rows] = why
    back = moved_rows[new == cur[moved_rows]]
    reason[back] = np.where(cur[back] == d[back], Reason.DEFAULT, reason[back])
    decided[moved_rows] = True
    return info


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


def _capacity_returns(f, q, policy, cur, d, desired, reason, decided, hold, act_reason):
    """Brings capacity detours home when their default link has room to spare."""
    home = (
        (act_reason == Reason.CAPACITY) & (cur != d) & (d >= 0) & ~decided & ~hold
        & pick(q.usable, d)
    )  # fmt: skip
    rows = np.flatnonzero(home)
    if rows.size == 0:
        return
    load = _project(f, cur, desired)
    margin = (policy.target_utilization_pct - policy.capacity_hysteresis_pct) / 100
    room = f.capacity_bps * margin - load
    rows = rows[np.argsort(-f.tot[rows], kind="stable")]
    for j in np.unique(d[rows]):
        sel = rows[d[rows] == j]
        fits = sel[np.cumsum(f.tot[sel]) <= room[j]]
        desired[fits] = j
        reason[fits] = Reason.REVERT
        decided[fits] = True


def _next_state(
    state, policy, prefixes, names, now, desired, cur, d, reason, act_reason,
    since, misses, moved, rounds, log, outage_log,
) -> DecisionState:  # fmt: skip
    rows = np.flatnonzero((desired != d) & (desired >= 0))
    kept = ~moved[rows]
    why = np.where(kept & (act_reason[rows] >= 0), act_reason[rows], reason[rows])
    why = np.where(why == int(Reason.DEFERRED), int(Reason.DEFAULT), why)
    began = np.where(kept, since[rows], now)
    missed = np.where(kept, misses[rows], 0)
    active = {
        prefixes[i]: Active(names[k], _REASONS[w], t, m)
        for i, k, w, t, m in zip(
            rows.tolist(), desired[rows].tolist(), why.tolist(), began.tolist(), missed.tolist(),
            strict=True,
        )
    }  # fmt: skip
    last_move = {p: t for p, t in state.last_move.items() if now - t < policy.hold_down_s}
    for i in np.flatnonzero(moved):
        last_move[prefixes[i]] = now
    avoid: dict[str, dict[str, float]] = {}
    for p, left in state.avoid.items():
        kept = {prov: t for prov, t in left.items() if now - t < policy.failure_memory_s}
        if kept:
            avoid[p] = kept
    fled = moved & np.isin(reason, (Reason.OUTAGE, Reason.LOSS)) & (cur >= 0)
    for i in np.flatnonzero(fled):
        avoid.setdefault(prefixes[i], {})[names[cur[i]]] = now
    waiting = np.flatnonzero((rounds > 0) & ~moved)
    pending = dict(zip([prefixes[i] for i in waiting], rounds[waiting].tolist(), strict=True))
    return DecisionState(
        active=active,
        last_move=last_move,
        pending=pending,
        recent_changes=log,
        recent_outage_changes=outage_log,
        avoid=avoid,
    )
