"""Global allocation of movable prefixes to providers: greedy, and an LP with HiGHS.

Both solve the same problem. Each movable prefix r carries ``traffic[r]`` and
starts on ``start[r]``; it may go to any provider ``allowed`` for it, at a
performance ``penalty`` per Mbps. Each provider has traffic that does not move
(``fixed``), a ``limit`` (target utilization) and, for cost, a ``commit`` level
above which every Mbps costs ``price``. The objective is the sum of penalties,
plus the price of traffic above commit, plus a large penalty per Mbps above a
limit (soft, so that an impossible round still gets the least-bad answer).

The greedy is the Edge Fabric approach: relieve the most overloaded link by
detouring the prefixes whose move costs least, then move paying traffic to
links with room under their commit or a lower price. The LP relaxes the
one-exit-per-prefix rule; its solution has few fractional rows, rounded to
their largest share and repaired by the greedy. ``allocate`` runs what the
policy asks, and with "auto" both, keeping the better objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_LP_METHOD = "highs-ds"
OVER_LIMIT_COST = 1e4
"""Objective cost of one Mbps above a link's limit: dearer than any penalty or price."""


@dataclass(frozen=True)
class Problem:
    """An allocation problem; traffic, loads and limits in Mbps, price per Mbps."""

    traffic: np.ndarray
    start: np.ndarray
    allowed: np.ndarray
    penalty: np.ndarray
    fixed: np.ndarray
    limit: np.ndarray
    commit: np.ndarray
    price: np.ndarray

    @property
    def providers(self) -> int:
        return int(self.fixed.shape[0])

    def loads(self, assign: np.ndarray) -> np.ndarray:
        return self.fixed + np.bincount(assign, weights=self.traffic, minlength=self.providers)

    def objective(self, assign: np.ndarray) -> float:
        rows = np.arange(assign.shape[0])
        load = self.loads(assign)
        perf = float((self.traffic * self.penalty[rows, assign]).sum())
        over_commit = np.where(np.isfinite(self.commit), np.maximum(load - self.commit, 0), 0)
        over_limit = np.maximum(load - self.limit, 0)
        return (
            perf
            + float((self.price * over_commit).sum())
            + OVER_LIMIT_COST * float(over_limit.sum())
        )


def _relieve(p: Problem, assign: np.ndarray) -> None:
    """Moves the cheapest prefixes off overloaded links until each is under its limit."""
    t = p.traffic
    stuck: set[int] = set()
    full = np.zeros(p.providers, dtype=bool)
    for _ in range(4 * p.providers + 8):
        load = p.loads(assign)
        over = load - p.limit
        over[list(stuck)] = 0
        if not (over > 1e-9).any():
            return
        k = int(np.argmax(over / np.maximum(p.limit, 1e-9)))
        rows = np.flatnonzero(assign == k)
        head = p.limit - load
        cost = p.penalty[rows] - p.penalty[rows, k][:, None]
        cost[~p.allowed[rows]] = np.inf
        cost[:, k] = np.inf
        cost[:, (head <= 0) | full] = np.inf
        to = np.argmin(cost, axis=1)
        c = cost[np.arange(rows.size), to]
        ok = np.isfinite(c)
        rows, to, c = rows[ok], to[ok], c[ok]
        order = np.lexsort((-t[rows], c))
        rows, to = rows[order], to[order]
        # Take prefixes, least costly first, until the overload is covered ...
        tr = t[rows]
        accept = (np.cumsum(tr) - tr) < over[k]
        # ... and never more into a link than its headroom.
        was_full = int(full.sum())
        for j in np.unique(to[accept]):
            m = accept & (to == j)
            fits = np.cumsum(tr[m]) <= head[j]
            # A link that turned a prefix away is full for this round's later passes.
            full[j] |= not fits.all()
            accept[m] = fits
        if not accept.any() and int(full.sum()) == was_full:
            stuck.add(k)
            continue
        assign[rows[accept]] = to[accept]


def _economise(p: Problem, assign: np.ndarray) -> None:
    """Moves traffic that pays (above commit) to links where it costs less."""
    if not (p.price > 0).any():
        return
    t = p.traffic
    everyone = np.arange(assign.shape[0])
    # Rows on a free link gain only if some link lowers their penalty: find them once.
    cheaper = np.where(p.allowed, p.penalty, np.inf) < p.penalty[everyone, p.start][:, None]
    cheaper = cheaper.any(axis=1)
    full = np.zeros(p.providers, dtype=bool)
    for _ in range(4 * p.providers + 8):
        load = p.loads(assign)
        paying = np.isfinite(p.commit) & (load > p.commit)
        src_price = np.where(paying, p.price, 0.0)
        under = np.isfinite(p.commit) & (load < p.commit)
        dst_price = np.where(under, 0.0, p.price)
        room = np.where(under, p.commit - load, p.limit - load)
        room = np.minimum(room, p.limit - load)
        cand = np.flatnonzero(paying[assign] | cheaper | (assign != p.start))
        if cand.size == 0:
            return
        idx = np.arange(cand.size)
        s_c = assign[cand]
        pen = p.penalty[cand]
        value = src_price[s_c][:, None] - dst_price[None, :] - (pen - pen[idx, s_c][:, None])
        value[~p.allowed[cand]] = -np.inf
        value[idx, s_c] = -np.inf
        value[:, (room <= 0) | full] = -np.inf
        to_c = np.argmax(value, axis=1)
        v_c = value[idx, to_c]
        good = np.flatnonzero(v_c > 1e-12)
        if good.size == 0:
            return
        good = good[np.lexsort((-t[cand[good]], -v_c[good]))]
        rows, to_r, s_r = cand[good], to_c[good], s_c[good]
        tr = t[rows]
        accept = np.ones(rows.size, dtype=bool)
        # A source stops saving once it is back under its commit.
        spare = np.where(paying, load - p.commit, np.inf)
        for k in np.unique(s_r):
            sel = s_r == k
            if np.isfinite(spare[k]) and src_price[k] > 0:
                accept[sel] &= (np.cumsum(tr[sel]) - tr[sel]) < spare[k]
        was_full = int(full.sum())
        for j in np.unique(to_r[accept]):
            sel = accept & (to_r == j)
            fits = np.cumsum(tr[sel]) <= room[j]
            full[j] |= not fits.all()
            accept[sel] = fits
        if not accept.any() and int(full.sum()) == was_full:
            return
        assign[rows[accept]] = to_r[accept]


def greedy(p: Problem) -> np.ndarray:
    assign = p.start.copy()
    _relieve(p, assign)
    _economise(p, assign)
    _relieve(p, assign)
    return assign


def lp(p: Problem, max_rows: int) -> tuple[np.ndarray, float]:
    """Solves the LP relaxation with HiGHS (scipy), rounds, then repairs with the greedy.

    Returns the assignment and the relaxation's objective with every prefix it did
    not cover held where it starts (NaN when it did not solve): a lower bound of
    the whole problem only when it covered every prefix with a choice.
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    m, k = p.allowed.shape
    options = p.allowed.sum(axis=1)
    candidates = np.flatnonzero(options > 1)
    if candidates.size > max_rows:
        # Keep the prefixes cheapest to move (per Mbps), busiest first among equals:
        # the ones a good allocation uses.
        alt = np.where(p.allowed[candidates], p.penalty[candidates], np.inf)
        alt[np.arange(candidates.size), p.start[candidates]] = np.inf
        order = np.lexsort((-p.traffic[candidates], alt.min(axis=1)))[:max_rows]
        candidates = np.sort(candidates[order])
    assign = p.start.copy()
    if candidates.size == 0:
        return greedy(p), float("nan")
    fixed_rows = np.setdiff1d(np.arange(m), candidates)
    fixed = p.fixed + np.bincount(assign[fixed_rows], weights=p.traffic[fixed_rows], minlength=k)
    r_idx, c_idx = np.nonzero(p.allowed[candidates])
    nx = r_idx.size
    t = p.traffic[candidates][r_idx]
    priced = np.flatnonzero(np.isfinite(p.commit) & (p.price > 0))
    # Columns: x (one per allowed pair), then over-commit per priced provider, then
    # over-limit per provider.
    n_oc, n_ol = priced.size, k
    cost = np.concatenate(
        [t * p.penalty[candidates][r_idx, c_idx], p.price[priced], np.full(n_ol, OVER_LIMIT_COST)]
    )
    eq = coo_matrix((np.ones(nx), (r_idx, np.arange(nx))), shape=(candidates.size, cost.size))
    # Limit rows: sum t x - over_limit <= limit - fixed.
    lim_rows = np.concatenate([c_idx, np.arange(k)])
    lim_cols = np.concatenate([np.arange(nx), nx + n_oc + np.arange(k)])
    lim_vals = np.concatenate([t, -np.ones(k)])
    ub_parts = [coo_matrix((lim_vals, (lim_rows, lim_cols)), shape=(k, cost.size))]
    b_ub = [p.limit - fixed]
    if n_oc:
        pos = {int(j): n for n, j in enumerate(priced)}
        sel = np.isin(c_idx, priced)
        rows_oc = np.array([pos[int(j)] for j in c_idx[sel]] + list(range(n_oc)), dtype=np.int64)
        cols_oc = np.concatenate([np.flatnonzero(sel), nx + np.arange(n_oc)])
        vals_oc = np.concatenate([t[sel], -np.ones(n_oc)])
        ub_parts.append(coo_matrix((vals_oc, (rows_oc, cols_oc)), shape=(n_oc, cost.size)))
        b_ub.append(p.commit[priced] - fixed[priced])
    from scipy.sparse import vstack

    res = linprog(
        cost,
        A_ub=vstack(ub_parts).tocsr(),
        b_ub=np.concatenate(b_ub),
        A_eq=eq.tocsr(),
        b_eq=np.ones(candidates.size),
        bounds=(0, None),
        method=_LP_METHOD,
    )
    if res.status != 0 or res.x is None:
        return greedy(p), float("nan")
    share = np.full((candidates.size, k), -1.0)
    share[r_idx, c_idx] = res.x[:nx]
    assign[candidates] = np.argmax(share, axis=1)
    _round_split_rows(p, assign, candidates, share)
    repaired = Problem(p.traffic, assign, p.allowed, p.penalty, p.fixed, p.limit, p.commit, p.price)
    return greedy(repaired), float(res.fun)


def _round_split_rows(
    p: Problem, assign: np.ndarray, candidates: np.ndarray, share: np.ndarray
) -> None:
    """Gives each prefix the LP split between links one exit that fits.

    A basic LP solution splits at most a handful of prefixes (about one per
    binding link limit), but rounding a big one to its larger share can push a
    link over its limit by most of that prefix. Those few go, busiest first, to
    their cheapest allowed link that still has room.
    """
    split = candidates[share.max(axis=1) < 1 - 1e-6]
    if split.size == 0:
        return
    whole = np.setdiff1d(np.arange(assign.size), split)
    load = p.fixed + np.bincount(assign[whole], weights=p.traffic[whole], minlength=p.providers)
    for r in split[np.argsort(-p.traffic[split], kind="stable")]:
        cost = np.where(p.allowed[r], p.penalty[r], np.inf)
        for j in np.argsort(cost, kind="stable"):
            if np.isfinite(cost[j]) and load[j] + p.traffic[r] <= p.limit[j]:
                assign[r] = j
                break
        load[assign[r]] += p.traffic[r]


def allocate(p: Problem, method: str, lp_max_rows: int) -> tuple[np.ndarray, dict[str, object]]:
    """Runs the allocator(s) the policy names; returns the assignment and what each scored."""
    info: dict[str, object] = {"rows": int(p.traffic.shape[0]), "start": p.objective(p.start)}
    results: dict[str, np.ndarray] = {}
    if method in ("greedy", "auto"):
        results["greedy"] = greedy(p)
    if method in ("lp", "auto"):
        results["lp"], info["lp_relaxation"] = lp(p, lp_max_rows)
        info["lp_rows"] = int(min(lp_max_rows, int((p.allowed.sum(axis=1) > 1).sum())))
        info["lp_covers_all"] = bool((p.allowed.sum(axis=1) > 1).sum() <= lp_max_rows)
    scores = {name: p.objective(a) for name, a in results.items()}
    moves = {name: int((a != p.start).sum()) for name, a in results.items()}
    # The lower objective wins; on a tie, fewer moves, then the greedy.
    chosen = min(results, key=lambda n: (round(scores[n], 6), moves[n], n != "greedy"))
    info.update({"method": chosen, "objective": scores, "moves": moves})
    return results[chosen], info
