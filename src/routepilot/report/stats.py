"""Per-provider latency and loss percentiles, availability and SLA compliance.

Computed over the per-minute rollups of each provider's aggregate (the median
RTT and the loss over the prefixes probed through it), so a percentile here is
a percentile of minutes: "95% of minutes had a median RTT at or under X".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from routepilot.report.config import SlaConfig


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def provider_stats(rows: Sequence[dict], down_loss: float) -> dict:
    """One provider's rollups → RTT and loss summary, availability.

    A minute counts when it has a loss figure; it is down when its loss is at
    least ``down_loss``. Mean loss weighs each minute by its probe count.
    """
    rtts = [r["rtt_ms"] for r in rows if r.get("rtt_ms") is not None]
    probed = [r for r in rows if r.get("loss") is not None]
    weights = [max(0, r.get("samples") or 0) or 1 for r in probed]
    sent = sum(weights)
    down = sum(1 for r in probed if r["loss"] >= down_loss)
    return {
        "rtt_ms": {
            "mean": sum(rtts) / len(rtts) if rtts else None,
            "p50": quantile(rtts, 0.50),
            "p90": quantile(rtts, 0.90),
            "p95": quantile(rtts, 0.95),
            "p99": quantile(rtts, 0.99),
        },
        "loss": {
            "mean": sum(r["loss"] * w for r, w in zip(probed, weights, strict=True)) / sent
            if probed
            else None,
            "p95": quantile([r["loss"] for r in probed], 0.95),
            "max": max((r["loss"] for r in probed), default=None),
        },
        "minutes": len(probed),
        "down_minutes": down,
        "availability": 1 - down / len(probed) if probed else None,
    }


def sla_check(name: str, stats: dict, rtts: Sequence[float], sla: SlaConfig) -> dict:
    """Each configured target against what was measured; ``met`` is None with no target."""
    target = sla.target(name)
    checks: dict[str, dict] = {}
    if target.rtt_ms is not None:
        got = quantile(rtts, sla.rtt_quantile)
        checks["rtt_ms"] = _check(target.rtt_ms, got, got is not None and got <= target.rtt_ms)
        checks["rtt_ms"]["quantile"] = sla.rtt_quantile
    if target.loss is not None:
        got = stats["loss"]["mean"]
        checks["loss"] = _check(target.loss, got, got is not None and got <= target.loss)
    if target.availability is not None:
        got = stats["availability"]
        ok = got is not None and got >= target.availability
        checks["availability"] = _check(target.availability, got, ok)
    met = all(c["met"] for c in checks.values()) if checks else None
    return {"met": met, "checks": checks}


def _check(target: float, measured: float | None, ok: bool) -> dict:
    return {"target": target, "measured": measured, "met": ok}


def providers_section(
    providers: Sequence[dict], series: Sequence[dict], sla: SlaConfig
) -> list[dict]:
    """The report's provider table: stats and SLA compliance, in the providers' order."""
    out = []
    for p in providers:
        rows = [r for r in series if r["provider"] == p["name"]]
        stats = provider_stats(rows, sla.down_loss)
        rtts = [r["rtt_ms"] for r in rows if r.get("rtt_ms") is not None]
        out.append(
            {
                "name": p["name"],
                "asn": p.get("asn"),
                **stats,
                "sla": sla_check(p["name"], stats, rtts, sla),
            }
        )
    return out
