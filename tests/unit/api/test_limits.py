"""Request limits (issue 17): bodies over the cap get 413 unread, requests past the cap on
concurrent ones get 503, and both are counted."""

from __future__ import annotations

import asyncio

from routepilot.api.config import ApiConfig
from routepilot.api.limits import LimitMetrics, RequestLimits
from routepilot.metrics import Registry, render

from .conftest import WRITE, make_client


def test_a_body_over_the_cap_is_refused_and_counted():
    registry = Registry()
    c = make_client(ApiConfig(write_token=WRITE, max_body_bytes=1024), registry=registry)
    c.headers["Authorization"] = f"Bearer {WRITE}"
    r = c.put("/api/v1/control/dry-run", content=b'{"enabled": true}' + b" " * 2000)
    assert r.status_code == 413
    assert r.json() == {"error": "request body over 1024 bytes"}
    r = c.put("/api/v1/control/dry-run", json={"enabled": True})
    assert r.status_code == 200
    text = render(registry, None)[0].decode()
    assert 'routepilot_api_rejected_total{reason="body_too_large"} 1.0' in text


def test_a_chunked_body_is_read_only_up_to_the_cap():
    c = make_client(ApiConfig(write_token=WRITE, max_body_bytes=1024))
    c.headers["Authorization"] = f"Bearer {WRITE}"

    def chunks():
        for _ in range(1000):
            yield b"x" * 512

    r = c.put("/api/v1/control/dry-run", content=chunks())
    assert r.status_code == 413
    small = iter([b'{"enabled":', b" false}"])
    json_type = {"content-type": "application/json"}
    r = c.put("/api/v1/control/dry-run", content=small, headers=json_type)
    assert r.status_code == 200, r.text


def test_requests_past_the_cap_in_flight_get_503():
    metrics = LimitMetrics()
    release = asyncio.Event()
    started = []

    async def slow_app(scope, receive, send):
        started.append(1)
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limits = RequestLimits(slow_app, max_body_bytes=1024, max_in_flight=2, metrics=metrics)

    async def call():
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "headers": []}
        await limits(scope, receive, send)
        return sent[0]["status"]

    async def main():
        first = [asyncio.create_task(call()) for _ in range(2)]
        while len(started) < 2:
            await asyncio.sleep(0)
        third = await call()
        release.set()
        return third, [await t for t in first]

    third, first = asyncio.run(main())
    assert third == 503
    assert first == [200, 200]
    assert metrics.rejected == {"too_many_requests": 1}
    assert limits.in_flight == 0
