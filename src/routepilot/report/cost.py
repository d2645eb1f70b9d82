"""Cost and commit against BGP's default.

Burstable billing: a provider's rate is averaged over 5-minute windows, the
top 5% of windows are discarded and the highest remaining one is billed
(the 95th percentile); traffic above the commit costs ``cost_per_mbps``.
The counterfactual puts each moved prefix's traffic back on BGP's default
for as long as its move was active, and bills that instead.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence

from routepilot.report.benefit import Interval

BILLING_WINDOW_S = 300.0


def p95(samples: Sequence[float]) -> float | None:
    """The 95th percentile as billed: sorted ascending, the value at rank ceil(0.95 n)."""
    xs = sorted(samples)
    if not xs:
        return None
    return xs[max(0, math.ceil(0.95 * len(xs)) - 1)]


def windows(points: Sequence[tuple[float, float]]) -> list[float]:
    """Per-minute rates → the mean rate of each 5-minute window that has any point."""
    acc: dict[float, list[float]] = defaultdict(list)
    for t, v in points:
        acc[t - t % BILLING_WINDOW_S].append(v)
    return [sum(v) / len(v) for _, v in sorted(acc.items())]


def overage_cost(p95_bps: float | None, commit_bps: float, cost_per_mbps: float) -> float | None:
    if p95_bps is None:
        return None
    return max(0.0, p95_bps - commit_bps) / 1e6 * cost_per_mbps


def cost_section(
    providers: Sequence[dict], utilization: Sequence[dict], ivs: Sequence[Interval]
) -> dict:
    """Per provider: the 95th percentile and overage cost as routed and as BGP would have."""
    times = sorted({u["time"] for u in utilization})
    shift: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for i in ivs:
        for t in times[bisect_left(times, i.start) : bisect_left(times, i.end)]:
            shift[i.chosen][t] -= i.traffic_bps
            shift[i.default][t] += i.traffic_bps
    rows = []
    for p in providers:
        name = p["name"]
        pts = [(u["time"], u["rate_bps"]) for u in utilization if u["provider"] == name]
        cf = [(t, max(0.0, v + shift[name].get(t, 0.0))) for t, v in pts]
        commit = float(p.get("commit_bps") or 0.0)
        price = float(p.get("cost_per_mbps") or 0.0)
        actual, default = p95(windows(pts)), p95(windows(cf))
        rows.append(
            {
                "name": name,
                "commit_bps": commit,
                "capacity_bps": p.get("capacity_bps"),
                "cost_per_mbps": price,
                "p95_bps": actual,
                "p95_default_bps": default,
                "commit_used": actual / commit if commit and actual is not None else None,
                "commit_used_default": default / commit if commit and default is not None else None,
                "cost": overage_cost(actual, commit, price),
                "cost_default": overage_cost(default, commit, price),
            }
        )
    total = sum(r["cost"] or 0.0 for r in rows)
    total_default = sum(r["cost_default"] or 0.0 for r in rows)
    return {
        "providers": rows,
        "total": total,
        "total_default": total_default,
        "saved": total_default - total,
    }


def total_bits(utilization: Sequence[dict], step_s: float) -> float:
    """All traffic through every provider over the period, in bits."""
    return sum(u["rate_bps"] for u in utilization) * step_s


def billing_period(billing: dict | None) -> dict | None:
    """The open billing period as the providers bill it, from the controller's billing view:
    per provider and group the 95th so far and projected to the period's end, with and
    without routepilot, and the cost above the commit of each; None without a view."""
    if not billing:
        return None
    rows = [
        {
            k: e.get(k)
            for k in (
                "name", "kind", "mode", "samples", "slots", "commit_bps", "current_bps",
                "projected_bps", "projected_without_bps", "burst_left", "burst_free", "cost",
                "cost_projected", "cost_projected_without", "saving_projected",
            )
        }
        for e in [*billing.get("providers", []), *billing.get("groups", [])]
    ]  # fmt: skip
    providers = [r for r in rows if r["kind"] == "provider"]
    with_rp = [r["cost_projected"] for r in providers if r["cost_projected"] is not None]
    without = [
        r["cost_projected_without"] for r in providers if r["cost_projected_without"] is not None
    ]
    return {
        "source": billing.get("source"),
        "sample_s": billing.get("sample_s"),
        "rows": rows,
        "projected_total": sum(with_rp) if with_rp else None,
        "projected_total_without": sum(without) if len(without) == len(providers) else None,
    }
