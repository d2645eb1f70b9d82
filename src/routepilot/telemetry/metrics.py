"""Plain counters of the telemetry stage, named the Prometheus way by ``samples()``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class TelemetryMetrics:
    """Counters since start; labels are the agent and a reason."""

    requests: Counter[str] = field(default_factory=Counter)
    """SNMP requests sent, per agent."""
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Failed requests or values per (agent, reason): timeout, auth, no_such_object, ..."""
    discontinuities: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Intervals dropped per (agent, reason): agent_restart, counter_backwards, ..."""
    deltas: int = 0
    """Good counter deltas turned into rates."""
    fallbacks_32bit: int = 0
    """Links that had no 64-bit counters and fell back to ifInOctets/ifOutOctets."""
    samples_closed: int = 0
    """Billing samples closed (all providers)."""
    late_octets: int = 0
    """Octets that arrived after their billing sample had closed (dropped)."""
    rounds: int = 0
    """Poll rounds completed."""
    round_seconds: float = 0.0
    """Wall time spent in poll rounds, summed."""

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        """(name, labels, value) triples for an exposition."""
        out: list[tuple[str, dict[str, str], float]] = []
        for agent, n in sorted(self.requests.items()):
            out.append(("routepilot_snmp_requests_total", {"agent": agent}, n))
        for (agent, reason), n in sorted(self.errors.items()):
            out.append(("routepilot_snmp_errors_total", {"agent": agent, "reason": reason}, n))
        for (agent, reason), n in sorted(self.discontinuities.items()):
            out.append(
                (
                    "routepilot_snmp_counter_discontinuities_total",
                    {"agent": agent, "reason": reason},
                    n,
                )
            )
        out += [
            ("routepilot_snmp_deltas_total", {}, self.deltas),
            ("routepilot_snmp_32bit_fallbacks_total", {}, self.fallbacks_32bit),
            ("routepilot_billing_samples_total", {}, self.samples_closed),
            ("routepilot_billing_late_octets_total", {}, self.late_octets),
            ("routepilot_snmp_rounds_total", {}, self.rounds),
            ("routepilot_snmp_round_seconds_total", {}, self.round_seconds),
        ]
        return out
