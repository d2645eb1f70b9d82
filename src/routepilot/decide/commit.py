"""Commit control: every provider's 95th percentile kept under its commit, in every mode.

Providers bill the 95th percentile of the period's 5-minute samples, so the top 5 %
of samples are free: the period's *burst allowance*. A provider is relieved when its
projected rate passes its *level*: ``relieve_start_pct`` of its commit (99 %) while
the allowance is whole, lowered by up to ``relieve_margin_pct`` points as the
allowance is used up (IRP's "unload from 99 % and earlier as the allowance goes").
Members of a commit group are relieved above their share of the group's level
(equal parts, or in proportion to their commits).

Relieving is one global allocation of the prefixes on providers above their level
(decide/allocate.py): a prefix may go only where it loses no more than on the
provider it leaves and is at most ``latency_tolerance_ms`` slower, to a provider
with room under its own level and under the capacity target, never to one left out
of commit moves; the last-resort provider only once the relieved provider's
allowance is used up. The allocator takes the least harmful prefixes first (the
smallest added latency per Mbps, ``order`` breaking ties); where nobody has room
the sample bursts above the commit. Detours come home once BGP's choice has room
under its level less ``hysteresis_pct`` points.

Precedence (docs/decide.md): pins and, with ``precedence: performance``, latency and
jitter improvements are never moved for a commit; with ``precedence: commit``
(globally or for the provider over its commit) latency and jitter improvements give
way. Outage and loss moves never give way, but they may *go on* like any relieved
prefix, no lossier and within the tolerance, which keeps what they gained: kept on
the provider they happened to pick (the faster of two clean ones, both within the
tolerance), they could hold it over its commit for good. Capacity comes before the
commit. In cost mode a provider with a price is governed by the cost allocation (its
commit is where paying starts, weighed against performance); commit control covers
every other provider, and every provider in performance mode.

Commit control waits for a whole traffic view of now (``Frame.whole``). After a cold
start the first windows of flows hold some flows and not others, at rates still ramping
up, while SNMP's link rate is whole from its second poll: the projection counts what
flows do not show yet as traffic outside the tracked prefixes, which no move relieves,
and each prefix at a fraction of its rate. In the lab, the round 7 s after a restart
read isp1's prefixes at 28 % of their rates and moved every prefix it could: isp1 fell
from 1.2 to 0.71 of its commit. The stored minute that stands in after a warm start
(run/) splits the traffic between providers as the exits were before the restart, and
routepilot's routes died with its session since: the traffic of its detours reads as
traffic that stays where it is measured. In the lab, the round 5 s after a restart took
1 Mb/s of loss detours for traffic staying on isp1 and moved 1.5 Mb/s of isp1's own:
isp1 went from 1.66 to 0.45 of its commit. Either way prefixes came back over the next
minutes. Waiting costs the provider those seconds above its commit, a part of one
sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from routepilot.decide import allocate as alloc
from routepilot.decide.billing import MONTH_SLOTS, BillingInput, allowance, relieve_level
from routepilot.decide.capacity import project
from routepilot.decide.config import PolicyConfig
from routepilot.decide.context import Round
from routepilot.decide.frame import MBPS, Frame
from routepilot.decide.quality import penalty, pick
from routepilot.decide.reasons import Reason

COMMIT_WEIGHT = 1e3
"""Objective cost of one Mbps above a level: more than any move within the latency
tolerance costs (ms per Mbps), less than a Mbps over a capacity limit."""
_MOVE_EPS = 1e-6
_GO_ON = (Reason.OUTAGE, Reason.LOSS)
"""Moves that a commit may carry on to another provider as good (see the docstring)."""
_RANK_EPS = 1e-3


@dataclass(frozen=True)
class Budget:
    """Per provider column: where it stands against its commit this round."""

    commit_bps: np.ndarray
    """The provider's commit (0: none)."""
    level_bps: np.ndarray
    """Rate above which it is relieved (inf: never)."""
    free: np.ndarray
    """Free samples of its period (the burst allowance)."""
    left: np.ndarray
    """Of which still unused."""
    controlled: np.ndarray
    """Relieved when above its level."""
    target_ok: np.ndarray
    """May receive relieved traffic (not excluded, not the last resort)."""
    last_resort: int
    """Column of the last-resort provider (-1: none)."""
    rank: np.ndarray
    """Preference for relieved traffic (0 first)."""
    by_commit: np.ndarray
    """Latency improvements on this provider give way to its commit."""


def _aligned_sum(series: list[tuple[float, ...]]) -> tuple[float, ...]:
    """Samples of providers billed together, summed slot by slot from the newest back."""
    n = max((len(s) for s in series), default=0)
    out = np.zeros(n)
    for s in series:
        if s:
            out[n - len(s) :] += np.asarray(s, dtype=float)
    return tuple(out.tolist())


def budget(f: Frame, policy: PolicyConfig, billing: Mapping[str, BillingInput] | None) -> Budget:
    """Each provider's commit, level and allowance from the billing inputs (flows' samples
    over a 30-day period when ``billing`` is None)."""
    cfg = policy.commit
    names = f.providers
    k = len(names)
    inputs: dict[str, BillingInput] = dict(billing or {})
    for c, name in enumerate(names):
        if name not in inputs:
            inputs[name] = BillingInput(tuple(f.billing[c].tolist()), MONTH_SLOTS)
    commit = f.commit_bps.astype(float).copy()
    level = np.full(k, np.inf)
    free = np.zeros(k, dtype=np.int64)
    left = np.zeros(k, dtype=np.int64)
    for c, name in enumerate(names):
        b = inputs[name]
        free[c], left[c] = allowance(b, commit[c]) if commit[c] > 0 else (0, 0)
        level[c] = relieve_level(
            commit[c], int(free[c]), int(left[c]), cfg.relieve_start_pct, cfg.relieve_margin_pct
        )
    col = {n: c for c, n in enumerate(names)}
    for g in cfg.groups:
        members = [col[p] for p in g.providers if p in col]
        if not members:
            continue
        g_commit = g.commit_mbps * MBPS or float(commit[members].sum())
        if g_commit <= 0:
            continue
        first = inputs[names[members[0]]]
        samples = _aligned_sum([inputs[names[m]].samples for m in members])
        g_free, g_left = allowance(BillingInput(samples, first.slots, first.percentile), g_commit)
        g_level = relieve_level(
            g_commit, g_free, g_left, cfg.relieve_start_pct, cfg.relieve_margin_pct
        )
        weights = commit[members] if g.balance == "commit" and commit[members].sum() > 0 else None
        share = (
            weights / weights.sum()
            if weights is not None
            else np.full(len(members), 1 / len(members))
        )
        # Billed together: the group's level, shared out, replaces the members' own.
        for m, s in zip(members, share.tolist(), strict=True):
            level[m], commit[m] = g_level * s, g_commit * s
            free[m], left[m] = g_free, g_left
    excluded = np.array([n in cfg.excluded for n in names], dtype=bool)
    lr = col.get(cfg.last_resort, -1) if cfg.last_resort else -1
    controlled = np.isfinite(level) & ~excluded & cfg.enabled
    if policy.mode == "cost":
        # In cost mode a priced provider's commit is where its price starts, and the cost
        # allocation already weighs that price against performance: it governs them.
        controlled &= ~(f.price_per_bps > 0)
    target_ok = ~excluded
    if lr >= 0:
        target_ok[lr] = False
    order = {n: i for i, n in enumerate(cfg.order)}
    rank = np.array([order.get(n, len(order) + c) for c, n in enumerate(names)], dtype=float)
    by_commit = np.array(
        [cfg.precedence_by_provider.get(n, cfg.precedence) == "commit" for n in names], dtype=bool
    )
    return Budget(
        commit, np.where(controlled, level, np.inf), free, left, controlled, target_ok, lr, rank,
        by_commit,
    )  # fmt: skip


def pooled_loss(f: Frame) -> np.ndarray:
    """(P,): each provider's loss over every prefix probed through it, weighted by probes
    (NaN for a provider with none)."""
    ok = np.isfinite(f.loss) & (f.samples > 0)
    n = np.where(ok, f.samples, 0).sum(axis=0).astype(float)
    lost = np.where(ok, f.loss * f.samples, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, lost / n, np.nan)


def _acceptable(r: Round, rows: np.ndarray, start: np.ndarray, b: Budget) -> np.ndarray:
    """(rows, P): where each relieved prefix may go. Never lossier than the exit it leaves
    (for this prefix, and over all the provider's probed prefixes), at most the tolerance
    slower, for a prefix with a jitter threshold not more jittery by it, a usable provider
    it did not flee, one open to commit moves; the last resort only once the relieved
    provider's allowance is gone."""
    f, q = r.f, r.q
    tol = r.policy.commit.latency_tolerance_ms
    pooled = pooled_loss(f)
    # A provider losing more over all its probed prefixes than the one left (by half a
    # loss threshold) is lossier for every prefix: one prefix's few probes can miss a
    # 10 % loss (40 probes all answered, 1.5 % of the time), the provider's hundreds not.
    slack = r.policy.loss_threshold_pct / 200
    open_ = ~(pooled[None, :] > np.nan_to_num(pooled[start], nan=0.0)[:, None] + slack)
    loss_s = np.nan_to_num(f.loss[rows, start], nan=0.0)[:, None]
    rtt_s = f.rtt[rows, start][:, None]
    loss, rtt = f.loss[rows], f.rtt[rows]
    with np.errstate(invalid="ignore"):
        fine = np.isfinite(loss) & (loss <= loss_s + 1e-12) & np.isfinite(rtt)
        fine &= np.isnan(rtt_s) | (rtt <= rtt_s + tol)
        if r.jitter_threshold is not None:
            # A voice prefix (a rule's jitter threshold) is not relieved onto a path more
            # jittery than the exit it leaves by that threshold.
            jit_s = f.jitter[rows, start][:, None]
            fine &= ~((f.jitter[rows] - jit_s) >= r.jitter_threshold[rows][:, None])
    base = q.usable[rows] & ~r.avoid[rows] & fine & open_
    allowed = base & b.target_ok[None, :]
    if b.last_resort >= 0:
        allowed[:, b.last_resort] = base[:, b.last_resort] & (b.left[start] == 0)
    return allowed


def relieve(r: Round, b: Budget) -> dict[str, object]:
    """Moves prefixes off providers projected above their level where others have room;
    returns what the allocator scored (empty when nobody was above)."""
    f, policy, desired = r.f, r.policy, r.desired
    if not f.whole:
        return {"held": "traffic view not whole"}
    load = project(r, desired)
    over = b.controlled & (load > b.level_bps)
    if not over.any():
        return {}
    moved_now = desired != r.cur
    col = np.maximum(desired, 0)
    yields = b.by_commit[col]
    # Jitter improvements rank with latency ones: kept in performance precedence, given
    # up in commit precedence. Outage and loss moves, in force or made this round, go on
    # as any relieved prefix does (no lossier, within the tolerance, never back where
    # they fled): what they gained stays.
    latency = (Reason.LATENCY, Reason.JITTER)
    in_force = (r.cur != r.default) & (r.cur >= 0) & ~moved_now
    in_force &= np.isin(r.act_reason, (*latency, Reason.PINNED))
    protected = in_force & ~(yields & np.isin(r.act_reason, latency))
    fled = moved_now & np.isin(r.reason, _GO_ON)
    settled = r.decided & ~(yields & moved_now & np.isin(r.reason, latency)) & ~fled
    movable = (
        (desired >= 0) & over[col] & (r.demand > 0) & ~r.pin_ok & ~r.excluded & ~f.unprobeable
        & (~r.hold | moved_now) & ~protected & ~settled
    )  # fmt: skip
    rows = np.flatnonzero(movable)
    if rows.size == 0:
        return {"over": [f.providers[k] for k in np.flatnonzero(over)]}
    nprov = len(f.providers)
    start = desired[rows]
    allowed = r.prefer_avoiding(_acceptable(r, rows, start, b), rows)
    idx = np.arange(rows.size)
    allowed[idx, start] = True
    pen = penalty(f, desired, policy)[rows] + _RANK_EPS * b.rank[None, :]
    pen = pen + _MOVE_EPS * (np.arange(nprov)[None, :] != start[:, None])
    pen[idx, start] = 0.0
    t = r.demand[rows] / MBPS
    fixed = load / MBPS - np.bincount(start, weights=t, minlength=nprov)
    limit = f.capacity_bps * policy.target_utilization_pct / 100 / MBPS
    levels = np.where(b.controlled, b.level_bps / MBPS, np.inf)
    price = np.where(b.controlled, COMMIT_WEIGHT, 0.0)
    problem = alloc.Problem(t, start, allowed, pen, fixed, limit, levels, price)
    assign, info = alloc.allocate(problem, policy.allocator, policy.lp_max_prefixes)
    info["filled"] = _fill(problem, assign)
    changed = assign != start
    moved_rows, new = rows[changed], assign[changed]
    desired[moved_rows] = new
    # A move made this round for loss or an outage keeps its reason: it only lands
    # elsewhere; one in force that goes on now is a commit move.
    r.reason[moved_rows[~fled[moved_rows]]] = Reason.COMMIT
    back = moved_rows[new == r.default[moved_rows]]
    r.reason[back] = Reason.DEFAULT
    r.decided[moved_rows] = True
    info["over"] = [f.providers[k] for k in np.flatnonzero(over)]
    return info


def _fill(p: alloc.Problem, assign: np.ndarray) -> int:
    """First fit after the allocation: while a provider is above its level, each prefix
    still on it (least harmful first, then the smallest) goes to the allowed provider with
    room where it costs least. The allocators value every relieved Mbps alike, so the LP
    may fill the room with parts of big prefixes that rounding sends home, and the greedy
    stops at the first prefix too big for a gap: a smaller one that fits would stay.
    Returns how many prefixes it moved."""
    load = p.loads(assign)
    cap = np.minimum(np.where(np.isfinite(p.commit), p.commit, np.inf), p.limit)
    moved = 0
    for k in np.flatnonzero(np.isfinite(p.commit) & (load > p.commit + 1e-9)).tolist():
        rows = np.flatnonzero((assign == k) & (p.start == k))
        alt = np.where(p.allowed[rows], p.penalty[rows], np.inf)
        alt[:, k] = np.inf
        order = np.lexsort((p.traffic[rows], alt.min(axis=1)))
        for r in rows[order].tolist():
            if load[k] <= p.commit[k] + 1e-9:
                break
            cost = np.where(
                p.allowed[r] & (load + p.traffic[r] <= cap + 1e-9), p.penalty[r], np.inf
            )
            cost[k] = np.inf
            j = int(np.argmin(cost))
            if np.isfinite(cost[j]):
                assign[r] = j
                load[k] -= p.traffic[r]
                load[j] += p.traffic[r]
                moved += 1
    return moved


def come_home(r: Round, b: Budget) -> None:
    """Brings commit detours back to BGP's choice when it has room under its level less the
    hysteresis (and under the capacity target less its hysteresis), busiest first, and the
    return is no lossier, within the latency tolerance and, for a prefix with a jitter
    threshold, not more jittery by it. Not on a traffic view that is not whole (see the
    module docstring)."""
    if not r.f.whole:
        return
    d = r.default
    home = (
        (r.act_reason == Reason.COMMIT) & (r.cur != d) & (d >= 0) & ~r.decided & ~r.hold
        & pick(r.q.usable, d) & ~r.onto_crossing(d)
    )  # fmt: skip
    # The return must itself be acceptable: a detour that left a latency improvement
    # (precedence: commit) does not fall back onto a much slower default, from where the
    # latency rule would send it back over the commit at once.
    f, cur = r.f, r.cur
    tol = r.policy.commit.latency_tolerance_ms
    with np.errstate(invalid="ignore"):
        home &= ~(pick(f.loss, d) > np.nan_to_num(pick(f.loss, cur), nan=np.inf) + 1e-12)
        home &= ~(pick(f.rtt, d) > pick(f.rtt, cur) + tol)
        if r.jitter_threshold is not None:
            # Likewise a voice prefix does not fall back onto a default more jittery by
            # its rule's threshold, from where the jitter rule would send it back.
            home &= ~((pick(f.jitter, d) - pick(f.jitter, cur)) >= r.jitter_threshold)
    rows = np.flatnonzero(home)
    if rows.size == 0:
        return
    policy = r.policy
    load = project(r, r.desired)
    hyst = b.commit_bps * policy.commit.hysteresis_pct / 100
    room = np.where(b.controlled, b.level_bps - hyst, np.inf) - load
    cap = policy.target_utilization_pct - policy.capacity_hysteresis_pct
    room = np.minimum(room, r.f.capacity_bps * cap / 100 - load)
    rows = rows[np.argsort(-r.demand[rows], kind="stable")]
    for j in np.unique(d[rows]):
        left = room[j]
        for i in rows[d[rows] == j].tolist():
            if r.demand[i] <= left:
                left -= r.demand[i]
                r.desired[i] = j
                r.reason[i] = Reason.REVERT
                r.decided[i] = True


__all__ = ["COMMIT_WEIGHT", "Budget", "budget", "come_home", "relieve"]
