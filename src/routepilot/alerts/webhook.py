"""Webhook transport: one JSON POST per alert, in the receiver's preset format."""

from __future__ import annotations

from typing import Any

import httpx

from routepilot.alerts import presets
from routepilot.alerts.dispatch import DeliveryError
from routepilot.alerts.manager import Alert
from routepilot.config.alerts import WebhookConfig

# Statuses that say "later": timeout, too early, rate limited (PagerDuty and Slack send
# 429 with Retry-After); any other 4xx refuses the request itself, and would again.
_RETRYABLE_4XX = (408, 425, 429)


class WebhookTransport:
    """POSTs to one URL through a client shared by every webhook."""

    def __init__(self, config: WebhookConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client

    def body(self, alert: Alert) -> dict[str, Any]:
        if self.config.preset == "pagerduty":
            assert self.config.routing_key is not None  # the model requires it
            return presets.pagerduty(alert, self.config.routing_key.get_secret_value())
        return presets.BODIES[self.config.preset](alert)

    async def start(self) -> None:
        pass

    async def send(self, alert: Alert) -> None:
        try:
            # Only the status is read: a receiver's answer body, however large, is never
            # taken into memory (#17).
            async with self.client.stream(
                "POST", self.config.target, json=self.body(alert), timeout=self.config.timeout_s
            ) as r:
                pass
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retry=True) from None
        if r.status_code < 300:
            return
        retry = not (400 <= r.status_code < 500) or r.status_code in _RETRYABLE_4XX
        raise DeliveryError(f"http {r.status_code}", retry=retry)

    async def close(self) -> None:
        pass
