"""The billing view (``GET /api/v1/billing``, the dashboard's billing page, the report's cost
section): per provider and billing group, where it stands in its period.

With SNMP telemetry the numbers come from the billing ledger (the provider's own mode,
billing day and sample length, the open period kept across restarts); without it, from
flows' 5-minute samples over a 30-day period, said as ``source: flows``. The projection
without routepilot takes each sample's outbound rate less routepilot's net shift onto
the provider in that sample (recorded after every decision round); flows have no such
record, so it is null there.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from routepilot.decide.billing import MONTH_SLOTS, free_slots, projected
from routepilot.telemetry.billing import GREATER

if TYPE_CHECKING:
    from routepilot.run.controller import Controller

RECENT = 288
"""Flows fallback: recent samples repeated to the end of the period (a day of 5 minutes)."""


def _num(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else float(x)


def cost(billable: float | None, commit_bps: float, price_per_mbps: float) -> float | None:
    """What the period costs above the commit at this 95th percentile (null if unknown)."""
    if billable is None:
        return None
    return max(0.0, billable - commit_bps) / 1e6 * price_per_mbps


def _entry(
    name: str, kind: str, commit_bps: float, price: float, level: dict[str, float] | None
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "commit_bps": commit_bps,
        "price_per_mbps": price,
        "level_bps": _num(level["level_bps"]) if level else None,
    }


def _costs(e: dict[str, Any]) -> None:
    c, p = e["commit_bps"], e["price_per_mbps"]
    e["cost"] = cost(e["current_bps"], c, p)
    e["cost_projected"] = cost(e["projected_bps"], c, p)
    e["cost_projected_without"] = cost(e["projected_without_bps"], c, p)
    e["saving_projected"] = (
        e["cost_projected_without"] - e["cost_projected"]
        if e["cost_projected"] is not None and e["cost_projected_without"] is not None
        else None
    )


def billing_view(c: Controller, *, series: bool = False) -> dict[str, Any]:
    """See the module docstring; ``series`` adds every sample of the period."""
    levels = c.last_result.commit if c.last_result is not None else {}
    prices = {p.name: p.cost_per_mbps for p in c.providers}
    commits = {p.name: p.commit_mbps * 1e6 for p in c.providers}
    tel = c.telemetry
    ledger = tel.ledger if tel is not None else None
    if ledger is not None and ledger.period_end:
        return _from_ledger(c, ledger, levels, prices, commits, series)
    traffic = c.last_inputs[0] if c.last_inputs else None
    out: list[dict[str, Any]] = []
    for p in c.providers:
        samples = list(traffic.provider_5m_samples.get(p.name, ())) if traffic else []
        e = _entry(p.name, "provider", commits[p.name], prices[p.name], levels.get(p.name))
        free = free_slots(MONTH_SLOTS)
        over = sum(1 for s in samples if commits[p.name] and s > commits[p.name])
        e.update(
            mode=GREATER,
            period_start=None,
            period_end=None,
            slots=MONTH_SLOTS,
            samples=len(samples),
            current_bps=projected(samples, len(samples), 0, 95.0) if samples else None,
            projected_bps=projected(samples, MONTH_SLOTS, RECENT, 95.0) if samples else None,
            projected_without_bps=None,
            burst_free=free,
            over_commit=over,
            burst_left=max(0, free - over) if commits[p.name] else free,
        )
        _costs(e)
        if series:
            e["series"] = [
                {"start": None, "in_bps": None, "out_bps": s, "billable_bps": s} for s in samples
            ]
        out.append(e)
    return {
        "source": "flows",
        "time": c.clock(),
        "sample_s": 300.0,
        "percentile": 95.0,
        "providers": out,
        "groups": [],
    }


def _from_ledger(
    c: Controller,
    ledger: Any,
    levels: dict[str, dict[str, float]],
    prices: dict[str, float],
    commits: dict[str, float],
    series: bool,
) -> dict[str, Any]:
    cfg = ledger.config
    polled = sorted({lk.provider for lk in c.telemetry.source.config.links})  # type: ignore[union-attr]
    groups = {g.name: g for g in cfg.groups}

    def one(name: str, kind: str) -> dict[str, Any]:
        if kind == "group":
            g = groups[name]
            commit = g.commit_mbps * 1e6
            price = max((prices.get(m, 0.0) for m in g.providers), default=0.0)
        else:
            commit, price = commits.get(name, 0.0), prices.get(name, 0.0)
        st = ledger.status(name, commit)
        e = _entry(name, kind, commit, price, levels.get(name))
        e.update(
            mode=st.mode,
            period_start=st.period_start,
            period_end=st.period_end,
            slots=st.slots,
            samples=st.samples,
            current_bps=st.current.billable_bps if st.samples else None,
            projected_bps=st.projected.billable_bps if st.samples else None,
            projected_without_bps=st.projected_without.billable_bps if st.samples else None,
            burst_free=st.free_slots,
            over_commit=st.over_commit,
            burst_left=st.burst_left,
        )
        _costs(e)
        if series:
            billable = ledger.billable(name)
            e["series"] = [
                {"start": s.start, "in_bps": s.in_bps, "out_bps": s.out_bps, "billable_bps": b}
                for s, b in zip(ledger.series(name), billable, strict=True)
            ]
        return e

    return {
        "source": "snmp",
        "time": c.clock(),
        "sample_s": cfg.sample_s,
        "percentile": cfg.percentile,
        "providers": [one(p, "provider") for p in polled],
        "groups": [one(g, "group") for g in groups],
    }


__all__ = ["billing_view", "cost"]
