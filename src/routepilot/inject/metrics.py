"""Counters of inject/, named as Prometheus exposes them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class InjectMetrics:
    announcements: int = 0
    withdrawals: int = 0
    reconciles: int = 0
    resyncs: int = 0
    capped_routes: int = 0
    rejected_routes: int = 0
    dry_run_changes: int = 0
    routes_injected: int = 0
    routes_desired: int = 0

    def samples(self) -> dict[str, float]:
        return {
            "routepilot_inject_announcements_total": self.announcements,
            "routepilot_inject_withdrawals_total": self.withdrawals,
            "routepilot_inject_reconciles_total": self.reconciles,
            "routepilot_inject_resyncs_total": self.resyncs,
            "routepilot_inject_capped_routes_total": self.capped_routes,
            "routepilot_inject_rejected_routes_total": self.rejected_routes,
            "routepilot_inject_dry_run_changes_total": self.dry_run_changes,
            "routepilot_inject_routes": self.routes_injected,
            "routepilot_inject_routes_desired": self.routes_desired,
        }
