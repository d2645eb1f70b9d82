"""Counters of rib/, named as Prometheus exposes them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RibMetrics:
    updates_received: int = 0
    paths_received: int = 0
    withdrawals_received: int = 0
    malformed_updates: int = 0
    unknown_next_hop_paths: int = 0
    own_paths_ignored: int = 0
    unknown_router_events: int = 0
    session_ups: int = 0
    session_downs: int = 0
    end_of_rib: int = 0
    speaker_restarts: int = 0
    prefixes: int = 0
    paths: int = 0

    def samples(self) -> dict[str, float]:
        return {
            "routepilot_bgp_updates_received_total": self.updates_received,
            "routepilot_bgp_paths_received_total": self.paths_received,
            "routepilot_bgp_withdrawals_received_total": self.withdrawals_received,
            "routepilot_bgp_malformed_updates_total": self.malformed_updates,
            "routepilot_bgp_unknown_next_hop_paths_total": self.unknown_next_hop_paths,
            "routepilot_bgp_own_paths_ignored_total": self.own_paths_ignored,
            "routepilot_bgp_unknown_router_events_total": self.unknown_router_events,
            "routepilot_bgp_session_ups_total": self.session_ups,
            "routepilot_bgp_session_downs_total": self.session_downs,
            "routepilot_bgp_end_of_rib_total": self.end_of_rib,
            "routepilot_bgp_speaker_restarts_seen_total": self.speaker_restarts,
            "routepilot_rib_prefixes": self.prefixes,
            "routepilot_rib_paths": self.paths,
        }
