"""decide(): one decision round, a pure function of its arguments.

No I/O, no clock (the time is ``inp.now``), no randomness: the same input and
state always give the same result, which is what makes rounds replayable and
the policy testable exhaustively. Precedence, highest first (docs/decide.md):
exclusion, policy hands-off (allowlist, ``ignore``), maintenance windows
(decide/maintenance.py), outage, pin, static rule, denied exit, restoration of improvements
the routers lost, loss, jitter (for the prefixes of a rule with a jitter threshold),
latency, moves off a path crossing an open incident's AS (as_incident), revert, capacity
(and cost, in cost mode), commit; then
nothing may land on a provider in a window, the granularity rule, the change limits and the
policy guard. Policy rules (decide/policy.py) also narrow every move's targets to the
providers the prefix may be sent to (docs/policy.md). Commit control may also move latency
improvements when its precedence says so (decide/commit.py). Every move's targets leave out
the providers whose path crosses an open AS incident's AS when one that avoids it qualifies
(``Round.prefer_avoiding``), and no return to BGP's default lands on such a path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from routepilot.decide import capacity, commit, maintenance
from routepilot.decide.config import PolicyConfig
from routepilot.decide.context import Round
from routepilot.decide.frame import Frame, build_frame
from routepilot.decide.limits import apply_limits, recent, used
from routepilot.decide.model import (
    Active,
    DecisionInput,
    DecisionResult,
    DecisionState,
    ProviderLike,
)
from routepilot.decide.policy import routes_origin
from routepilot.decide.prefixes import too_specific
from routepilot.decide.quality import (
    assess,
    best,
    jitter_better,
    jitter_worse,
    latency_better,
    latency_threshold,
    loss_better,
    lossier,
    pick,
    smoothest,
    still_holds,
)
from routepilot.decide.reasons import Reason
from routepilot.decide.rules import apply_rules, guard, note_rows, policy_moves, score

_PERF_REASONS = (
    Reason.OUTAGE, Reason.LOSS, Reason.LATENCY, Reason.JITTER, Reason.AS_INCIDENT,
    Reason.DEFAULT, -1,
)  # fmt: skip
_RESTORED = (Reason.OUTAGE, Reason.LOSS, Reason.LATENCY, Reason.JITTER)
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
    injected = (
        inp.injections
        if inp.injections is not None
        else {p: a.provider for p, a in state.active.items()}
    )
    prefixes, row = _universe(inp, state, injected)
    f = build_frame(inp, prefixes, providers)
    pol = inp.policy
    ev = pol.evaluate(prefixes, names, f.origin)
    pin_col = _pin_columns(inp, row, names, len(prefixes))
    r = _start(inp, state, policy, f, row, injected, pin_col, ev.allowed, ev.hands_off)
    # Jitter counts only for the prefixes of a rule with a threshold; with none, the
    # round does no jitter work at all.
    jthr = ev.jitter_ms if np.isfinite(ev.jitter_ms).any() else None
    r = replace(
        r,
        no_target={w: pol.no_target(names, w.label) for w in Reason if pol.target_exclusions},
        jitter_threshold=jthr,
    )
    d, cur, q = r.default, r.cur, r.q
    notes: dict[str, str] = {}
    windows = maintenance.columns(inp.maintenance, names)
    maintenance.restrict(r, windows, pin_col)

    # Exclusions: hands off, BGP's choice; so for what the policy leaves to BGP.
    r.settle(_rows_of(inp.exclusions, row, len(prefixes)), d, Reason.EXCLUDED)
    r.settle(ev.hands_off, d, Reason.POLICY)

    # Maintenance windows: off the providers in one, drained defaults elsewhere.
    maintenance.settle(r, windows, pin_col)

    # Outage: the current exit has no route or stops answering; move now to the
    # best provider that answers, ignoring hold-down; with none, drop the injection.
    has_cur = cur >= 0
    cur_bad = has_cur & (~pick(q.routable, cur) | pick(q.failing, cur))
    alt = q.usable & ~r.barred(Reason.OUTAGE)[None, :]
    alt[np.flatnonzero(has_cur), cur[has_cur]] = False
    alt = r.prefer_avoiding(alt)
    target = best(f, alt, d, policy)
    target = np.where((pin_col >= 0) & pick(alt, pin_col), pin_col, target)  # the pin if it can
    r.settle(cur_bad & (target >= 0), target, Reason.OUTAGE)
    r.settle(cur_bad & (cur != d), d, Reason.OUTAGE)

    # Pins: the operator's choice, as long as that provider can carry the prefix.
    improved = (cur != d) & (cur >= 0)
    r.settle(r.pin_ok, pin_col, Reason.PINNED)
    r.settle((r.act_reason == Reason.PINNED) & improved & (pin_col < 0), d, Reason.REVERT)

    # Static rules, then exits on a provider the policy denies (docs/policy.md).
    apply_rules(r, ev, notes)

    # Prefixes routepilot cannot judge or has nothing to do with stay with BGP.
    r.settle(f.unprobeable | ~has_cur, d, Reason.UNCONTROLLED)

    # Improvements the routers lost (a session flap, a restart: announcements die
    # with the session) come back at once if they still hold: a restoration is
    # not a new move, so hold-down does not apply.
    act_col, act_reason = r.act_col, r.act_reason
    lost = (act_col >= 0) & (act_col != d) & (cur == d) & ~r.decided
    lost &= np.isin(act_reason, _RESTORED)
    lost &= pick(q.usable, act_col) & still_holds(f, q, act_col, d, policy, jthr)
    lost &= ~r.onto_crossing(act_col)
    r.desired[lost] = act_col[lost]
    r.reason[lost] = act_reason[lost]
    r.decided[lost] = True

    # Loss, then jitter (ruled prefixes), then latency: sustained improvements over the
    # current exit. A prefix whose retry trains on a wide RTT spread are not back
    # (probe/confirm.py) moves on none of them yet, nor reverts: held like a prefix in
    # hold-down for these rules only.
    held = r.hold.copy()
    r.hold[_rows_of(inp.measurements.confirming, row, len(prefixes))] = True
    rounds = _performance(r, jthr)
    _as_incident(r, jthr)

    # Improvements that no longer hold (re-measured after the move) revert to BGP.
    perf_active = improved & ~r.decided & (d >= 0) & np.isin(act_reason, _PERF_REASONS)
    perf_active &= pick(ev.allowed, d)  # never back onto a default the policy denies
    if policy.mode == "performance":
        perf_active |= improved & ~r.decided & (act_reason == Reason.COST)
    # An exit that avoids an open incident's AS holds while BGP's default crosses it.
    holds = still_holds(f, q, cur, d, policy, jthr) | r.onto_crossing(d)
    r.misses[:] = np.where(perf_active, np.where(holds, 0, r.misses + 1), r.misses)
    r.settle(perf_active & (r.misses >= policy.revert_rounds) & ~r.hold, d, Reason.REVERT)
    r.hold[:] = held

    # Capacity (and cost, in cost mode): a global allocation of the movable prefixes,
    # then the detours that fit come home.
    allocation, overloaded = capacity.allocate(r)
    capacity.come_home(r, overloaded, state.link_peaks)
    maintenance.keep_off(r, windows)

    # Commits, in every mode: providers above their level are relieved where others
    # have room, then commit detours whose home has room again come back.
    budget = commit.budget(f, policy, inp.billing)
    commit_info = commit.relieve(r, budget)
    commit.come_home(r, budget)

    # Granularity: never announce more specific than configured.
    desired, reason = r.desired, r.reason
    inject_rows = np.flatnonzero((desired != d) & (desired >= 0))
    fine = too_specific(
        [prefixes[i] for i in inject_rows], policy.ipv4_granularity, policy.ipv6_granularity
    )
    bad = inject_rows[fine]
    desired[bad] = d[bad]
    reason[bad] = Reason.UNCONTROLLED

    now = inp.now
    log = recent(state.recent_changes, now)
    outage_log = recent(state.recent_outage_changes, now)
    kept_outage, kept = apply_limits(
        desired=desired,
        reason=reason,
        current=cur,
        default=d,
        fallback=np.where((has_cur & ~pick(q.routable, cur)) | policy_moves(r, ev), d, cur),
        traffic=f.tot,
        vip=ev.vip,
        score=score(f, cur, desired, policy),
        outage_budget=policy.max_outage_changes_per_minute - used(outage_log),
        change_budget=policy.max_changes_per_minute - used(log),
        max_improvements=policy.max_improvements,
    )
    guard(r, ev)
    if kept:
        log += ((now, kept),)
    if kept_outage:
        outage_log += ((now, kept_outage),)

    moved = desired != cur
    projected = capacity.project(r, desired)
    bgp = capacity.project(r, d)
    next_state = _next_state(r, state, prefixes, row, moved, rounds, (log, outage_log))
    next_state = replace(
        next_state,
        demand=capacity.remember(r, state.demand, prefixes, row, moved, projected),
        link_peaks=capacity.remember_links(r, state.link_peaks, projected),
    )
    # A record's "old" side is where a moving prefix leaves; for one that stays, BGP's
    # default, so a held improvement reads against what it improves on, not against itself.
    base = np.where(moved, cur, d)
    old_rtt = pick(f.rtt, base)
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
        old_loss=pick(f.loss, base),
        new_loss=pick(f.loss, desired),
        threshold_ms=latency_threshold(old_rtt, policy),
        injections=injections,
        state=next_state,
        projected_bps=dict(zip(names, projected.tolist(), strict=True)),
        allocation=allocation,
        round_policy=pol,
        evaluation=None if pol.empty else ev,
        notes={**note_rows(r, ev, prefixes), **notes},
        bgp_bps=dict(zip(names, bgp.tolist(), strict=True)),
        commit={
            names[k]: {
                "commit_bps": float(budget.commit_bps[k]),
                "level_bps": float(budget.level_bps[k]),
                "free": int(budget.free[k]),
                "left": int(budget.left[k]),
            }
            for k in np.flatnonzero(budget.commit_bps > 0).tolist()
        },
        commit_allocation=commit_info,
        incident_asn=_incident_asns(r, prefixes),
    )


def _start(
    inp: DecisionInput,
    state: DecisionState,
    policy: PolicyConfig,
    f: Frame,
    row: dict[str, int],
    injected: Mapping[str, str],
    pin_col: np.ndarray,
    allowed: np.ndarray,
    hands_off: np.ndarray,
) -> Round:
    """The round's columns from the input and the carried state, before any rule."""
    col = {name: k for k, name in enumerate(f.providers)}
    n, now = len(f.prefixes), inp.now
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
    for p, k in state.pending.items():
        if p in row:
            pend[row[p]] = k
    avoid = np.zeros((n, len(f.providers)), dtype=bool)
    for p, left in state.avoid.items():
        for prov, t in left.items():
            if p in row and prov in col and now - t < policy.failure_memory_s:
                avoid[row[p], col[prov]] = True
    q = assess(f, policy)
    # No move ever lands on a provider the policy does not allow for the prefix.
    q = replace(q, usable=q.usable & allowed)
    improved = (cur != d) & (cur >= 0)
    reason = np.where(improved & (act_reason >= 0), act_reason, Reason.DEFAULT)
    span = policy.capacity_demand_memory_s
    demand, pinned, steer = capacity.demand_of(f, cur, act_col, state.demand, row, now, span)
    return Round(
        f=f,
        q=q,
        policy=policy,
        now=now,
        cur=cur,
        default=d,
        desired=cur.copy(),
        reason=reason.astype(np.int64),
        decided=np.zeros(n, dtype=bool),
        hold=(now - last) < policy.hold_down_s,
        avoid=avoid,
        act_reason=act_reason,
        act_col=act_col,
        since=since,
        misses=misses,
        pending=pend,
        pin_ok=(pin_col >= 0)
        & pick(q.routable, pin_col)
        & ~pick(q.failing, pin_col)
        & pick(allowed, pin_col),
        excluded=_rows_of(inp.exclusions, row, n) | hands_off,
        pinned=pinned,
        demand=demand,
        steer=steer,
    )


def _pin_columns(
    inp: DecisionInput, row: dict[str, int], names: tuple[str, ...], n: int
) -> np.ndarray:
    """The provider each prefix is pinned to (-1: none, or a provider not configured)."""
    col = {name: k for k, name in enumerate(names)}
    pin_col = np.full(n, -1, dtype=np.int64)
    for p, prov in inp.pins.items():
        if prov in col:
            pin_col[row[p]] = col[prov]
    return pin_col


def _universe(
    inp: DecisionInput, state: DecisionState, injected: Mapping[str, str]
) -> tuple[tuple[str, ...], dict[str, int]]:
    """Busy prefixes, plus those routepilot steers or was told about, so that an
    injection whose traffic faded is still judged (and reverted) rather than forgotten."""
    prefixes = inp.traffic.prefixes
    row = {p: i for i, p in enumerate(prefixes)}
    extra: list[str] = []
    # VIP prefixes are decided with or without traffic.
    vip: list[str] = []
    if inp.policy.has_vip:
        vip = inp.policy.vip_prefixes(inp.routes.prefixes, routes_origin(inp.routes))
    sources: tuple[Iterable[str], ...] = (state.active, injected, inp.pins, vip)
    for source in sources:
        for p in source:
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


def _performance(r: Round, jitter_threshold: np.ndarray | None) -> np.ndarray:
    """Loss, jitter and latency moves; returns the updated sustained-improvement counters.

    ``jitter_threshold`` (N,) is each row's rule's jitter threshold (NaN: jitter does not
    count; None: it counts for no row). Jitter comes before latency for those rows (a
    voice prefix takes the smooth path over the merely fast one), and a latency move never
    lands on a path more jittery than the current one by the threshold, while a jitter
    move never lands on one slower by the latency threshold: neither rule can undo the
    other's move.
    """
    f, q, policy, cur, d = r.f, r.q, r.policy, r.cur, r.default
    eligible = (~r.decided & (cur >= 0))[:, None] & ~r.avoid
    by_loss = loss_better(f, q, cur, policy) & eligible & ~r.barred(Reason.LOSS)[None, :]
    by_latency = latency_better(f, q, cur, policy) & eligible & ~r.barred(Reason.LATENCY)[None, :]
    by_jitter = np.zeros_like(by_latency)
    if jitter_threshold is not None:
        by_latency &= ~jitter_worse(f, cur, jitter_threshold, policy)
        by_jitter = jitter_better(f, q, cur, jitter_threshold, policy) & eligible
        by_jitter &= ~r.barred(Reason.JITTER)[None, :]
    any_loss, any_latency = by_loss.any(axis=1), by_latency.any(axis=1)
    any_jitter = by_jitter.any(axis=1)
    rounds = np.where(any_loss | any_latency | any_jitter, r.pending + 1, 0)
    loss_move = any_loss & (rounds >= policy.loss_rounds) & ~r.hold
    latency_move = any_latency & (rounds >= policy.latency_rounds) & ~r.hold
    jitter_move = any_jitter & (rounds >= policy.latency_rounds) & ~r.hold
    # Of the providers better enough, one whose path avoids an open incident's AS.
    by_loss, by_latency = r.prefer_avoiding(by_loss), r.prefer_avoiding(by_latency)
    by_jitter = r.prefer_avoiding(by_jitter)
    r.settle(loss_move, best(f, by_loss, d, policy), Reason.LOSS)
    # An improvement goes back to BGP's default by the revert rule (sustained for
    # revert_rounds), not by a latency or jitter move: a default whose trouble comes
    # and goes would otherwise be left and rejoined at every flip.
    if jitter_threshold is not None and any_jitter.any():
        target = smoothest(f, by_jitter, d, jitter_threshold, policy)
        r.settle(jitter_move & ~((cur != d) & (target == d)), target, Reason.JITTER)
    target = best(f, by_latency, d, policy)
    r.settle(latency_move & ~((cur != d) & (target == d)), target, Reason.LATENCY)
    return rounds


def _as_incident(r: Round, jitter_threshold: np.ndarray | None) -> None:
    """A prefix whose exit crosses the AS of an open incident moves to the best provider
    that avoids every such AS and is not measured worse than the exit: not significantly
    lossier, not slower by the latency threshold and, for a prefix with a jitter threshold,
    not more jittery by it. It moves whether or not its own path was seen degraded (the
    incident is the evidence), within hold-down; with no such provider it stays."""
    f, q, policy, cur = r.f, r.q, r.policy, r.cur
    crossing = f.crossing != 0
    on = pick(crossing, cur) & (cur >= 0) & ~r.decided & ~r.hold
    if not on.any():
        return
    rc = pick(f.rtt, cur)
    with np.errstate(invalid="ignore"):
        slower = (f.rtt - rc[:, None]) >= latency_threshold(rc, policy)[:, None]
    ok = q.usable & ~crossing & ~r.avoid & ~lossier(f, q, cur, policy) & ~slower
    ok &= ~r.barred(Reason.AS_INCIDENT)[None, :]
    if jitter_threshold is not None:
        ok &= ~jitter_worse(f, cur, jitter_threshold, policy)
    ok &= on[:, None]
    target = best(f, ok, r.default, policy)
    r.settle(on & (target >= 0), target, Reason.AS_INCIDENT)


def _incident_asns(r: Round, prefixes: tuple[str, ...]) -> dict[str, int]:
    """prefix -> the AS its ``as_incident`` exit avoids: the one the path it left (or BGP's
    default, for an improvement kept) crosses."""
    rows = np.flatnonzero(r.reason == Reason.AS_INCIDENT)
    if rows.size == 0:
        return {}
    crossing = r.f.crossing
    left = np.where(pick(crossing, r.cur)[rows] != 0, r.cur[rows], r.default[rows])
    asn = pick(crossing[rows], left)
    # Else any AS an incident names on the prefix's paths.
    asn = np.where(asn != 0, asn, crossing[rows].max(axis=1, initial=0))
    return {prefixes[i]: int(a) for i, a in zip(rows.tolist(), asn.tolist(), strict=True) if a}


def _next_state(
    r: Round,
    state: DecisionState,
    prefixes: tuple[str, ...],
    row: dict[str, int],
    moved: np.ndarray,
    rounds: np.ndarray,
    logs: tuple[tuple[tuple[float, int], ...], tuple[tuple[float, int], ...]],
) -> DecisionState:
    """What the next round needs: improvements in force, hold-downs, counters, memories."""
    policy, now, names = r.policy, r.now, r.f.providers
    desired, reason, act_reason = r.desired, r.reason, r.act_reason
    rows = np.flatnonzero((desired != r.default) & (desired >= 0))
    kept = ~moved[rows]
    why = np.where(kept & (act_reason[rows] >= 0), act_reason[rows], reason[rows])
    why = np.where(why == int(Reason.DEFERRED), int(Reason.DEFAULT), why)
    began = np.where(kept, r.since[rows], now)
    missed = np.where(kept, r.misses[rows], 0)
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
        remembered = {prov: t for prov, t in left.items() if now - t < policy.failure_memory_s}
        if remembered:
            avoid[p] = remembered
    cur = r.cur
    fled = moved & np.isin(reason, (Reason.OUTAGE, Reason.LOSS)) & (cur >= 0)
    for i in np.flatnonzero(fled):
        avoid.setdefault(prefixes[i], {})[names[cur[i]]] = now
    waiting = np.flatnonzero((rounds > 0) & ~moved)
    pending = dict(zip([prefixes[i] for i in waiting], rounds[waiting].tolist(), strict=True))
    return DecisionState(
        active=active,
        last_move=last_move,
        pending=pending,
        recent_changes=logs[0],
        recent_outage_changes=logs[1],
        avoid=avoid,
    )
