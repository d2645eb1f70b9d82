"""The daemon's metrics: every stage's collector in the one registry, and the controller's own.

The composition root calls :func:`register_daemon` once with the registry it
hands to the API: each stage's metrics object (flows, rib and its speaker,
inject, probe, telemetry when enabled, store, alerts) is a collector with its families declared, so
nothing here guesses at attributes. Controller-level gauges that the view
already reports (paused, dry-run, BGP sessions) come from the API's view
collector and are not repeated here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from routepilot.metrics import Metric, Registry, StageMetrics, counter, gauge

if TYPE_CHECKING:
    from routepilot.run.controller import Controller


class ControllerMetrics(StageMetrics):
    """The decision loop's counters, read from the controller at each scrape."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def collect(self) -> Iterator[Metric]:
        c = self.controller
        stats = c.cycle_stats
        yield counter(
            "routepilot_decision_rounds_total", "Decision rounds run since start.", stats.count
        )
        yield counter(
            "routepilot_decision_round_errors_total",
            "Decision rounds that failed (the previous decisions stayed in force).",
            stats.errors,
        )
        yield gauge(
            "routepilot_decision_round_duration_seconds",
            "Duration of the last decision round.",
            stats.duration_ms / 1000,
        )
        yield counter(
            "routepilot_moves_total", "Exit changes decided since start.", stats.moves_total
        )
        yield counter(
            "routepilot_outage_wakeups_total",
            "Decision rounds started early because a current exit stopped answering probes.",
            c.outage_wakeups,
        )
        yield gauge(
            "routepilot_injected_routes",
            "Routes the injector holds announced now.",
            len(c.injector.announced),
        )


def register_daemon(registry: Registry, controller: Controller, *others: StageMetrics) -> None:
    """Registers every stage of a built controller, the controller itself and ``others``
    (the alerting component's metrics, for instance) in ``registry``."""
    c = controller
    stages: list[StageMetrics] = [
        c.pipeline.metrics,
        c.rib.metrics,
        c.speaker.metrics,
        c.injector.metrics,
        c.store.metrics,
    ]
    if c.prober is not None:
        stages.append(c.prober.metrics)
    if c.telemetry is not None:
        stages.append(c.telemetry.metrics)
    if c.leadership is not None:
        stages.append(c.leadership.metrics)

    if c.bmp is not None:
        stages.append(c.bmp.station.metrics)
    for collector in (*stages, ControllerMetrics(c), *others):
        registry.register(collector)
