"""Delivery: one bounded queue and one task per receiver, retries with backoff.

``submit()`` never waits: it asks each receiver's filter, then puts the alert on that
receiver's queue; when the queue is full the oldest alert is dropped and counted (so a
receiver that is down for hours holds the newest ``queue_size`` alerts, never more). One
task per receiver hands alerts to its transport, retrying what may succeed later with
exponential backoff and jitter; a dead receiver delays only its own queue.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from routepilot.alerts.filters import Filter
from routepilot.alerts.manager import Alert
from routepilot.config.alerts import AlertsConfig, ReceiverFilter
from routepilot.log import get_logger

log = get_logger("routepilot.alerts")


class DeliveryError(Exception):
    """A delivery attempt failed; ``retry`` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class Transport(Protocol):
    """How alerts reach one kind of receiver (webhook, email, SNMP trap)."""

    async def start(self) -> None: ...

    async def send(self, alert: Alert) -> None:
        """Delivers ``alert`` or raises :class:`DeliveryError`."""
        ...

    async def close(self) -> None: ...


@dataclass
class Receiver:
    """One configured receiver: its id in metrics and logs (``webhook/0``, ``email/1``,
    ``snmp/0``: never a URL or address, which may hold a secret), its filter, its transport."""

    id: str
    filter: Filter
    transport: Transport
    queue: asyncio.Queue[Alert] = field(default_factory=asyncio.Queue)


@dataclass
class SenderMetrics:
    sent: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    filtered: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(receiver, reason) -> alerts the receiver's filter held back."""

    def add(self, what: dict[str, int], receiver: str) -> None:
        what[receiver] = what.get(receiver, 0) + 1


class Dispatcher:
    """Every receiver's queue and task; ``submit()`` never waits."""

    def __init__(self, config: AlertsConfig) -> None:
        self.config = config
        self.receivers: list[Receiver] = []
        self.metrics = SenderMetrics()
        self._tasks: list[asyncio.Task[None]] = []
        self._rnd = random.Random()

    def add(self, kind: str, index: int, rule: ReceiverFilter, transport: Transport) -> None:
        queue = asyncio.Queue[Alert](maxsize=self.config.queue_size)
        self.receivers.append(Receiver(f"{kind}/{index}", Filter(rule), transport, queue))

    def submit(self, alert: Alert) -> None:
        for r in self.receivers:
            reason = r.filter.verdict(alert)
            if reason is not None:
                self.metrics.filtered[r.id, reason] += 1
                log.info("alert filtered", receiver=r.id, alert=alert.kind, reason=reason)
                continue
            if r.queue.full():
                r.queue.get_nowait()
                r.queue.task_done()
                self.metrics.add(self.metrics.dropped, r.id)
                log.warning("alert dropped: receiver queue full", receiver=r.id)
            r.queue.put_nowait(alert)

    async def start(self) -> None:
        for r in self.receivers:
            await r.transport.start()
            self._tasks.append(asyncio.create_task(self._worker(r), name=f"alerts-{r.id}"))

    async def drain(self, timeout: float) -> bool:
        """Waits until every queued alert was delivered or given up; False on timeout."""
        try:
            await asyncio.wait_for(
                asyncio.gather(*(r.queue.join() for r in self.receivers)), timeout
            )
        except TimeoutError:
            return False
        return True

    async def stop(self, drain_s: float = 2.0) -> None:
        """Gives queued alerts ``drain_s`` to go out, then stops."""
        if self._tasks:
            await self.drain(drain_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for r in self.receivers:
            await r.transport.close()

    def queued(self) -> int:
        return sum(r.queue.qsize() for r in self.receivers)

    async def _worker(self, r: Receiver) -> None:
        while True:
            alert = await r.queue.get()
            try:
                await self._deliver(r, alert)
            except Exception as exc:  # a transport's bug must not end its receiver's task
                self.metrics.add(self.metrics.failed, r.id)
                log.error("alert delivery crashed", receiver=r.id, error=repr(exc))
            finally:
                r.queue.task_done()

    async def _deliver(self, r: Receiver, alert: Alert) -> None:
        c = self.config
        delay = c.backoff_initial_s
        error = ""
        for attempt in range(1, c.max_attempts + 1):
            try:
                await r.transport.send(alert)
            except DeliveryError as exc:
                error = str(exc)[:200]
                if not exc.retry:
                    break
            else:
                self.metrics.add(self.metrics.sent, r.id)
                return
            if attempt == c.max_attempts:
                break
            self.metrics.add(self.metrics.retries, r.id)
            # Jitter spreads retries from several controllers hitting one receiver.
            wait = min(delay, c.backoff_max_s) * (0.9 + 0.2 * self._rnd.random())
            log.info(
                "alert delivery retry",
                receiver=r.id,
                alert=alert.kind,
                attempt=attempt + 1,
                wait_s=round(wait, 3),
                error=error,
            )
            await asyncio.sleep(wait)
            delay *= 2
        self.metrics.add(self.metrics.failed, r.id)
        log.warning(
            "alert delivery failed", receiver=r.id, alert=alert.kind, key=alert.key, error=error
        )
