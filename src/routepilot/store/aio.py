"""The store for asyncio code: every call runs on one worker thread.

SQLite calls block; the daemon's event loop must not. One thread (not a pool)
keeps writes in order and the connection used from one place at a time.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from routepilot.flows.snapshot import SamplerRate
from routepilot.store.base import (
    AuditQuery,
    AuditRecord,
    ControlEvent,
    ControllerState,
    JournalEntry,
    ProbePoint,
    ProbeRollup,
    ProviderRow,
    Query,
    Store,
    TokenRecord,
    TrafficRow,
    UserRecord,
    UtilizationSample,
    Window,
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

    async def write_billing_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        await self._run(self.store.write_billing_rows, list(rows))

    async def billing_rows(self) -> list[dict[str, Any]]:
        return await self._run(self.store.billing_rows)

    async def add_window(self, window: Window) -> int:
        return await self._run(self.store.add_window, window)

    async def windows(self, ending_after: float | None = None) -> list[Window]:
        return await self._run(self.store.windows, ending_after)

    async def end_window(self, window_id: int, at: float) -> Window | None:
        return await self._run(self.store.end_window, window_id, at)

    async def save_incident(self, incident: Mapping[str, Any]) -> None:
        await self._run(self.store.save_incident, incident)

    async def incidents(self, since: float | None = None, limit: int = 1000) -> list[dict]:
        return await self._run(self.store.incidents, since, limit)

    async def save_trace(self, trace: Mapping[str, Any], keep: int) -> None:
        await self._run(self.store.save_trace, trace, keep)

    async def traces(self, prefix: str | None = None, provider: str | None = None) -> list[dict]:
        return await self._run(self.store.traces, prefix, provider)

    async def append_event(self, event: ControlEvent) -> int:
        return await self._run(self.store.append_event, event)

    async def events(self, q: Query) -> list[ControlEvent]:
        return await self._run(self.store.events, q)

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

    async def save_user(self, user: UserRecord) -> None:
        await self._run(self.store.save_user, user)

    async def remove_user(self, name: str) -> bool:
        return await self._run(self.store.remove_user, name)

    async def users(self) -> list[UserRecord]:
        return await self._run(self.store.users)

    async def add_token(self, token: TokenRecord) -> None:
        await self._run(self.store.add_token, token)

    async def remove_tokens(self, user: str) -> int:
        return await self._run(self.store.remove_tokens, user)

    async def token(self, token_id: str) -> TokenRecord | None:
        return await self._run(self.store.token, token_id)

    async def append_audit(self, record: AuditRecord) -> int:
        return await self._run(self.store.append_audit, record)

    async def audit(self, q: AuditQuery) -> list[AuditRecord]:
        return await self._run(self.store.audit, q)

    def accounts(self) -> BlockingAccounts:
        """Users, tokens and the audit log for the API, which calls them synchronously."""
        return BlockingAccounts(self)

    def reads(self) -> BlockingReads:
        """The reads for synchronous callers on other threads (the API's workers)."""
        return BlockingReads(self)

    def sink(self) -> ThreadedSink:
        """A synchronous sink for flows/ and probe/ that hands rows to the worker thread
        and returns at once (their protocols are called from the event loop)."""
        return ThreadedSink(self)


class ThreadedSink:
    """flows/'s and probe/'s RollupSink over an AsyncStore: fire and forget, in order.

    At most ``max_pending`` writes wait for the worker thread: when the database stalls
    (a full disk, an unreachable server) while exports keep coming, further batches are
    dropped and their rows counted (``routepilot_store_dropped_rows_total``), instead of
    piling up in memory until the stall ends.
    """

    MAX_PENDING = 256

    def __init__(self, owner: AsyncStore, max_pending: int = MAX_PENDING) -> None:
        self._owner = owner
        self.errors = 0
        self.max_pending = max_pending
        self.pending = 0
        self._lock = threading.Lock()

    def _submit(self, fn: Callable[..., None], rows: Sequence[Any]) -> None:
        executor = self._owner._executor
        if executor is None:
            raise RuntimeError("store sink used before start() or after stop()")
        with self._lock:
            if self.pending >= self.max_pending:
                self._owner.metrics.dropped_rows += len(rows)
                return
            self.pending += 1
        future = executor.submit(fn, list(rows))
        future.add_done_callback(self._count)

    def _count(self, future: Any) -> None:
        with self._lock:
            self.pending -= 1
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

    def _call(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        executor = self._owner._executor
        if executor is None:
            raise RuntimeError("store read before start() or after stop()")
        return executor.submit(fn, *args).result(timeout=timeout_s or self.TIMEOUT_S)

    def decisions(self, q: Query) -> list[JournalEntry]:
        return self._call(self._owner.store.decisions, q)

    def decision_counts(self, q: Query, timeout_s: float | None = None) -> dict[str, int]:
        """``timeout_s``: wait at most this long (TimeoutError), e.g. on the event loop."""
        return self._call(self._owner.store.decision_counts, q, timeout_s=timeout_s)

    def probe_series(self, q: Query, step_s: float) -> list[ProbePoint]:
        return self._call(self._owner.store.probe_series, q, step_s)

    def utilization(self, q: Query) -> list[UtilizationSample]:
        return self._call(self._owner.store.utilization, q)

    def events(self, q: Query) -> list[ControlEvent]:
        return self._call(self._owner.store.events, q)

    def windows(self, ending_after: float | None = None) -> list[Window]:
        return self._call(self._owner.store.windows, ending_after)

    def incidents(self, since: float | None = None, limit: int = 1000) -> list[dict]:
        return self._call(self._owner.store.incidents, since, limit)


class BlockingAccounts(BlockingReads):
    """The store's users, tokens and audit log for synchronous callers (the API): each call
    runs on the store's one worker thread, in turn with every other write, and is waited for.
    """

    def save_user(self, user: UserRecord) -> None:
        self._call(self._owner.store.save_user, user)

    def remove_user(self, name: str) -> bool:
        return self._call(self._owner.store.remove_user, name)

    def users(self) -> list[UserRecord]:
        return self._call(self._owner.store.users)

    def add_token(self, token: TokenRecord) -> None:
        self._call(self._owner.store.add_token, token)

    def remove_tokens(self, user: str) -> int:
        return self._call(self._owner.store.remove_tokens, user)

    def token(self, token_id: str) -> TokenRecord | None:
        return self._call(self._owner.store.token, token_id)

    def append_audit(self, record: AuditRecord) -> int:
        return self._call(self._owner.store.append_audit, record)

    def audit(self, q: AuditQuery) -> list[AuditRecord]:
        return self._call(self._owner.store.audit, q)
