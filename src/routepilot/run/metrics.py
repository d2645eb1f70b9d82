"""Prometheus exposition of the controller's counters, gathered from every stage."""

from __future__ import annotations

import math
from typing import Any


def _samples(obj: Any) -> dict[str, float]:
    """A stage's metrics object as name -> value (``samples()`` or its numeric fields)."""
    if obj is None:
        return {}
    if hasattr(obj, "samples"):
        try:
            return dict(obj.samples())
        except TypeError:
            pass
    out = {}
    for k, v in vars(obj).items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            out[k] = float(v)
    return out


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
        name = f"{name}{{{inner}}}"
    if math.isnan(value):
        return f"{name} NaN"
    return f"{name} {value:g}"


def render_metrics(controller: Any) -> str:
    c = controller
    lines: list[str] = []

    def family(prefix: str, obj: Any) -> None:
        for key, value in sorted(_samples(obj).items()):
            name = key if key.startswith("routepilot_") else f"routepilot_{prefix}_{key}"
            lines.append(_line(name, value))

    family("flows", c.pipeline.metrics)
    family("rib", c.rib.metrics)
    family("inject", c.injector.metrics)
    family("speaker", getattr(c.speaker, "metrics", None))
    if c.prober is not None:
        family("probe", c.prober.metrics)
    lines.append("# TYPE routepilot_decision_rounds_total counter")
    lines.append(_line("routepilot_decision_rounds_total", c.cycle_stats.count))
    lines.append(_line("routepilot_decision_round_errors_total", c.cycle_stats.errors))
    lines.append(
        _line("routepilot_decision_round_duration_seconds", c.cycle_stats.duration_ms / 1000)
    )
    lines.append(_line("routepilot_moves_total", c.cycle_stats.moves_total))
    lines.append(_line("routepilot_outage_wakeups_total", c.outage_wakeups))
    lines.append(_line("routepilot_injected_routes", len(c.injector.announced)))
    lines.append(_line("routepilot_paused", float(c.operator.paused)))
    lines.append(_line("routepilot_dry_run", float(c.injector.dry_run)))
    for router, up in c.rib.session_up.items():
        lines.append(_line("routepilot_bgp_session_up", float(up), {"router": router}))
    return "\n".join(lines) + "\n"
