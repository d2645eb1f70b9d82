"""Caps on what a client can make the API hold: request body size and requests in flight.

An ASGI middleware in front of the whole application, so that no endpoint reads
a body before it is checked. A declared ``Content-Length`` over the cap is
refused at once, the body left unread; a body without one (chunked) is read
only up to the cap, and refused as soon as it passes it. Requests beyond the
cap on concurrent ones are answered 503 at once rather than queued. Every
refusal is counted in ``routepilot_api_rejected_total{reason}``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from routepilot.metrics import Metric, StageMetrics, counter

Scope = dict[str, Any]
Message = dict[str, Any]


class LimitMetrics(StageMetrics):
    """Requests the API refused before handling them, by reason."""

    def __init__(self) -> None:
        self.rejected: defaultdict[str, int] = defaultdict(int)

    def collect(self) -> Iterator[Metric]:
        yield counter(
            "routepilot_api_rejected_total",
            "API requests refused before they were handled, by reason.",
            labels=("reason",),
            values=self.rejected,
        )


class RequestLimits:
    """ASGI middleware: bodies over ``max_body_bytes`` get 413, requests past
    ``max_in_flight`` at once get 503; both counted in ``metrics``."""

    def __init__(
        self, app: Any, max_body_bytes: int, max_in_flight: int, metrics: LimitMetrics
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.metrics = metrics
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.metrics.rejected["too_many_requests"] += 1
            await _refuse(send, 503, "too many requests at once; retry shortly")
            return
        self.in_flight += 1
        try:
            await self._bounded(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _bounded(self, scope: Scope, receive: Any, send: Any) -> None:
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._too_large(send)
            return
        if declared is not None or scope.get("method") in ("GET", "HEAD"):
            # A declared length within the cap is enforced by the server (h11 will not
            # hand over more than it); the app reads the body as usual.
            await self.app(scope, receive, send)
            return
        # No length declared (chunked): read it here, up to the cap, then replay it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._too_large(send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _too_large(self, send: Any) -> None:
        self.metrics.rejected["body_too_large"] += 1
        await _refuse(send, 413, f"request body over {self.max_body_bytes} bytes")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(messages: list[Message], then: Any = None) -> Any:
    """A ``receive`` that gives ``messages`` first, then defers to ``then``."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


async def _refuse(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
