"""Counters of the BMP station, exposed through the daemon's registry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from routepilot.metrics import Metric, StageMetrics, counter


@dataclass
class BmpMetrics(StageMetrics):
    connections: int = 0
    unknown_sources: int = 0
    malformed_messages: int = 0
    malformed_updates: int = 0
    ignored_monitoring: int = 0
    statistics_reports: int = 0
    peer_ups: int = 0
    peer_ups_without_open: int = 0
    peer_downs: int = 0
    events: int = 0
    messages: dict[str, int] = field(default_factory=dict)

    def count_message(self, kind: str, count: int = 1) -> None:
        self.messages[kind] = self.messages.get(kind, 0) + count

    def collect(self) -> Iterator[Metric]:
        for name, value, help_text in (
            ("connections", self.connections, "BMP connections accepted from routers."),
            (
                "unknown_sources",
                self.unknown_sources,
                "BMP connections from an address no router is configured with, closed.",
            ),
            (
                "malformed_messages",
                self.malformed_messages,
                "Malformed BMP messages; each closed its session.",
            ),
            (
                "malformed_updates",
                self.malformed_updates,
                "BGP UPDATEs in route monitoring messages that could not be decoded.",
            ),
            (
                "ignored_monitoring",
                self.ignored_monitoring,
                "Route monitoring of pre-policy or Adj-RIB-Out RIBs, ignored.",
            ),
            ("statistics_reports", self.statistics_reports, "Statistics reports (ignored)."),
            ("peer_ups", self.peer_ups, "Peer Up notifications."),
            (
                "peer_ups_without_open",
                self.peer_ups_without_open,
                "Peer Up notifications with an OPEN missing (FRR's bare 19-byte stand-in);"
                " the peer's paths were taken without path ids.",
            ),
            ("peer_downs", self.peer_downs, "Peer Down notifications."),
            ("events", self.events, "Speaker events the station delivered to the RIB."),
        ):
            yield counter(f"routepilot_bmp_{name}_total", help_text, value)
        yield counter(
            "routepilot_bmp_messages_total",
            "BMP messages received, by type.",
            labels=("type",),
            values={(k,): v for k, v in self.messages.items()},
        )
