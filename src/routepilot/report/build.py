"""A report as one JSON-ready dict: the numbers, and the series its plots draw."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from routepilot import __version__
from routepilot.report import benefit as bf
from routepilot.report.config import SlaConfig
from routepilot.report.cost import billing_period, cost_section, total_bits
from routepilot.report.source import ReportData
from routepilot.report.stats import providers_section

TOP_MOVES = 50
"""How many improvement intervals the report lists, most traffic first."""


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_report(data: ReportData, sla: SlaConfig | None = None) -> dict:
    """Computes every section of the report from ``data``."""
    sla = sla or SlaConfig()
    ivs = bf.intervals(data.decisions, data.since, data.until)
    for iv in ivs:
        bf.measure(iv, data.prefix_series.get(iv.prefix, []), data.step_s, sla.down_loss)
    in_period = [d for d in data.decisions if d["time"] >= data.since]
    return {
        "report": "routepilot performance report",
        "version": __version__,
        "generated": _iso(time.time()),
        "period": {
            "since": data.since,
            "until": data.until,
            "since_iso": _iso(data.since),
            "until_iso": _iso(data.until),
            "seconds": data.until - data.since,
            "step_s": data.step_s,
        },
        "providers": providers_section(data.providers, data.provider_series, sla),
        "benefit": {
            "moves": sum(1 for d in in_period if not d.get("dry_run")),
            "dry_run_moves": sum(1 for d in in_period if d.get("dry_run")),
            "journal_truncated": data.journal_truncated,
            **bf.summarise(ivs, total_bits(data.utilization, data.step_s)),
        },
        "by_reason": bf.by_reason(ivs, data.decisions, data.since),
        "outages": bf.outages(ivs, sla.down_loss),
        "cost": {
            **cost_section(data.providers, data.utilization, ivs),
            "billing_period": billing_period(data.billing),
        },
        "incidents": incidents_section(data.incidents, data.since, data.until),
        "moves": [_move(i) for i in sorted(ivs, key=lambda i: -i.bits)[:TOP_MOVES]],
        "series": _series(data, ivs),
    }


def incidents_section(rows: list[dict] | None, since: float, until: float) -> dict | None:
    """The incidents open at some time in the period, counted by cause (None: the source
    gives no incidents)."""
    if rows is None:
        return None
    inside = [
        r for r in rows
        if r["opened"] < until and (r.get("closed") is None or r["closed"] >= since)
    ]  # fmt: skip
    by_kind = {k: sum(1 for r in inside if r["cause"]["kind"] == k) for k in KINDS}
    return {
        "total": len(inside),
        "open": sum(1 for r in inside if r.get("closed") is None),
        "by_cause": by_kind,
        "list": [
            {"id": r["id"], "cause": r["cause"], "opened": r["opened"], "closed": r.get("closed"),
             "prefixes": len(r.get("prefixes", []))}
            for r in sorted(inside, key=lambda r: r["opened"])
        ],
    }  # fmt: skip


KINDS = ("as", "provider", "prefix")


def _move(i: bf.Interval) -> dict:
    s = bf.summarise([i])
    return {
        "prefix": i.prefix,
        "reason": i.reason,
        "from": i.default,
        "to": i.chosen,
        "start": i.start,
        "end": i.end,
        "traffic_bps": i.traffic_bps,
        "minutes_measured": i.seconds / 60,
        "estimated": i.estimated,
        "rtt_default_ms": s["bgp_default"]["rtt_ms"],
        "rtt_chosen_ms": s["routepilot"]["rtt_ms"],
        "loss_default": s["bgp_default"]["loss"],
        "loss_chosen": s["routepilot"]["loss"],
        "outage_minutes": i.outage_s / 60,
    }


def _series(data: ReportData, ivs: list[bf.Interval]) -> dict:
    """What the plots draw: per provider RTT/loss and rate, and the benefit over time."""
    rtt: dict[str, list] = {}
    loss: dict[str, list] = {}
    rate: dict[str, list] = {}
    for r in data.provider_series:
        rtt.setdefault(r["provider"], []).append([r["time"], r.get("rtt_ms")])
        loss.setdefault(r["provider"], []).append([r["time"], r.get("loss")])
    for u in data.utilization:
        rate.setdefault(u["provider"], []).append([u["time"], u["rate_bps"]])
    return {
        "rtt_ms": rtt,
        "loss": loss,
        "rate_bps": rate,
        "benefit_rtt_ms": [list(x) for x in bf.timeline(ivs)],
    }
