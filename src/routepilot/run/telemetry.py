"""The telemetry stage inside the daemon: its poller, its billing ledger kept in the store,
and the snapshot the controller and the API read.

``run/wiring.py`` builds a :class:`Telemetry` from ``config.telemetry`` and hands it
here with the store. At start the open billing period is read back from the store
(``BillingLedger.from_rows``) before the first poll; after a poll round that closed
billing samples, and at most once a minute otherwise (the partial slots), the ledger's
rows go to the store's worker thread (``AsyncStore.write_billing_rows``), never
blocking the event loop; at stop, after the last round, they are written once more
and waited for.

The snapshot is taken on the event loop (after each round and each decision round)
and replaced whole, so the API's worker threads read it without touching the
poller's tables while a round changes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

from routepilot.decide.billing import BillingInput
from routepilot.log import get_logger
from routepilot.store import AsyncStore
from routepilot.store.base import FencedWrite
from routepilot.telemetry.ledger import BillingLedger
from routepilot.telemetry.metrics import TelemetryMetrics
from routepilot.telemetry.poller import Telemetry
from routepilot.telemetry.snapshot import TelemetrySnapshot

log = get_logger(__name__)

PARTIAL_SAVE_S = 60.0
"""Between closed samples, the partial slots are saved at most this often: a crash loses
at most this much of the open sample's coverage (its rate is over what is covered)."""


class TelemetrySource(Protocol):
    """What the daemon needs of the telemetry stage (the poller, or a test's fake)."""

    metrics: TelemetryMetrics

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def snapshot(self) -> TelemetrySnapshot: ...


class TelemetryRunner:
    """Drives a telemetry source for the controller; see the module docstring."""

    def __init__(
        self,
        source: TelemetrySource,
        store: AsyncStore,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.store = store
        self.monotonic = monotonic
        self.latest = TelemetrySnapshot.empty()
        """The last snapshot, replaced whole (read from any thread)."""
        self.saves = 0
        self.save_errors = 0
        self.restored_rows = 0
        self._saving: asyncio.Task[None] | None = None
        self._dirty = False
        self._last_save = -float("inf")
        if isinstance(source, Telemetry):
            source.on_round = self._round_done

    @property
    def metrics(self) -> TelemetryMetrics:
        return self.source.metrics

    @property
    def ledger(self) -> BillingLedger | None:
        return self.source.ledger if isinstance(self.source, Telemetry) else None

    def snapshot(self) -> TelemetrySnapshot:
        return self.latest

    def billing_inputs(self) -> dict[str, BillingInput] | None:
        """Each polled provider's billing period for decide/'s commit control (None when
        the source keeps no ledger: decide/ then uses flows' samples)."""
        ledger = self.ledger
        if ledger is None or not ledger.period_end:
            return None
        slots, pct = ledger.slots(), ledger.config.percentile
        providers = {lk.provider for lk in self.source.config.links}  # type: ignore[attr-defined]
        return {p: BillingInput(tuple(ledger.billable(p)), slots, pct) for p in sorted(providers)}

    def link_rates(self, flows: dict[str, float]) -> dict[str, float]:
        """Per provider link rate: SNMP's outbound rate where it is measured now, else the
        rate flows/ sees (the fallback, said in status)."""
        snap = self.latest
        return {**flows, **{p: snap.provider_out_bps[p] for p in self.measured()}}

    def measured(self) -> frozenset[str]:
        """The providers whose link rate SNMP measures now (the rest fall back to flows)."""
        snap = self.latest
        return frozenset(p for p in snap.provider_out_bps if snap.known(p))

    def record_shift(self, now: float, shift_bps: dict[str, float]) -> None:
        """Routepilot's net outbound shift per provider this round, for the projection of the
        95th percentile without routepilot."""
        ledger = self.ledger
        if ledger is None:
            return
        polled = {lk.provider for lk in self.source.config.links}  # type: ignore[attr-defined]
        for p, bps in shift_bps.items():
            if p in polled:
                ledger.add_shift(p, now, bps)

    def refresh(self) -> TelemetrySnapshot:
        """Takes a new snapshot (on the event loop)."""
        try:
            self.latest = self.source.snapshot()
        except Exception as exc:  # the status must not take the decision round down
            log.error("telemetry snapshot failed", error=repr(exc))
        return self.latest

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Restores the open billing period from the store, then starts polling."""
        await self._restore()
        await self.source.start()
        self.refresh()

    async def stop(self) -> None:
        """Stops polling, then writes the ledger a last time (and waits for it)."""
        await self.source.stop()
        if self._saving is not None:
            with contextlib.suppress(Exception):
                await self._saving
        await self.save()

    async def _stored(self) -> tuple[BillingLedger | None, int]:
        """The open period as the store holds it, and its row count."""
        tel = self.source
        if not isinstance(tel, Telemetry):
            return None, 0
        try:
            rows = await self.store.billing_rows()
            return (BillingLedger.from_rows(tel.config.billing, rows) if rows else None), len(rows)
        except Exception as exc:  # unreadable: bill from now on rather than not start
            log.error("stored billing period unreadable; starting a new one", error=repr(exc))
            return None, 0

    async def _restore(self) -> None:
        ledger, rows = await self._stored()
        if ledger is None or not isinstance(self.source, Telemetry):
            return
        self.source.ledger = ledger
        self.restored_rows = rows
        log.info(
            "billing period restored",
            period_start=ledger.period_start,
            samples=sum(len(s) for s in ledger.samples.values()),
            partial=len(ledger.partial),
        )

    async def take_over(self) -> int:
        """HA: this instance just became the active. Its own ledger has what it polled as a
        standby; the former active's, in the store, may hold slots it missed (it started
        later, or its polls failed) and routepilot's shifts. Both are joined, then saved
        under the new epoch. Returns the samples taken in."""
        stored, _ = await self._stored()
        own = self.ledger
        if stored is None or own is None:
            return 0
        adopted = own.adopt(stored)
        log.info("billing period joined with the former active's", samples=adopted,
                 period_start=own.period_start)  # fmt: skip
        self.refresh()
        await self.save()
        return adopted

    # -- saving -------------------------------------------------------------------

    def _round_done(self, closed: int) -> None:
        """After each poll round (on the loop): new snapshot, and a save when it is due."""
        self.refresh()
        now = self.monotonic()
        if closed == 0 and now - self._last_save < PARTIAL_SAVE_S:
            return
        self._last_save = now
        if self._saving is not None and not self._saving.done():
            self._dirty = True  # the running save writes again when it ends
            return
        self._saving = asyncio.get_running_loop().create_task(self._save_until_clean())

    async def _save_until_clean(self) -> None:
        while True:
            self._dirty = False
            await self.save()
            if not self._dirty:
                return

    async def save(self) -> None:
        """Writes the ledger's rows on the store's worker thread; a failure is logged and
        counted, and the ledger keeps the rows for the next save."""
        ledger = self.ledger
        if ledger is None or not ledger.period_end:
            return
        rows = ledger.to_rows()
        try:
            await self.store.write_billing_rows(rows)
        except FencedWrite as exc:  # a standby: the active keeps the period
            log.debug("billing period not saved", reason=str(exc))
            return
        except Exception as exc:
            self.save_errors += 1
            log.error("billing period save failed", error=repr(exc))
            return
        self.saves += 1
