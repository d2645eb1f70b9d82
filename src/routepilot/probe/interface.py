"""The prober's one interface, shared by every implementation.

:class:`~routepilot.probe.component.Prober` (in this process),
:class:`~routepilot.probe.worker.ProberProcess` (the same in a worker process) and
:class:`~routepilot.probe.fake.FakeProber` (simulated paths, for other stages' tests)
all satisfy :class:`ProberInterface`; ``tests/integration/probe/test_contract.py``
holds them to the same behaviour. Callers (run/) need nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.probe.config import ProbeConfig
from routepilot.probe.metrics import ProbeMetrics
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.rib.snapshot import RoutesSnapshot


@runtime_checkable
class ProberInterface(Protocol):
    """Measures (prefix, provider) paths; inputs may be given before or after start()."""

    config: ProbeConfig
    provider_names: tuple[str, ...]
    metrics: ProbeMetrics
    """Counters; current after :meth:`refresh_metrics`."""

    async def start(self) -> None:
        """Opens the sockets (a setup error is raised here, as ProbeSetupError) and starts
        probing; nothing is sent when ``config.enabled`` is false."""

    async def stop(self) -> None:
        """Stops probing and hands the last rollups to the sink; safe to call twice."""

    def set_paths(self, paths: Iterable[tuple[str, str, int]]) -> None:
        """The paths to measure, (prefix, provider name, class 0/1/2); others are dropped.
        An unknown provider raises KeyError."""

    def update(
        self,
        traffic: TrafficSnapshot,
        routes: RoutesSnapshot | None = None,
        exits: dict[str, str] | None = None,
    ) -> None:
        """Derives the paths from the traffic and routes snapshots."""

    def observe_destinations(self, addresses: Iterable[str]) -> None:
        """Destination addresses seen in flows: candidate targets in their prefixes."""

    def snapshot(self, now: float | None = None) -> MeasurementSnapshot:
        """Every measured path's statistics now, for decide/."""

    def failing_paths(self) -> list[tuple[str, str]]:
        """(prefix, provider) paths in an outage's run of losses now."""

    def recent_rtts(self) -> dict[tuple[str, str], list[float]]:
        """Every RTT (ms, NaN when lost) in the window, per (prefix, provider)."""

    def refresh_metrics(self) -> ProbeMetrics:
        """The counters, brought up to date."""
