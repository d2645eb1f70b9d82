"""The prober's one interface, shared by every implementation.

:class:`~routepilot.probe.component.Prober` (in this process),
:class:`~routepilot.probe.worker.ProberProcess` (the same in a worker process) and
:class:`~routepilot.probe.fake.FakeProber` (simulated paths, for other stages' tests)
all satisfy :class:`ProberInterface`; ``tests/integration/probe/test_contract.py``
holds them to the same behaviour. Callers (run/, the API through the daemon's view) need
nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.probe.config import ProbeConfig
from routepilot.probe.metrics import ProbeMetrics
from routepilot.probe.rollup import ProbeRollup
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
        vip: Iterable[str] = (),
    ) -> None:
        """Derives the paths from the traffic and routes snapshots; ``vip`` prefixes are
        measured through every provider with a route at ``vip_interval_s``."""

    def hint(self, prefixes: dict[str, float], now: float) -> None:
        """Flow hints (prefix -> until): those prefixes' paths are probed first until then."""

    def reconfigure(self, config: ProbeConfig) -> None:
        """A reloaded ``probe`` section (rates, intervals, targets), from the next tick."""

    def observe_destinations(self, addresses: Iterable[str]) -> None:
        """Destination addresses seen in flows: candidate targets in their prefixes."""

    def snapshot(self, now: float | None = None) -> MeasurementSnapshot:
        """Every measured path's statistics now, for decide/."""

    async def snapshot_async(self, now: float | None = None) -> MeasurementSnapshot:
        """:meth:`snapshot` without holding the event loop while it is made (the daemon's
        rounds use this one)."""

    def failing_paths(self) -> list[tuple[str, str]]:
        """(prefix, provider) paths in an outage's run of losses now."""

    async def failing_paths_async(self) -> list[tuple[str, str]]:
        """:meth:`failing_paths` without holding the event loop (the outage watch's)."""

    def minute_so_far(self, prefix: str | None = None) -> list[ProbeRollup]:
        """The rows of the minute in progress, not yet handed to the sink; one prefix's only
        when given. Safe to call from another thread (the API's workers do)."""

    def recent_rtts(self) -> dict[tuple[str, str], list[float]]:
        """Every RTT (ms, NaN when lost) in the window, per (prefix, provider)."""

    def refresh_metrics(self) -> ProbeMetrics:
        """The counters, brought up to date."""
