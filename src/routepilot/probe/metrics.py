"""Plain counters of the prober, named the Prometheus way.

Counters are plain integers in dicts keyed by (provider, kind) so the hot path
pays one dict update per event; ``samples()`` and ``render()`` turn them into
Prometheus samples for the API's /metrics.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator


class ProbeMetrics:
    """Counters since start; labels are provider and probe kind."""

    def __init__(self) -> None:
        self.sent: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.answered: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.lost: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.unreachable: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.send_errors: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.unmatched: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.tx_kernel_stamps = 0
        self.user_stamp_fallbacks = 0
        self.rate_limited = 0
        self.politeness_deferred = 0
        self.out_of_scope = 0
        self.targets_verified = 0
        self.targets_replaced = 0
        self.rollups_written = 0
        self.rollup_errors = 0

    _LABELLED = (
        ("routepilot_probes_sent_total", "sent", "Probes sent."),
        ("routepilot_probes_answered_total", "answered", "Probes answered by their target."),
        ("routepilot_probes_lost_total", "lost", "Probes with no answer before the timeout."),
        (
            "routepilot_probes_unreachable_total",
            "unreachable",
            "Probes a router answered with unreachable or time exceeded.",
        ),
        ("routepilot_probe_send_errors_total", "send_errors", "Probes the kernel refused."),
        (
            "routepilot_probe_unmatched_answers_total",
            "unmatched",
            "Answers that matched no probe in flight (stale, forged or not ours).",
        ),
    )
    _PLAIN = (
        ("routepilot_probe_tx_kernel_stamps_total", "tx_kernel_stamps", "Kernel TX stamps."),
        (
            "routepilot_probe_user_stamp_fallbacks_total",
            "user_stamp_fallbacks",
            "RTTs timed in user space because a kernel stamp was missing.",
        ),
        (
            "routepilot_probe_rate_limited_total",
            "rate_limited",
            "Scheduler ticks where the global rate cap held probes back.",
        ),
        (
            "routepilot_probe_politeness_deferred_total",
            "politeness_deferred",
            "Probes deferred by the per-target politeness cap.",
        ),
        (
            "routepilot_probe_out_of_scope_total",
            "out_of_scope",
            "Probes refused because the address is outside learned prefixes and ranges.",
        ),
        ("routepilot_probe_targets_verified_total", "targets_verified", "Targets verified."),
        ("routepilot_probe_targets_replaced_total", "targets_replaced", "Targets replaced."),
        ("routepilot_probe_rollups_written_total", "rollups_written", "Rollup rows written."),
        ("routepilot_probe_rollup_errors_total", "rollup_errors", "Rollup writes that failed."),
    )

    def samples(self) -> Iterator[tuple[str, dict[str, str], int]]:
        for name, attr, _ in self._LABELLED:
            for (provider, kind), value in sorted(getattr(self, attr).items()):
                yield name, {"provider": provider, "kind": kind}, value
        for name, attr, _ in self._PLAIN:
            yield name, {}, getattr(self, attr)

    def total(self, attr: str) -> int:
        value = getattr(self, attr)
        return sum(value.values()) if isinstance(value, dict) else value

    def render(self) -> str:
        """Prometheus text exposition format."""
        helps = {n: h for n, _, h in self._LABELLED + self._PLAIN}
        lines: list[str] = []
        seen: set[str] = set()
        for name, labels, value in self.samples():
            if name not in seen:
                seen.add(name)
                lines.append(f"# HELP {name} {helps[name]}")
                lines.append(f"# TYPE {name} counter")
            lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.append(f"{name}{{{lab}}} {value}" if lab else f"{name} {value}")
        return "\n".join(lines) + "\n"
