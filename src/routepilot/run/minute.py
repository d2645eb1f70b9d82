"""The probe minute in progress as API measurement points, beside the stored minutes.

Probe rollups reach the store when their minute ends, so a controller started a
minute ago had nothing to chart (the demo's dashboard stayed empty). The view adds
the minute so far, summed as the store sums a bucket: the RTT medians weighted by
answers, the highest 90th percentile, loss as lost / sent over the paths.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from routepilot.probe.rollup import ProbeRollup


def _num(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else float(x)


def minute_points(
    rows: Iterable[ProbeRollup],
    prefix: str | None,
    provider: str | None,
    after: dict[str, float],
    until: float,
    step_s: float,
) -> list[dict]:
    """Points (the API's MeasurementPoint fields) for the rows of the minute in progress,
    per provider, for one prefix or (None) all; only for providers whose last stored
    bucket (``after``) is before this minute's bucket, and not past ``until``."""
    sums: dict[str, list[float]] = {}
    bucket = None
    for r in rows:
        if (prefix is not None and r.prefix != prefix) or (
            provider is not None and r.provider != provider
        ):
            continue
        if r.minute < 0:  # before the prober's first minute began
            continue
        bucket = math.floor(r.minute / step_s) * step_s
        s = sums.setdefault(r.provider, [0.0, 0.0, -math.inf, 0.0, 0.0])
        if r.answered and not math.isnan(r.rtt_median_ms):
            s[0] += r.rtt_median_ms * r.answered
            s[1] += r.answered
        if not math.isnan(r.rtt_p90_ms):
            s[2] = max(s[2], r.rtt_p90_ms)
        s[3] += r.sent
        s[4] += r.answered
    if bucket is None or bucket >= until:
        return []
    out = []
    for name in sorted(sums):
        rtt_sum, rtt_n, p90, sent, answered = sums[name]
        if sent <= 0 or after.get(name, -math.inf) >= bucket:
            continue
        out.append(
            {
                "time": float(bucket),
                "prefix": prefix,
                "provider": name,
                "rtt_ms": _num(rtt_sum / rtt_n) if rtt_n else None,
                "rtt_p90_ms": _num(p90),
                "loss": 1 - answered / sent,
                "samples": int(sent),
            }
        )
    return out
