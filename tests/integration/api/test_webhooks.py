"""Alert webhooks against real HTTP receivers on 127.0.0.1: delivery, order, retry with
backoff, a dead receiver, a full queue, and a daemon loop that never waits for any of it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from routepilot.alerts.component import Alerting
from routepilot.api.config import AlertsConfig, WebhookConfig
from routepilot.api.fake import FakeView


class Receiver:
    """An HTTP server that records JSON POSTs; can fail the first ``fail_first`` or stall."""

    def __init__(self, fail_first: int = 0, stall_s: float = 0.0) -> None:
        self.bodies: list[dict] = []
        self.times: list[float] = []
        self.fail_first = fail_first
        self.stall_s = stall_s
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.times.append(time.monotonic())
                if receiver.stall_s:
                    time.sleep(receiver.stall_s)
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


def test_retries_with_exponential_backoff() -> None:
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
        gaps = [b - a for a, b in zip(r.times, r.times[1:], strict=False)]
        assert len(gaps) == 3
        # 0.1, 0.2, 0.4 s, each within the +-10% jitter and some scheduling slack.
        for gap, expected in zip(gaps, (0.1, 0.2, 0.4), strict=True):
            assert expected * 0.85 <= gap <= expected * 1.1 + 0.3, gaps
        assert alerting.sender.metrics.retries == {"webhook/0": 3}
        assert alerting.sender.metrics.sent == {"webhook/0": 1}


def test_a_dead_or_stalled_receiver_never_blocks_the_loop_nor_the_others() -> None:
    with Receiver() as live, Receiver(stall_s=1.0) as stalled:
        config = AlertsConfig(
            webhooks=[
                WebhookConfig(url=dead_url()),
                WebhookConfig(url=stalled.url, timeout_s=0.2),
                WebhookConfig(url=live.url),
            ],
            queue_size=3,
            max_attempts=2,
            backoff_initial_s=0.05,
            clear_after=1,
        )

        async def run() -> tuple[Alerting, float, float, float]:
            alerting = Alerting(config)
            await alerting.start()
            status, providers = views()
            gaps: list[float] = []
            stop = asyncio.Event()

            async def heartbeat() -> None:
                last = time.monotonic()
                while not stop.is_set():
                    await asyncio.sleep(0.01)
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now

            beat = asyncio.create_task(heartbeat())
            worst_observe = 0.0
            for k in range(10):  # 10 transitions: isp3 flaps between out and fine
                providers[2]["loss"] = 1.0 if k % 2 == 0 else 0.0
                status["now"] += 10
                t0 = time.perf_counter()
                alerting.observe(status, providers)
                worst_observe = max(worst_observe, time.perf_counter() - t0)
                await asyncio.sleep(0.02)
            start = time.monotonic()
            while len(live.bodies) < 10 and time.monotonic() - start < 5:
                await asyncio.sleep(0.01)
            live_done = time.monotonic() - start
            stop.set()
            await beat
            await alerting.stop()
            return alerting, worst_observe, max(gaps), live_done

        alerting, worst_observe, worst_gap, live_done = asyncio.run(run())
        assert len(live.bodies) == 10
        assert [x["state"] for x in live.bodies] == ["firing", "resolved"] * 5
        assert live_done < 1.0
        assert worst_observe < 0.05, worst_observe  # no network wait (0.2 s timeouts)
        assert worst_gap < 0.15, worst_gap  # blocking would show the 0.2 s timeouts
        m = alerting.sender.metrics
        assert m.dropped.get("webhook/0", 0) > 0 and m.dropped.get("webhook/1", 0) > 0
        assert m.failed.get("webhook/0", 0) >= 1
        assert "webhook/2" not in m.dropped and m.sent == {"webhook/2": 10}


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
