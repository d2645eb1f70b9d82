"""An in-memory transport for other stages' tests: it records what it is given, and can
fail a number of times first (retryable or not) to exercise the dispatcher's retries."""

from __future__ import annotations

from routepilot.alerts.dispatch import DeliveryError
from routepilot.alerts.manager import Alert


class FakeTransport:
    def __init__(self, fail_first: int = 0, retry: bool = True) -> None:
        self.got: list[Alert] = []
        self.attempts = 0
        self.fail_first = fail_first
        self.retry = retry
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def send(self, alert: Alert) -> None:
        self.attempts += 1
        if self.fail_first > 0:
            self.fail_first -= 1
            raise DeliveryError("fake failure", retry=self.retry)
        self.got.append(alert)

    async def close(self) -> None:
        self.closed = True
