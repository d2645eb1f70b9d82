"""Counters of the flow collector, named as Prometheus will expose them.

Plain integers in dicts: the hot path increments them in bulk (once per batch,
not once per record), and exposition reads :meth:`FlowMetrics.samples` (or ``labelled_samples``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class FlowMetrics:
    """Every counter and gauge of flows/, one object per collector."""

    datagrams: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    """``routepilot_flow_datagrams_total{protocol}``: datagrams received and parsed."""
    records: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    """``routepilot_flow_records_total{protocol}``: flow records decoded."""
    drops: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    """``routepilot_flow_drops_total{reason}``: what was discarded, counted in records or
    sFlow samples where they are known (a cut datagram, a set whose template never came),
    else in datagrams or sets."""
    sequence_gaps: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    """``routepilot_flow_sequence_gaps_total{protocol}``: what exporters sent that never
    arrived, by their sequence numbers (IPFIX: records; NetFlow v9 and sFlow: datagrams),
    counted once a reorder window has passed without it."""
    kernel_drops: int = 0
    """``routepilot_flow_kernel_drops_total``: datagrams the kernel dropped (SO_RXQ_OVFL)."""
    unattributed_records: int = 0
    """``routepilot_flow_unattributed_records_total``: records no provider matched."""
    unrouted_records: int = 0
    """``routepilot_flow_unrouted_records_total``: records no table prefix covered."""
    templates: int = 0
    """``routepilot_flow_templates``: templates currently cached (gauge)."""
    pending_sets: int = 0
    """``routepilot_flow_pending_sets``: data sets waiting for their template (gauge)."""
    exporters: int = 0
    """``routepilot_flow_exporters``: distinct exporters seen (gauge)."""
    aggregation_keys: int = 0
    """``routepilot_flow_aggregation_keys``: (prefix, provider) pairs tracked (gauge)."""

    def drop(self, reason: str, count: int = 1) -> None:
        self.drops[reason] += count

    def samples(self) -> list[tuple[str, float]]:
        """``(series, value)`` pairs, the series with its labels in Prometheus syntax
        (``routepilot_flow_drops_total{reason="no_template"}``), as the daemon's
        exposition reads every stage's metrics."""
        out = []
        for name, labels, value in self.labelled_samples():
            inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
            out.append((f"{name}{{{inner}}}" if inner else name, value))
        return out

    def labelled_samples(self) -> list[tuple[str, dict[str, str], float]]:
        """Every value as ``(name, labels, value)`` (api/metrics.py ``render_samples``)."""
        out: list[tuple[str, dict[str, str], float]] = []
        for proto, n in sorted(self.datagrams.items()):
            out.append(("routepilot_flow_datagrams_total", {"protocol": proto}, n))
        for proto, n in sorted(self.records.items()):
            out.append(("routepilot_flow_records_total", {"protocol": proto}, n))
        for reason, n in sorted(self.drops.items()):
            out.append(("routepilot_flow_drops_total", {"reason": reason}, n))
        for proto, n in sorted(self.sequence_gaps.items()):
            out.append(("routepilot_flow_sequence_gaps_total", {"protocol": proto}, n))
        out += [
            ("routepilot_flow_kernel_drops_total", {}, self.kernel_drops),
            ("routepilot_flow_unattributed_records_total", {}, self.unattributed_records),
            ("routepilot_flow_unrouted_records_total", {}, self.unrouted_records),
            ("routepilot_flow_templates", {}, self.templates),
            ("routepilot_flow_pending_sets", {}, self.pending_sets),
            ("routepilot_flow_exporters", {}, self.exporters),
            ("routepilot_flow_aggregation_keys", {}, self.aggregation_keys),
        ]
        return out

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly view (CLI ``--json``)."""
        return {
            "datagrams": dict(self.datagrams),
            "records": dict(self.records),
            "drops": dict(self.drops),
            "sequence_gaps": dict(self.sequence_gaps),
            "kernel_drops": self.kernel_drops,
            "unattributed_records": self.unattributed_records,
            "unrouted_records": self.unrouted_records,
            "templates": self.templates,
            "pending_sets": self.pending_sets,
            "exporters": self.exporters,
        }
