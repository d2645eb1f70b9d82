"""The daemon's alerting component: a manager feeding a dispatcher, and its metrics.

Call :meth:`Alerting.observe` once per decision cycle with the view's ``status()`` and
``providers()``; transitions go to every receiver whose filter lets them through.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import httpx

from routepilot.alerts.dispatch import Dispatcher, Transport
from routepilot.alerts.email import EmailTransport
from routepilot.alerts.events import EVENTS, TEST
from routepilot.alerts.filters import REASONS
from routepilot.alerts.incidents import incident_alert
from routepilot.alerts.manager import Alert, AlertManager
from routepilot.alerts.webhook import WebhookTransport
from routepilot.config.alerts import AlertsConfig
from routepilot.log import get_logger
from routepilot.metrics import Metric, StageMetrics, counter, gauge

log = get_logger(__name__)


def _trap_transport(config: Any) -> Transport:
    # pysnmp is loaded only by a daemon that sends traps.
    from routepilot.alerts.snmp import TrapTransport

    return TrapTransport(config)


class Alerting:
    """The manager, the dispatcher and one transport per configured receiver."""

    def __init__(
        self, config: AlertsConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """``transport`` replaces the network under the webhooks (a test's mock)."""
        self.config = config
        self._http = httpx.AsyncClient(transport=transport, follow_redirects=False)
        self.sender = Dispatcher(config)
        for i, hook in enumerate(config.webhooks):
            self.sender.add("webhook", i, hook, WebhookTransport(hook, self._http))
        for i, mail in enumerate(config.email):
            self.sender.add("email", i, mail, EmailTransport(mail))
        for i, trap in enumerate(config.snmp_traps):
            self.sender.add("snmp", i, trap, _trap_transport(trap))
        self.manager = AlertManager(config, self.sender.submit)
        self.metrics = AlertingMetrics(self)

    async def start(self) -> None:
        await self.sender.start()

    async def stop(self) -> None:
        await self.sender.stop()
        await self._http.aclose()

    def observe(
        self, status: Mapping[str, Any], providers: Iterable[Mapping[str, Any]]
    ) -> list[Alert]:
        """Call once per decision cycle with the view's ``status()`` and ``providers()``."""
        return self.manager.observe(status, providers)

    def incident(self, what: str, incident: Any) -> Alert:
        """diagnose/'s listener: an incident opened (firing) or closed (resolved)."""
        alert = incident_alert(what, incident)
        log.warning("alert", alert=alert.kind, key=alert.key, state=alert.state,
                    summary=alert.summary)  # fmt: skip
        self.sender.submit(alert)
        return alert


class AlertingMetrics(StageMetrics):
    """Deliveries per receiver (``{receiver}`` is ``webhook/0``, ``email/0``, ``snmp/0``:
    its kind and index in the configuration, never a URL or address, which may hold a
    secret), alerts held back by filters, alerts firing by kind, and the queued backlog."""

    def __init__(self, alerting: Alerting) -> None:
        self.alerting = alerting

    def collect(self) -> Iterator[Metric]:
        sender = self.alerting.sender
        m = sender.metrics
        ids = [r.id for r in sender.receivers]
        for name, values, help_text in (
            ("routepilot_alerts_sent_total", m.sent, "Alerts a receiver accepted."),
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
                "Alerts dropped because a receiver's queue was full.",
            ),
        ):
            per_receiver = {r: values.get(r, 0) for r in ids}
            yield counter(name, help_text, labels=("receiver",), values=per_receiver)
        filtered = {(r, reason): m.filtered.get((r, reason), 0) for r in ids for reason in REASONS}
        yield counter(
            "routepilot_alerts_filtered_total",
            "Alerts a receiver's filter held back, by reason (event, severity, rate_limit, "
            "quiet_hours).",
            labels=("receiver", "reason"),
            values=filtered,
        )
        firing: dict[str, int] = {kind: 0 for kind in EVENTS if kind != TEST}
        for alert in self.alerting.manager.firing():
            firing[alert.kind] = firing.get(alert.kind, 0) + 1
        yield gauge(
            "routepilot_alerts_firing",
            "Alerts firing now, by kind.",
            labels=("alert",),
            values=firing,
        )
        yield gauge(
            "routepilot_alerts_queued",
            "Alerts waiting for delivery, all receivers together.",
            sender.queued(),
        )
