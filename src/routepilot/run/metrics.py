"""Prometheus exposition of the controller's counters, gathered from every stage.

Each stage's metrics object gives ``(series, value)`` pairs whose series already
carry their labels; the controller's own figures go through the API's renderer,
which writes each family's TYPE once.
"""

from __future__ import annotations

import math
from typing import Any

from routepilot.api.metrics import render_samples


def _stage_lines(prefix: str, obj: Any) -> list[str]:
    """A stage's metrics as exposition lines (``samples()`` or its numeric fields)."""
    if obj is None:
        return []
    if hasattr(obj, "samples"):
        pairs = dict(obj.samples())
    else:
        pairs = {
            k: float(v)
            for k, v in vars(obj).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
    lines = []
    for key, value in sorted(pairs.items()):
        name = key if key.startswith("routepilot_") else f"routepilot_{prefix}_{key}"
        lines.append(f"{name} {'NaN' if math.isnan(value) else format(value, 'g')}")
    return lines


def render_metrics(controller: Any) -> str:
    c = controller
    lines: list[str] = []
    for prefix, obj in (
        ("flows", c.pipeline.metrics),
        ("rib", c.rib.metrics),
        ("inject", c.injector.metrics),
        ("speaker", getattr(c.speaker, "metrics", None)),
        ("probe", c.prober.metrics if c.prober is not None else None),
    ):
        lines += _stage_lines(prefix, obj)
    own = render_samples(
        {
            "routepilot_decision_rounds_total": c.cycle_stats.count,
            "routepilot_decision_round_errors_total": c.cycle_stats.errors,
            "routepilot_decision_round_duration_seconds": c.cycle_stats.duration_ms / 1000,
            "routepilot_moves_total": c.cycle_stats.moves_total,
            "routepilot_outage_wakeups_total": c.outage_wakeups,
            "routepilot_injected_routes": len(c.injector.announced),
            "routepilot_paused": float(c.operator.paused),
            "routepilot_dry_run": float(c.injector.dry_run),
        },
        [
            ("routepilot_bgp_session_up", {"router": r}, float(up))
            for r, up in c.rib.session_up.items()
        ],
    )
    return "\n".join(lines) + "\n" + own
