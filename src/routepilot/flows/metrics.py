"""Counters of the flow collector, named as Prometheus will expose them.

Plain integers in dicts: the hot path increments them in bulk (once per batch,
not once per record); :meth:`FlowMetrics.collect` turns them into metric families
when the registry is scraped (``routepilot.metrics``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from routepilot.metrics import Metric, StageMetrics, counter, gauge


@dataclass
class FlowMetrics(StageMetrics):
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
    warm_up_untracked_records: int = 0
    """``routepilot_flow_warm_up_untracked_records_total``: records whose (prefix,
    provider) found no room (``max_prefixes``) among those whose rates are read over
    their records' times while the rates warm up (docs/flows.md); they count in the
    smoothed rates all the same."""
    syn_records: int = 0
    """``routepilot_flow_syn_records_total``: unsampled TCP records with SYN (attempts)."""
    syn_unanswered_records: int = 0
    """``routepilot_flow_syn_unanswered_records_total``: those with neither ACK nor RST."""
    syn_hints: int = 0
    """``routepilot_flow_syn_hints_total``: (prefix, provider) hints raised."""
    syn_hints_skipped: int = 0
    """``routepilot_flow_syn_hints_skipped_total``: hints not raised, ``max_hinted`` being
    in force."""
    syn_keys_evicted: int = 0
    """``routepilot_flow_syn_keys_evicted_total``: (prefix, provider) counts forgotten past
    ``syn_hints.max_keys``."""
    syn_hinted: int = 0
    """``routepilot_flow_syn_hinted_prefixes``: (prefix, provider) hints in force (gauge)."""

    def drop(self, reason: str, count: int = 1) -> None:
        self.drops[reason] += count

    def collect(self) -> Iterator[Metric]:
        """Every counter and gauge as a metric family, with its HELP and TYPE."""
        yield counter(
            "routepilot_flow_datagrams_total",
            "Flow export datagrams received and parsed, by protocol.",
            labels=("protocol",),
            values=self.datagrams,
        )
        yield counter(
            "routepilot_flow_records_total",
            "Flow records decoded, by protocol.",
            labels=("protocol",),
            values=self.records,
        )
        yield counter(
            "routepilot_flow_drops_total",
            "Datagrams, sets or records discarded, by reason.",
            labels=("reason",),
            values=self.drops,
        )
        yield counter(
            "routepilot_flow_sequence_gaps_total",
            "What exporters sent that never arrived, by their sequence numbers "
            "(IPFIX: records; NetFlow v9 and sFlow: datagrams).",
            labels=("protocol",),
            values=self.sequence_gaps,
        )
        yield counter(
            "routepilot_flow_kernel_drops_total",
            "Datagrams the kernel dropped before the collector read them (SO_RXQ_OVFL).",
            self.kernel_drops,
        )
        yield counter(
            "routepilot_flow_unattributed_records_total",
            "Flow records no provider matched.",
            self.unattributed_records,
        )
        yield counter(
            "routepilot_flow_unrouted_records_total",
            "Flow records no table prefix covered.",
            self.unrouted_records,
        )
        yield gauge("routepilot_flow_templates", "Templates cached now.", self.templates)
        yield gauge(
            "routepilot_flow_pending_sets",
            "Data sets waiting for their template now.",
            self.pending_sets,
        )
        yield gauge("routepilot_flow_exporters", "Distinct exporters seen.", self.exporters)
        yield gauge(
            "routepilot_flow_aggregation_keys",
            "(prefix, provider) pairs tracked by the aggregator now.",
            self.aggregation_keys,
        )
        yield counter(
            "routepilot_flow_warm_up_untracked_records_total",
            "Records whose (prefix, provider) found no room among those read over their "
            "records' times while the rates warm up.",
            self.warm_up_untracked_records,
        )

        yield from self._syn_metrics()

    def _syn_metrics(self) -> Iterator[Metric]:
        yield counter(
            "routepilot_flow_syn_records_total",
            "Unsampled TCP flow records with SYN (connection attempts).",
            self.syn_records,
        )
        yield counter(
            "routepilot_flow_syn_unanswered_records_total",
            "Unsampled TCP flow records with SYN and neither ACK nor RST (never answered).",
            self.syn_unanswered_records,
        )
        yield counter(
            "routepilot_flow_syn_hints_total",
            "Prefixes hinted for probing through a provider by unanswered SYNs.",
            self.syn_hints,
        )
        yield counter(
            "routepilot_flow_syn_hints_skipped_total",
            "Hints not raised because syn_hints.max_hinted were in force.",
            self.syn_hints_skipped,
        )
        yield counter(
            "routepilot_flow_syn_keys_evicted_total",
            "(prefix, provider) SYN counts forgotten past syn_hints.max_keys.",
            self.syn_keys_evicted,
        )
        yield gauge(
            "routepilot_flow_syn_hinted_prefixes",
            "(prefix, provider) pairs hinted for probing by unanswered SYNs now.",
            self.syn_hinted,
        )

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
            "warm_up_untracked_records": self.warm_up_untracked_records,
            "syn_records": self.syn_records,
            "syn_unanswered_records": self.syn_unanswered_records,
            "syn_hints": self.syn_hints,
            "syn_hinted": self.syn_hinted,
        }
