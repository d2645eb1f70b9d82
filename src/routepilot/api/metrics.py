"""The API's own metrics and the controller-level gauges derived from the view.

Both are collectors for the daemon's one registry (``routepilot.metrics``):
:class:`ApiMetrics` counts the requests the API answers and times them;
:class:`ViewMetrics` derives provider health, RTT, loss, utilization and
sessions from what ``ControllerView`` reports, so those gauges exist whichever
daemon implements the view (the real one, or ``FakeView`` for the dashboard
demo).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence

from prometheus_client.metrics_core import HistogramMetricFamily

from routepilot.api.view import ControllerView
from routepilot.metrics import Metric, StageMetrics, counter, gauge, histogram

DURATION_BOUNDS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)


class ApiMetrics(StageMetrics):
    """Requests answered (by method, route and status code) and their durations (by route)."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.duration_counts: dict[str, list[int]] = {}
        self.duration_sums: defaultdict[str, float] = defaultdict(float)

    def observe(self, method: str, route: str, code: int, seconds: float) -> None:
        self.requests[method, route, str(code)] += 1
        counts = self.duration_counts.setdefault(route, [0] * (len(DURATION_BOUNDS_S) + 1))
        counts[bisect_left(DURATION_BOUNDS_S, seconds)] += 1
        self.duration_sums[route] += seconds

    def collect(self) -> Iterator[Metric]:
        yield counter(
            "routepilot_api_requests_total",
            "API requests answered.",
            labels=("method", "route", "code"),
            values=self.requests,
        )
        name, help_text = (
            "routepilot_api_request_duration_seconds",
            "Time to answer an API request.",
        )
        family = HistogramMetricFamily(name, help_text, labels=("route",))
        for route, counts in sorted(self.duration_counts.items()):
            sum_s = self.duration_sums[route]
            histogram(name, help_text, DURATION_BOUNDS_S, counts, sum_s, family=family,
                      label_values=(route,))  # fmt: skip
        yield family


def _bytes(bps: float | None) -> float | None:
    """The API speaks bits per second, as network engineers do; Prometheus's base unit is
    the byte, so exposed rates are divided by 8."""
    return None if bps is None else bps / 8


def _flag(value: object) -> float:
    return 1.0 if value else 0.0


# Per-provider gauges: (name, view field, help, conversion).
_PROVIDER = (
    ("session_up", "session_up", "1 when the provider's routes reach the controller.", _flag),
    ("healthy", "healthy", "1 when the provider answers its probes.", _flag),
    (
        "rtt_seconds",
        "rtt_ms",
        "Median RTT over the provider's probed prefixes.",
        lambda v: None if v is None else v / 1000.0,
    ),
    ("loss_ratio", "loss", "Probe loss through the provider, 0..1.", None),
    ("rate_bytes_per_second", "rate_bps", "Traffic leaving by the provider.", _bytes),
    ("capacity_bytes_per_second", "capacity_bps", "Capacity of the provider's link.", _bytes),
    ("commit_bytes_per_second", "commit_bps", "Committed rate (0: none).", _bytes),
    ("p95_bytes_per_second", "p95_bps", "95th percentile so far in the billing period.", _bytes),
    ("utilization_ratio", "utilization", "rate / capacity.", None),
    ("prefixes_routed", "prefixes_routed", "Busy prefixes leaving by the provider.", None),
)


def view_families(status: Mapping, providers: Sequence[Mapping]) -> list[Metric]:
    """Controller-level families from ``status()`` and ``providers()`` (see api/view.py).

    A value the view does not know (``None``) gives no sample: Prometheus then shows
    the series as absent rather than as a misleading 0. The decision rounds (count,
    errors, duration) are not here: the daemon's controller collector exposes them
    (``routepilot_decision_round*``, run/metrics.py), once."""
    counts = status.get("counts") or {}
    out: list[Metric] = [
        gauge("routepilot_up", "1 while the controller answers the API.", 1),
        gauge(
            "routepilot_paused",
            "1 when control is paused (no changes are made).",
            _flag(status.get("paused")),
        ),
        gauge(
            "routepilot_dry_run",
            "1 in recommendation mode (nothing is announced).",
            _flag(status.get("dry_run")),
        ),
        gauge(
            "routepilot_degraded",
            "1 when the controller reports itself degraded.",
            _flag(status.get("degraded")),
        ),
        gauge("routepilot_prefixes", "Busy prefixes tracked.", counts.get("prefixes")),
        gauge(
            "routepilot_active_improvements",
            "Prefixes currently routed away from BGP's default.",
            counts.get("active_improvements"),
        ),
        gauge(
            "routepilot_moves_last_hour",
            "Journal entries in the last hour.",
            counts.get("moves_last_hour"),
        ),
        gauge(
            "routepilot_bgp_session_up",
            "1 when the iBGP session to the edge router is established.",
            labels=("router",),
            values={
                r: _flag(state == "established")
                for r, state in (status.get("sessions") or {}).items()
            },
        ),
    ]
    for suffix, key, help_text, convert in _PROVIDER:
        values = {}
        for p in providers:
            value = p.get(key)
            values[str(p.get("name"))] = convert(value) if convert is not None else value
        out.append(
            gauge(f"routepilot_provider_{suffix}", help_text, labels=("provider",), values=values)
        )
    return out


class ViewMetrics(StageMetrics):
    """The view's gauges, read at each scrape."""

    def __init__(self, view: ControllerView) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        yield from view_families(self.view.status(), self.view.providers())

    def describe(self) -> list[Metric]:
        # Read from a view with nothing in it: registering must not depend on the
        # controller's state (a view may not answer before its daemon has started).
        return [
            Metric(m.name, m.documentation, m.type)
            for m in view_families({}, [{"name": "describe"}])
        ]
