"""Alerts: conditions read from the controller's view, raised and cleared on transitions,
delivered to webhooks as JSON without ever blocking the daemon.

- :class:`AlertManager` is pure: it takes successive ``status()``/``providers()``
  views (api/view.py) and returns the alerts that changed state. A condition
  must hold ``raise_after`` observations to fire and be gone ``clear_after``
  observations to resolve, and a firing alert is never sent again while it
  holds: one "firing" and one "resolved" per episode.
- :class:`WebhookSender` delivers them: ``submit()`` only puts the alert on a
  bounded queue per webhook (the oldest is dropped when full), and one task per
  webhook POSTs it with retries and exponential backoff. A dead receiver
  delays only its own queue.
- :class:`Alerting` is both, as one component with ``start()``/``stop()`` for
  the daemon: call :meth:`Alerting.observe` once per decision cycle.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from routepilot import __version__
from routepilot.api.config import AlertsConfig, WebhookConfig
from routepilot.log import get_logger
from routepilot.metrics import Metric, StageMetrics, counter, gauge

log = get_logger(__name__)

OUTAGE = "provider_outage"
BROWNOUT = "provider_brownout"
COMMIT = "commit_overrun"
SESSION = "bgp_session_down"
DEGRADED = "controller_degraded"
KINDS = (OUTAGE, BROWNOUT, COMMIT, SESSION, DEGRADED)


@dataclass(frozen=True)
class Alert:
    """One state change of one condition; ``payload()`` is what a webhook receives."""

    kind: str
    """provider_outage, provider_brownout, commit_overrun, bgp_session_down, controller_degraded."""
    key: str
    """What it is about: a provider, a router, or ``controller``."""
    state: str
    """``firing`` or ``resolved``."""
    severity: str
    """``critical`` or ``warning``."""
    summary: str
    details: Mapping[str, Any]
    started: float
    """When the condition was first seen in this episode (controller's clock)."""
    time: float
    """When this state change happened."""

    def payload(self) -> dict[str, Any]:
        return {
            "source": "routepilot",
            "version": __version__,
            "alert": self.kind,
            "key": self.key,
            "state": self.state,
            "severity": self.severity,
            "summary": self.summary,
            "details": dict(self.details),
            "started": self.started,
            "time": self.time,
        }


@dataclass
class _Track:
    bad: int = 0
    good: int = 0
    first_seen: float = 0.0
    firing: Alert | None = None


Condition = tuple[str, str, dict[str, Any]]
"""(severity, summary, details) of a condition that holds now."""


class AlertManager:
    """Turns successive views into alert transitions (raise and clear, deduplicated)."""

    def __init__(self, config: AlertsConfig, sink: Callable[[Alert], None] | None = None) -> None:
        self.config = config
        self.sink = sink
        self._tracks: dict[tuple[str, str], _Track] = {}

    def conditions(
        self, status: Mapping[str, Any], providers: Iterable[Mapping[str, Any]]
    ) -> dict[tuple[str, str], Condition]:
        """Every condition that holds in this view, keyed by (kind, key)."""
        c = self.config
        out: dict[tuple[str, str], Condition] = {}
        for p in providers:
            name = str(p.get("name"))
            loss = p.get("loss")
            numbers = {"loss": loss, "rtt_ms": p.get("rtt_ms"), "session_up": p.get("session_up")}
            if not p.get("session_up", True):
                out[(OUTAGE, name)] = (
                    "critical",
                    f"provider {name} is out: its routes are gone (session down)",
                    numbers,
                )
            elif loss is not None and loss >= c.outage_loss:
                out[(OUTAGE, name)] = (
                    "critical",
                    f"provider {name} is out: {loss:.0%} probe loss",
                    numbers,
                )
            elif (loss is not None and loss >= c.brownout_loss) or not p.get("healthy", True):
                why = f"{loss:.1%} probe loss" if loss is not None else "failing its probes"
                out[(BROWNOUT, name)] = (
                    "warning",
                    f"provider {name} is browning out: {why}",
                    numbers,
                )
            commit, p95 = p.get("commit_bps") or 0.0, p.get("p95_bps")
            if commit > 0 and p95 is not None and p95 > commit * (1 + c.commit_margin):
                out[(COMMIT, name)] = (
                    "warning",
                    f"provider {name} is over its commit: 95th percentile "
                    f"{p95 / 1e6:.1f} Mb/s > {commit / 1e6:.1f} Mb/s",
                    {"p95_bps": p95, "commit_bps": commit},
                )
        for router, state in (status.get("sessions") or {}).items():
            if state != "established":
                out[(SESSION, str(router))] = (
                    "critical",
                    f"BGP session to {router} is {state}: no routes are injected through it",
                    {"state": state},
                )
        degraded = list(status.get("degraded") or [])
        if degraded:
            out[(DEGRADED, "controller")] = (
                "warning",
                "controller degraded: " + "; ".join(str(d) for d in degraded),
                {"reasons": degraded},
            )
        return out

    def observe(
        self, status: Mapping[str, Any], providers: Iterable[Mapping[str, Any]]
    ) -> list[Alert]:
        """Compares this view with the previous ones; returns (and sinks) the transitions."""
        now = float(status.get("now") or time.time())
        holding = self.conditions(status, providers)
        changes: list[Alert] = []
        for ident in sorted(set(holding) | set(self._tracks)):
            track = self._tracks.setdefault(ident, _Track(first_seen=now))
            if ident in holding:
                track.bad, track.good = track.bad + 1, 0
                if track.firing is None and track.bad >= self.config.raise_after:
                    severity, summary, details = holding[ident]
                    track.firing = Alert(
                        *ident, "firing", severity, summary, details, track.first_seen, now
                    )
                    changes.append(track.firing)
                continue
            track.good, track.bad = track.good + 1, 0
            if track.firing is None:
                del self._tracks[ident]
            elif track.good >= self.config.clear_after:
                f = track.firing
                summary = f"resolved: {f.summary}"
                changes.append(
                    Alert(f.kind, f.key, "resolved", f.severity, summary, f.details, f.started, now)
                )
                del self._tracks[ident]
        for alert in changes:
            log.warning(
                "alert", alert=alert.kind, key=alert.key, state=alert.state, summary=alert.summary
            )
            if self.sink is not None:
                self.sink(alert)
        return changes

    def firing(self) -> list[Alert]:
        return [t.firing for _, t in sorted(self._tracks.items()) if t.firing is not None]


@dataclass
class SenderMetrics:
    sent: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def add(self, what: dict[str, int], hook: str) -> None:
        what[hook] = what.get(hook, 0) + 1


class WebhookSender:
    """Bounded queues and one delivery task per webhook; ``submit()`` never waits."""

    def __init__(self, config: AlertsConfig, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self._transport = transport
        self.metrics = SenderMetrics()
        self._queues = [asyncio.Queue[Alert](maxsize=config.queue_size) for _ in config.webhooks]
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._rnd = random.Random()

    def submit(self, alert: Alert) -> None:
        for i, queue in enumerate(self._queues):
            if queue.full():
                queue.get_nowait()
                queue.task_done()
                self.metrics.add(self.metrics.dropped, str(i))
                log.warning("alert dropped: webhook queue full", webhook=i)
            queue.put_nowait(alert)

    async def start(self) -> None:
        self._client = httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        for i, hook in enumerate(self.config.webhooks):
            task = asyncio.create_task(self._worker(i, hook, self._queues[i]), name=f"webhook-{i}")
            self._tasks.append(task)

    async def drain(self, timeout: float) -> bool:
        """Waits until every queued alert was delivered or given up; False on timeout."""
        try:
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in self._queues)), timeout)
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
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _worker(self, index: int, hook: WebhookConfig, queue: asyncio.Queue[Alert]) -> None:
        while True:
            alert = await queue.get()
            try:
                await self._deliver(str(index), hook, alert)
            finally:
                queue.task_done()

    async def _deliver(self, hook_id: str, hook: WebhookConfig, alert: Alert) -> None:
        assert self._client is not None
        c = self.config
        delay = c.backoff_initial_s
        for attempt in range(1, c.max_attempts + 1):
            try:
                r = await self._client.post(hook.url, json=alert.payload(), timeout=hook.timeout_s)
                if r.status_code < 300:
                    self.metrics.add(self.metrics.sent, hook_id)
                    return
                error = f"http {r.status_code}"
                # A receiver that refuses the request itself will refuse it again.
                if 400 <= r.status_code < 500 and r.status_code not in (408, 425, 429):
                    break
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:200]
            if attempt == c.max_attempts:
                break
            self.metrics.add(self.metrics.retries, hook_id)
            # Jitter spreads retries from several controllers hitting one receiver.
            await asyncio.sleep(min(delay, c.backoff_max_s) * (0.9 + 0.2 * self._rnd.random()))
            delay *= 2
        self.metrics.add(self.metrics.failed, hook_id)
        log.warning(
            "alert delivery failed", webhook=hook_id, alert=alert.kind, key=alert.key, error=error
        )

    def queued(self) -> int:
        return sum(q.qsize() for q in self._queues)


class Alerting:
    """The daemon's alerting component: a manager feeding a sender."""

    def __init__(
        self, config: AlertsConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.sender = WebhookSender(config, transport)
        self.manager = AlertManager(config, self.sender.submit)
        self.metrics = AlertingMetrics(self)

    async def start(self) -> None:
        await self.sender.start()

    async def stop(self) -> None:
        await self.sender.stop()

    def observe(
        self, status: Mapping[str, Any], providers: Iterable[Mapping[str, Any]]
    ) -> list[Alert]:
        """Call once per decision cycle with the view's ``status()`` and ``providers()``."""
        return self.manager.observe(status, providers)


class AlertingMetrics(StageMetrics):
    """Deliveries per webhook (``{webhook}`` is its index in the list, not its URL, which
    may hold a secret), alerts firing by kind, and the queued backlog."""

    def __init__(self, alerting: Alerting) -> None:
        self.alerting = alerting

    def collect(self) -> Iterator[Metric]:
        sender = self.alerting.sender
        m = sender.metrics
        hooks = [str(i) for i in range(len(sender.config.webhooks))]
        for name, values, help_text in (
            ("routepilot_alerts_sent_total", m.sent, "Alerts a webhook accepted (2xx)."),
            (
                "routepilot_alert_retries_total",
                m.retries,
                "Delivery attempts that failed and were retried.",
            ),
            (
                "routepilot_alert_failures_total",
                m.failed,
                "Alerts given up on after their last attempt.",
            ),
            (
                "routepilot_alerts_dropped_total",
                m.dropped,
                "Alerts dropped because a webhook's queue was full.",
            ),
        ):
            per_hook = {hook: values.get(hook, 0) for hook in hooks}
            yield counter(name, help_text, labels=("webhook",), values=per_hook)
        firing: dict[str, int] = dict.fromkeys(KINDS, 0)
        for alert in self.alerting.manager.firing():
            firing[alert.kind] += 1
        yield gauge(
            "routepilot_alerts_firing",
            "Alerts firing now, by kind.",
            labels=("alert",),
            values=firing,
        )
        yield gauge(
            "routepilot_alerts_queued",
            "Alerts waiting for delivery, all webhooks together.",
            sender.queued(),
        )
