"""Alert webhooks against real HTTP receivers on 127.0.0.1: delivery, order, retry with
backoff, a dead receiver, a full queue, and a daemon loop that never waits for any of it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from routepilot.alerts.component import Alerting
from routepilot.api.config import AlertsConfig, WebhookConfig
from routepilot.api.fake import FakeView


class Receiver:
    """An HTTP server that records JSON POSTs; can fail the first ``fail_first``
    or hold every request open until ``hold`` is set."""

    def __init__(self, fail_first: int = 0, hold: threading.Event | None = None) -> None:
        self.bodies: list[dict] = []
        self.times: list[float] = []
        self.fail_first = fail_first
        self.hold = hold
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.times.append(time.monotonic())
                if hold is not None:
                    hold.wait()
                    return  # released at the end, once the sender has stopped
                if receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    self.send_response(500)
                else:
                    receiver.bodies.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/hook"


def views():
    view = FakeView()
    status, providers = view.status(), view.providers()
    return status, providers


def test_firing_then_resolved_reach_every_webhook_in_order() -> None:
    with Receiver() as a, Receiver() as b:
        config = AlertsConfig(
            webhooks=[WebhookConfig(url=a.url), WebhookConfig(url=b.url)], clear_after=1
        )

        async def run() -> None:
            alerting = Alerting(config)
            await alerting.start()
            status, providers = views()
            providers[1]["loss"] = 1.0
            alerting.observe(status, providers)
            alerting.observe(status, providers)  # still down: nothing new
            providers[1]["loss"] = 0.0
            status["now"] += 10
            alerting.observe(status, providers)
            assert await alerting.sender.drain(5)
            await alerting.stop()

        asyncio.run(run())
        for receiver in (a, b):
            assert [(x["alert"], x["key"], x["state"]) for x in receiver.bodies] == [
                ("provider_outage", "isp2", "firing"),
                ("provider_outage", "isp2", "resolved"),
            ]
        assert a.bodies[0]["severity"] == "critical" and a.bodies[0]["source"] == "routepilot"


def test_retries_with_exponential_backoff(caplog) -> None:
    caplog.set_level("INFO", logger="routepilot.alerts")
    with Receiver(fail_first=3) as r:
        config = AlertsConfig(
            webhooks=[WebhookConfig(url=r.url)], backoff_initial_s=0.1, max_attempts=5
        )

        async def run() -> Alerting:
            alerting = Alerting(config)
            await alerting.start()
            status, providers = views()
            status["sessions"]["edge"] = "active"
            alerting.observe(status, providers)
            assert await alerting.sender.drain(10)
            await alerting.stop()
            return alerting

        alerting = asyncio.run(run())
        assert [x["alert"] for x in r.bodies] == ["bgp_session_down"]
        waits = [x.wait_s for x in caplog.records if x.getMessage() == "alert delivery retry"]
        # 0.1, 0.2, 0.4 s, each within the +-10% jitter ...
        assert len(waits) == 3
        for wait, expected in zip(waits, (0.1, 0.2, 0.4), strict=True):
            assert expected * 0.9 - 0.001 <= wait <= expected * 1.1 + 0.001, waits
        # ... and the receiver saw each attempt no sooner than its wait after the last (a
        # loaded machine can only make the gaps longer).
        gaps = [b - a for a, b in zip(r.times, r.times[1:], strict=False)]
        assert all(gap >= wait for gap, wait in zip(gaps, waits, strict=True)), (gaps, waits)
        assert alerting.sender.metrics.retries == {"webhook/0": 3}
        assert alerting.sender.metrics.sent == {"webhook/0": 1}


def test_a_dead_or_stalled_receiver_never_blocks_the_loop_nor_the_others() -> None:
    """Proven by order, not by timing: the live receiver takes all ten alerts, one by one,
    while the stalled receiver still holds the first request open and the dead one waits
    out its first backoff; each of those two holds one alert and a full queue of three and
    drops the other six, and the live one drops none."""
    release = threading.Event()
    with Receiver() as live, Receiver(hold=release) as stalled:
        config = AlertsConfig(
            webhooks=[
                WebhookConfig(url=dead_url()),
                WebhookConfig(url=stalled.url, timeout_s=60),
                WebhookConfig(url=live.url),
            ],
            queue_size=3,
            max_attempts=2,
            backoff_initial_s=60,
            clear_after=1,
        )

        async def until(what: str, cond: Callable[[], bool]) -> None:
            deadline = time.monotonic() + 30  # a failure deadline, not a bound on speed
            while not cond():
                assert time.monotonic() < deadline, f"waited for {what}"
                await asyncio.sleep(0.005)

        async def run() -> Alerting:
            alerting = Alerting(config)
            await alerting.start()
            status, providers = views()
            for k in range(10):  # 10 transitions: isp3 flaps between out and fine
                providers[2]["loss"] = 1.0 if k % 2 == 0 else 0.0
                status["now"] += 10
                # observe() is synchronous: were it to wait on a receiver, it would wait
                # here on the stalled one, which answers nothing until released.
                alerting.observe(status, providers)
                await until(f"the live receiver's alert {k + 1}", lambda k=k: len(live.bodies) > k)
            # Every alert reached the live receiver while the stalled one still held the
            # first request and the dead one had not made its second attempt.
            assert len(stalled.times) == 1 and not release.is_set()
            assert alerting.sender.metrics.retries.get("webhook/0") == 1
            await until("the drops", lambda: sum(alerting.sender.metrics.dropped.values()) == 12)
            release.set()
            await alerting.stop()
            return alerting

        alerting = asyncio.run(run())
        assert [x["state"] for x in live.bodies] == ["firing", "resolved"] * 5
        assert {x["key"] for x in live.bodies} == {"isp3"}
        m = alerting.sender.metrics
        assert m.dropped == {"webhook/0": 6, "webhook/1": 6}
        assert m.sent == {"webhook/2": 10}
        assert stalled.bodies == []


def test_alert_test_command(tmp_path) -> None:
    import subprocess
    import sys

    with Receiver() as r:
        cfg = tmp_path / "routepilot.yaml"
        bad = dead_url()
        cfg.write_text(f"alerts:\n  webhooks:\n    - url: {r.url}\n    - url: {bad}\n")
        p = subprocess.run(
            [sys.executable, "-m", "routepilot.cli.main", "api", "alert-test", "-c", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 1
        assert p.stdout.splitlines() == [
            f"webhook 0 {r.url}: accepted",
            f"webhook 1 {bad}: FAILED (see log)",
        ]
        assert "alert delivery failed" in p.stderr
        assert [(b["alert"], b["state"], b["severity"]) for b in r.bodies] == [
            ("test", "firing", "info")
        ]
