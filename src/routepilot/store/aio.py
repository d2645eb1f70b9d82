"""The store for asyncio code: every call runs on one worker thread.

SQLite calls block; the daemon's event loop must not. One thread (not a pool)
keeps writes in order and the connection used from one place at a time.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from routepilot.flows.snapshot import SamplerRate
from routepilot.store.base import (
    ControllerState,
    JournalEntry,
    ProbePoint,
    ProbeRollup,
    ProviderRow,
    Query,
    Store,
    TrafficRow,
    UtilizationSample,
)
from routepilot.store.metrics import StoreMetrics

T = TypeVar("T")


class AsyncStore:
    """Wraps a Store; ``start()``/``stop()`` like every component. ``stop()`` closes it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._executor: ThreadPoolExecutor | None = None

    @property
    def metrics(self) -> StoreMetrics:
        """The wrapped store's counters (a collector for the daemon's registry)."""
        return self.store.metrics

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")

    async def stop(self) -> None:
        if self._executor is None:
            return
        await self._run(self.store.close)
        self._executor.shutdown(wait=True)
        self._executor = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError("AsyncStore used before start() or after stop()")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def write_traffic(self, rows: Sequence[TrafficRow]) -> None:
        await self._run(self.store.write_traffic, rows)

    async def write_provider_traffic(self, rows: Sequence[ProviderRow]) -> None:
        await self._run(self.store.write_provider_traffic, rows)

    async def write_probe_rollups(self, rows: Sequence[ProbeRollup]) -> None:
        await self._run(self.store.write_probe_rollups, rows)

    async def write_utilization(self, rows: Sequence[UtilizationSample]) -> None:
        await self._run(self.store.write_utilization, rows)

    async def append_decisions(self, entries: Sequence[JournalEntry]) -> list[int]:
        return await self._run(self.store.append_decisions, entries)

    async def record_outcome(
        self, entry_id: int, time: float, rtt_ms: float | None, loss: float | None
    ) -> None:
        await self._run(self.store.record_outcome, entry_id, time, rtt_ms, loss)

    async def save_state(self, state: ControllerState) -> None:
        await self._run(self.store.save_state, state)

    async def load_state(self) -> ControllerState:
        return await self._run(self.store.load_state)

    async def write_sampler_rates(self, rows: Sequence[SamplerRate]) -> None:
        await self._run(self.store.write_sampler_rates, list(rows))

    async def sampler_rates(self) -> list[SamplerRate]:
        return await self._run(self.store.sampler_rates)

    async def traffic(self, q: Query) -> list[TrafficRow]:
        return await self._run(self.store.traffic, q)

    async def provider_traffic(self, q: Query) -> list[ProviderRow]:
        return await self._run(self.store.provider_traffic, q)

    async def probe_rollups(self, q: Query) -> list[ProbeRollup]:
        return await self._run(self.store.probe_rollups, q)

    async def utilization(self, q: Query) -> list[UtilizationSample]:
        return await self._run(self.store.utilization, q)

    async def decisions(self, q: Query) -> list[JournalEntry]:
        return await self._run(self.store.decisions, q)

    async def decision_counts(self, q: Query) -> dict[str, int]:
        return await self._run(self.store.decision_counts, q)

    async def probe_series(self, q: Query, step_s: float) -> list[ProbePoint]:
        return await self._run(self.store.probe_series, q, step_s)

    async def prune(self, now: float) -> dict[str, int]:
        return await self._run(self.store.prune, now)

    def reads(self) -> BlockingReads:
        """The reads for synchronous callers on other threads (the API's workers)."""
        return BlockingReads(self)

    def sink(self) -> ThreadedSink:
        """A synchronous sink for flows/ and probe/ that hands rows to the worker thread
        and returns at once (their protocols are called from the event loop)."""
        return ThreadedSink(self)


class ThreadedSink:
    """flows/'s and probe/'s RollupSink over an AsyncStore: fire and forget, in order."""

    def __init__(self, owner: AsyncStore) -> None:
        self._owner = owner
        self.errors = 0

    def _submit(self, fn: Callable[..., None], rows: Sequence[Any]) -> None:
        executor = self._owner._executor
        if executor is None:
            raise RuntimeError("store sink used before start() or after stop()")
        future = executor.submit(fn, list(rows))
        future.add_done_callback(self._count)

    def _count(self, future: Any) -> None:
        if future.exception() is not None:
            self.errors += 1

    def write_traffic(self, rows: Sequence[TrafficRow]) -> None:
        self._submit(self._owner.store.write_traffic, rows)

    def write_provider_traffic(self, rows: Sequence[ProviderRow]) -> None:
        self._submit(self._owner.store.write_provider_traffic, rows)

    def write_probe_rollups(self, rows: Sequence[ProbeRollup]) -> None:
        self._submit(self._owner.store.write_probe_rollups, rows)

    def write_sampler_rates(self, rows: Sequence[SamplerRate]) -> None:
        self._submit(self._owner.store.write_sampler_rates, rows)


class BlockingReads:
    """The store's reads for synchronous code: each runs on the store's one worker
    thread, in turn with the writes, and is waited for. The connection is never used
    from the caller's thread."""

    TIMEOUT_S = 30.0

    def __init__(self, owner: AsyncStore) -> None:
        self._owner = owner

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        executor = self._owner._executor
        if executor is None:
            raise RuntimeError("store read before start() or after stop()")
        return executor.submit(fn, *args).result(timeout=self.TIMEOUT_S)

    def decisions(self, q: Query) -> list[JournalEntry]:
        return self._call(self._owner.store.decisions, q)

    def decision_counts(self, q: Query) -> dict[str, int]:
        return self._call(self._owner.store.decision_counts, q)

    def probe_series(self, q: Query, step_s: float) -> list[ProbePoint]:
        return self._call(self._owner.store.probe_series, q, step_s)

    def utilization(self, q: Query) -> list[UtilizationSample]:
        return self._call(self._owner.store.utilization, q)
