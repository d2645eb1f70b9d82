"""Plain counters of the prober, named the Prometheus way.

Counters are plain integers in dicts keyed by (provider, kind) so the hot path
pays one dict update per event, and the worker process can send them whole
(``as_dict``); :meth:`ProbeMetrics.collect` turns them into metric families when
the daemon's registry is scraped (``routepilot.metrics``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator

from routepilot.metrics import Metric, StageMetrics, counter, gauge, histogram
from routepilot.probe.qualify import CAUSES

READ_DELAY_BOUNDS_NS = (100_000, 1_000_000, 5_000_000, 10_000_000, 50_000_000, 100_000_000)


class ProbeMetrics(StageMetrics):
    """Counters since start; labels are provider and probe kind."""

    def __init__(self) -> None:
        self.sent: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.answered: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.lost: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.unreachable: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.send_errors: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.unmatched: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.late: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.late_reads: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.socket_drops: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.tx_kernel_stamps = 0
        self.user_stamp_fallbacks = 0
        self.rate_limited = 0
        self.politeness_deferred = 0
        self.out_of_scope = 0
        self.targets_verified = 0
        self.targets_replaced = 0
        self.rollups_written = 0
        self.rollup_errors = 0
        self.retries = 0
        self.retries_skipped = 0
        self.spread_retries = 0
        self.targets_disqualified: dict[str, int] = {}
        """Targets replaced by host qualification, by cause (probe/qualify.py)."""
        self.retrying = 0
        self.worker_restarts = 0
        """Probe worker processes started again after one ended unasked (probe.process)."""
        self.read_delay_counts = [0] * (len(READ_DELAY_BOUNDS_NS) + 1)
        self.read_delay_sum_ns = 0

    def observe_read_delay(self, ns: int) -> None:
        """How long an answer waited between the kernel's stamp and our read: what user-space
        timing would have added to the RTT, and the sign of a busy process."""
        self.observe_read_delays([ns])

    def observe_read_delays(self, ns: list[int]) -> None:
        """:meth:`observe_read_delay` for a batch of answers."""
        counts = self.read_delay_counts
        bounds = READ_DELAY_BOUNDS_NS
        for d in ns:
            counts[bisect_left(bounds, d)] += 1
        self.read_delay_sum_ns += sum(ns)

    def add_read_delays(self, counts: list[int], total_ns: int) -> None:
        """Read delays already counted over :data:`READ_DELAY_BOUNDS_NS` (by the C channel,
        which settles the common answers itself), and their sum."""
        mine = self.read_delay_counts
        for i, c in enumerate(counts):
            mine[i] += c
        self.read_delay_sum_ns += total_ns

    def read_delay_quantile(self, q: float) -> float:
        """Upper bound (seconds) of the bucket holding quantile ``q``; NaN without data."""
        total = sum(self.read_delay_counts)
        if not total:
            return float("nan")
        seen = 0
        for i, c in enumerate(self.read_delay_counts):
            seen += c
            if seen >= q * total:
                return (
                    READ_DELAY_BOUNDS_NS[i] / 1e9 if i < len(READ_DELAY_BOUNDS_NS) else float("inf")
                )
        return float("inf")

    def as_dict(self) -> dict:
        """Every counter, picklable (for the worker process to report)."""
        return {
            k: (dict(v) if isinstance(v, dict) else (list(v) if isinstance(v, list) else v))
            for k, v in vars(self).items()
        }

    def load_dict(self, values: dict) -> None:
        for k, v in values.items():
            current = getattr(self, k)
            if isinstance(current, defaultdict):
                current.clear()
                current.update(v)
            else:
                setattr(self, k, v)

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
        (
            "routepilot_probe_late_answers_total",
            "late",
            "Answers that arrived after the timeout (by kernel stamp); their probes count lost.",
        ),
        (
            "routepilot_probe_late_reads_total",
            "late_reads",
            "Answers that arrived in time but were read after the deadline because routepilot "
            "was busy; counted answered.",
        ),
        (
            "routepilot_probe_socket_drops_total",
            "socket_drops",
            "Answers the kernel dropped because routepilot's socket buffer was full: "
            "loss of routepilot's own making.",
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
        (
            "routepilot_probe_retries_total",
            "retries",
            "Prefixes put under retry probing (faster probing through every provider) "
            "after losses or a wide RTT spread on one of their paths.",
        ),
        (
            "routepilot_probe_spread_retries_total",
            "spread_retries",
            "Prefixes put under retry probing with longer trains after a wide RTT spread "
            "(decide/ makes no quality move on them until those trains are back).",
        ),
        (
            "routepilot_probe_worker_restarts_total",
            "worker_restarts",
            "Probe worker processes started again after one ended unasked (probe.process); "
            "each loses the measurements it held.",
        ),
        (
            "routepilot_probe_retries_skipped_total",
            "retries_skipped",
            "Retry probing not started because retry_max_prefixes were already under it.",
        ),
    )

    def collect(self) -> Iterator[Metric]:
        """Every counter and the read-delay histogram as metric families."""
        for name, attr, help_text in self._LABELLED:
            yield counter(name, help_text, labels=("provider", "kind"), values=getattr(self, attr))
        for name, attr, help_text in self._PLAIN:
            yield counter(name, help_text, getattr(self, attr))
        yield counter(
            "routepilot_probe_targets_disqualified_total",
            "Probe targets replaced while a sibling address of the prefix answered well, by "
            "cause: loss (lossy through every provider), spread (a wide RTT spread through "
            "every provider) or silent (no answer through any provider).",
            labels=("cause",),
            values={(c,): self.targets_disqualified.get(c, 0) for c in CAUSES},
        )
        yield gauge(
            "routepilot_probe_retrying_prefixes",
            "Prefixes under retry probing now.",
            self.retrying,
        )
        yield histogram(
            "routepilot_probe_read_delay_seconds",
            "Time from the kernel's receive stamp to the prober reading the answer.",
            [bound / 1e9 for bound in READ_DELAY_BOUNDS_NS],
            self.read_delay_counts,
            self.read_delay_sum_ns / 1e9,
        )

    def total(self, attr: str) -> int:
        value = getattr(self, attr)
        return sum(value.values()) if isinstance(value, dict) else value
