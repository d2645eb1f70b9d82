"""Counters of inject/, exposed through the daemon's registry (``routepilot.metrics``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from routepilot.metrics import Metric, StageMetrics, counter, gauge


@dataclass
class InjectMetrics(StageMetrics):
    announcements: int = 0
    withdrawals: int = 0
    reconciles: int = 0
    resyncs: int = 0
    capped_routes: int = 0
    rejected_routes: int = 0
    refused_outside_allowlist: int = 0
    dry_run_changes: int = 0
    routes_injected: int = 0
    routes_desired: int = 0

    def collect(self) -> Iterator[Metric]:
        for name, value, help_text in (
            ("announcements", self.announcements, "Route announcements sent to the speaker."),
            ("withdrawals", self.withdrawals, "Route withdrawals sent to the speaker."),
            ("reconciles", self.reconciles, "Times the desired routes were reconciled."),
            (
                "resyncs",
                self.resyncs,
                "Times a router's table was re-sent in full (its session came up).",
            ),
            ("capped_routes", self.capped_routes, "Desired routes left out by the route cap."),
            (
                "rejected_routes",
                self.rejected_routes,
                "Desired routes refused (invalid, or a prefix asked for twice).",
            ),
            (
                "refused_outside_allowlist",
                self.refused_outside_allowlist,
                "Desired routes refused because they lie outside inject.allowlist.",
            ),
            (
                "dry_run_changes",
                self.dry_run_changes,
                "Announcements and withdrawals recommended but not sent (dry-run).",
            ),
        ):
            yield counter(f"routepilot_inject_{name}_total", help_text, value)
        yield gauge("routepilot_inject_routes", "Routes announced now.", self.routes_injected)
        yield gauge(
            "routepilot_inject_routes_desired",
            "Routes the last decision wants announced.",
            self.routes_desired,
        )
