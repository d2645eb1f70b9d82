"""What the controller does after a decision round besides deciding.

Per-minute link utilization samples (for reports and billing), and the
re-measurement of each move's new exit a while after it, written to the
journal so that an operator (and the reports) see whether a move helped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routepilot.config.models import ProviderConfig
from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.log import get_logger
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.store import AsyncStore, UtilizationSample

log = get_logger(__name__)

UTILIZATION_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """A journaled move whose new exit is re-measured at ``due``."""

    due: float
    entry_id: int
    prefix: str
    provider: str


class FollowUp:
    """Utilization samples and move outcomes, written to the store."""

    def __init__(
        self, store: AsyncStore, providers: Sequence[ProviderConfig], remeasure_after_s: float
    ) -> None:
        self.store = store
        self.providers = tuple(providers)
        self.remeasure_after_s = remeasure_after_s
        self._outcomes: list[Outcome] = []
        self._last_utilization = 0.0

    def moved(self, now: float, entry_id: int, prefix: str, provider: str) -> None:
        """Schedules the re-measurement of a journaled move to ``provider``."""
        self._outcomes.append(Outcome(now + self.remeasure_after_s, entry_id, prefix, provider))

    async def after_round(
        self, now: float, traffic: TrafficSnapshot, meas: MeasurementSnapshot
    ) -> None:
        if now - self._last_utilization >= UTILIZATION_EVERY_S:
            self._last_utilization = now
            await self._utilization(now, traffic)
        await self._outcomes_due(now, meas)

    async def _utilization(self, now: float, traffic: TrafficSnapshot) -> None:
        rows = [
            UtilizationSample(
                now,
                p.name,
                traffic.provider_bps.get(p.name, 0.0),
                p.capacity_mbps * 1e6,
                p.commit_mbps * 1e6,
            )
            for p in self.providers
        ]
        try:
            await self.store.write_utilization(rows)
        except Exception as exc:
            log.error("utilization write failed", error=repr(exc))

    async def _outcomes_due(self, now: float, meas: MeasurementSnapshot) -> None:
        due = [o for o in self._outcomes if o.due <= now]
        if not due:
            return
        self._outcomes = [o for o in self._outcomes if o.due > now]
        rows = {p: i for i, p in enumerate(meas.prefixes)}
        cols = {p: k for k, p in enumerate(meas.providers)}
        for o in due:
            i, k = rows.get(o.prefix), cols.get(o.provider)
            if i is None or k is None or not meas.samples[i, k]:
                continue
            rtt, loss = float(meas.rtt_median_ms[i, k]), float(meas.loss[i, k])
            try:
                await self.store.record_outcome(
                    o.entry_id, now, None if rtt != rtt else rtt, None if loss != loss else loss
                )
            except Exception as exc:
                log.error("outcome write failed", error=repr(exc))
