"""Decision time for 100k prefixes x 8 providers: vectorised vs a naive loop, greedy vs LP.

Goals (issue 5): < 1 s without the LP, < 5 s with it. The peer is a plain
per-prefix Python loop applying the same outage/loss/latency rules
(``naive.py``), measured in the same run on the same input. Kept short: the
machine is shared, so each figure is the best of a few runs.

    .venv/bin/python bench/decide/run.py [--prefixes N] [--providers P] [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from naive import decide_naive  # noqa: E402

from routepilot.decide import DecisionState, PolicyConfig, decide  # noqa: E402
from routepilot.decide.scenario import Provider, make_input, prefixes_v4  # noqa: E402


def build(n: int, p: int, seed: int = 7, overload: bool = False, cost: bool = False):
    rng = np.random.default_rng(seed)
    names = [f"isp{k + 1}" for k in range(p)]
    prefixes = prefixes_v4(n)
    has_route = rng.random((n, p)) < 0.9
    has_route[np.arange(n), rng.integers(0, p, n)] = True
    # BGP's choice: a random provider among those with a route.
    pick = np.where(has_route, rng.random((n, p)), -1.0)
    bgp_best = np.argmax(pick, axis=1)
    # Heavy-tailed traffic (Pareto), 20 Gb/s in all.
    traffic = rng.pareto(1.5, n) + 1
    traffic = traffic / traffic.sum() * 20e9
    base = rng.uniform(5, 150, n)[:, None]
    rtt = base + rng.exponential(8, (n, p))
    loss = np.where(rng.random((n, p)) < 0.03, rng.uniform(0.02, 0.3, (n, p)), 0.0)
    cons = np.where(rng.random((n, p)) < 0.002, 10, 0)
    totals = np.bincount(bgp_best, weights=traffic, minlength=p)
    # Links sized at twice their load; in the overload case the first is at 120%.
    capacity = totals / 1e6 * 2.0
    if overload:
        capacity[0] = totals[0] / 1e6 / 1.2
        # BGP's choice is the fastest path: every detour costs RTT, and the
        # allocators' objectives (traffic x added RTT) can be compared.
        rtt[np.arange(n), bgp_best] = rtt.min(axis=1) - 1.0
    providers = [
        Provider(
            nm,
            capacity_mbps=float(capacity[k]),
            commit_mbps=float(totals[k] / 1e6 * 0.7) if cost else 0.0,
            cost_per_mbps=float(0.2 + 0.1 * k) if cost else 0.0,
        )
        for k, nm in enumerate(names)
    ]
    inp = make_input(
        now=1000.0,
        prefixes=prefixes,
        providers=names,
        bps=traffic,
        rtt=rtt,
        loss=loss,
        has_route=has_route,
        bgp_best=bgp_best,
        consecutive_losses=cons,
        samples=60,
        link_bps={nm: float(totals[k]) for k, nm in enumerate(names)},
    )
    return inp, providers


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _bound(res) -> str:
    value = res.allocation.get("lp_relaxation")
    if value is None:
        return ""
    what = "bound" if res.allocation["lp_covers_all"] else f"over {res.allocation['lp_rows']}"
    return f" lp-relaxation({what})={value:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefixes", type=int, default=100_000)
    ap.add_argument("--providers", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n, p, r = args.prefixes, args.providers, args.repeat
    big = dict(max_improvements=n, max_changes_per_minute=n, latency_rounds=1)
    print(f"decide: {n} prefixes x {p} providers, best of {r}")

    # Warm up imports (scipy's HiGHS binding) outside the timings.
    small, small_provs = build(1000, p, cost=True)
    decide(small, DecisionState(), PolicyConfig(mode="cost", allocator="auto"), small_provs)

    inp, provs = build(n, p)
    pol = PolicyConfig(allocator="greedy", **big)
    t_vec, res = best_of(lambda: decide(inp, DecisionState(), pol, provs), r)
    t_naive, naive_exit = best_of(lambda: decide_naive(inp, pol, provs), 1)
    agree = float((np.asarray(naive_exit) == res.exit).mean())
    print(f"  performance round, vectorised : {t_vec * 1000:8.1f} ms  moves={len(res.changed())}")
    print(f"  performance round, naive loop : {t_naive * 1000:8.1f} ms  (peer)")
    print(f"  ratio naive/vectorised        : {t_naive / t_vec:8.1f}x  exits agree {agree:.2%}")

    # Steady state: the next round, carrying every improvement made above.
    from dataclasses import replace

    later = replace(inp, now=inp.now + 10, injections=res.injections)
    t_steady, res2 = best_of(lambda: decide(later, res.state, pol, provs), r)
    print(
        f"  steady round, {len(res.state.active)} active    : {t_steady * 1000:8.1f} ms  "
        f"moves={len(res2.changed())}"
    )

    inp, provs = build(n, p, overload=True)
    rows = []
    for method in ("greedy", "lp", "auto"):
        pol = PolicyConfig(allocator=method, **big)
        t, res = best_of(lambda pol=pol: decide(inp, DecisionState(), pol, provs), r)
        obj = res.allocation.get("objective", {})
        rows.append((method, t, res, obj))
        util = max(res.projected_bps[pp.name] / (pp.capacity_mbps * 1e6) for pp in provs)
        print(
            f"  capacity round, {method:6s}        : {t * 1000:8.1f} ms  "
            f"moves={len(res.changed())} max-util={util:.1%} "
            f"objective={ {k: round(v, 2) for k, v in obj.items()} }"
            f"{_bound(res)}"
        )
    t_g, t_lp = rows[0][1], rows[1][1]
    print(f"  ratio lp/greedy time          : {t_lp / t_g:8.1f}x")

    inp, provs = build(n, p, cost=True)
    for method in ("greedy", "lp"):
        pol = PolicyConfig(mode="cost", allocator=method, **big)
        t, res = best_of(lambda pol=pol: decide(inp, DecisionState(), pol, provs), r)
        print(
            f"  cost round, {method:6s}            : {t * 1000:8.1f} ms  "
            f"moves={len(res.changed())} "
            f"objective={ {k: round(v, 1) for k, v in res.allocation['objective'].items()} }"
            f"{_bound(res)}"
        )
    ok = max(t_vec, t_steady, t_g) < 1.0 and t_lp < 5.0
    print(f"  goals (<1 s without LP, <5 s with): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
