"""Counters of the telemetry stage, exposed through the daemon's registry
(``routepilot.metrics``) by :meth:`TelemetryMetrics.collect`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from routepilot.metrics import Metric, StageMetrics, counter


@dataclass
class TelemetryMetrics(StageMetrics):
    """Counters since start; labels are the agent and a reason."""

    requests: Counter[str] = field(default_factory=Counter)
    """``routepilot_telemetry_requests_total{agent}``: SNMP requests sent, per agent."""
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    """``routepilot_telemetry_errors_total{agent,reason}``: failed requests or values per
    (agent, reason): timeout, auth, no_such_object, ..."""
    discontinuities: Counter[tuple[str, str]] = field(default_factory=Counter)
    """``routepilot_telemetry_discontinuities_total{agent,reason}``: intervals dropped per
    (agent, reason): agent_restart, counter_backwards, ..."""
    deltas: int = 0
    """``routepilot_telemetry_deltas_total``: good counter deltas turned into rates."""
    short_intervals: int = 0
    """``routepilot_telemetry_short_intervals_total``: readings taken too soon after the
    previous one to be rated (under 1 s of agent time); the older reading stays the base."""
    fallbacks_32bit: int = 0
    """``routepilot_telemetry_32bit_fallbacks_total``: links that had no 64-bit counters and
    fell back to ifInOctets/ifOutOctets."""
    samples_closed: int = 0
    """``routepilot_billing_samples_total``: billing samples closed (all providers)."""
    late_octets: int = 0
    """``routepilot_billing_late_octets_total``: octets that arrived after their billing
    sample had closed (dropped)."""
    rounds: int = 0
    """``routepilot_telemetry_rounds_total``: poll rounds completed."""
    round_seconds: float = 0.0
    """``routepilot_telemetry_round_seconds_total``: wall time spent in poll rounds."""

    def collect(self) -> Iterator[Metric]:
        yield counter(
            "routepilot_telemetry_requests_total",
            "SNMP requests sent, per agent.",
            labels=("agent",),
            values=self.requests,
        )
        yield counter(
            "routepilot_telemetry_errors_total",
            "SNMP requests or values that failed, per agent and reason (timeout, auth, "
            "no_such_object, error_status, transport).",
            labels=("agent", "reason"),
            values=self.errors,
        )
        yield counter(
            "routepilot_telemetry_discontinuities_total",
            "Counter intervals dropped, per agent and reason (agent_restart, clock_mismatch, "
            "counter_backwards, discontinuity_time, width_changed, wrap_ambiguous).",
            labels=("agent", "reason"),
            values=self.discontinuities,
        )
        yield counter(
            "routepilot_telemetry_deltas_total",
            "Good counter deltas turned into link rates.",
            self.deltas,
        )
        yield counter(
            "routepilot_telemetry_short_intervals_total",
            "Readings too close to the previous one to be rated (the older reading is kept).",
            self.short_intervals,
        )
        yield counter(
            "routepilot_telemetry_32bit_fallbacks_total",
            "Links polled through 32-bit counters because the agent has no 64-bit ones.",
            self.fallbacks_32bit,
        )
        yield counter(
            "routepilot_telemetry_rounds_total", "SNMP poll rounds completed.", self.rounds
        )
        yield counter(
            "routepilot_telemetry_round_seconds_total",
            "Wall time spent in SNMP poll rounds.",
            self.round_seconds,
        )
        yield counter(
            "routepilot_billing_samples_total",
            "Billing samples closed, one per provider or billing group and sample period.",
            self.samples_closed,
        )
        yield counter(
            "routepilot_billing_late_octets_total",
            "Octets that arrived after their billing sample had closed (not billed).",
            self.late_octets,
        )
