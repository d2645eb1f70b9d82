"""AlertManager: conditions from the view, raised and cleared on transitions, deduplicated.

Delivery to real webhooks is tested in tests/integration/api/test_webhooks.py.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.samples import series

from routepilot.alerts.component import Alerting
from routepilot.alerts.manager import Alert, AlertManager
from routepilot.api.config import AlertsConfig, WebhookConfig
from routepilot.api.fake import FakeView


class Feed:
    """Successive views from FakeView, changed the way a real controller's would."""

    def __init__(self) -> None:
        self.view = FakeView()
        self.status = self.view.status()
        self.providers = self.view.providers()
        self.t = self.status["now"]

    def tick(self, manager: AlertManager) -> list[Alert]:
        self.t += 10
        self.status["now"] = self.t
        return manager.observe(self.status, self.providers)

    def provider(self, name: str) -> dict:
        return next(p for p in self.providers if p["name"] == name)


def kinds(alerts: list[Alert]) -> list[tuple[str, str, str]]:
    return [(a.kind, a.key, a.state) for a in alerts]


def test_a_quiet_controller_raises_nothing() -> None:
    feed, manager = Feed(), AlertManager(AlertsConfig())
    assert [feed.tick(manager) for _ in range(5)] == [[]] * 5


def test_outage_fires_once_and_resolves_after_clear_after() -> None:
    feed, manager = Feed(), AlertManager(AlertsConfig(clear_after=2))
    feed.provider("isp2")["loss"] = 1.0
    fired = feed.tick(manager)
    assert kinds(fired) == [("provider_outage", "isp2", "firing")]
    assert fired[0].severity == "critical" and "100% probe loss" in fired[0].summary
    assert feed.tick(manager) == [] and feed.tick(manager) == []  # deduplicated while it holds
    feed.provider("isp2")["loss"] = 0.0
    assert feed.tick(manager) == []  # one clean observation is not enough
    resolved = feed.tick(manager)
    assert kinds(resolved) == [("provider_outage", "isp2", "resolved")]
    assert resolved[0].started == fired[0].time
    assert manager.firing() == []


def test_a_flapping_condition_does_not_flap_the_alert() -> None:
    feed, manager = Feed(), AlertManager(AlertsConfig(clear_after=3))
    out = []
    for k in range(12):
        feed.provider("isp1")["loss"] = 0.05 if k % 2 == 0 else 0.0
        out += feed.tick(manager)
    assert kinds(out) == [("provider_brownout", "isp1", "firing")]


def test_a_loss_wavering_about_the_threshold_is_one_alert_until_it_falls_well_below() -> None:
    """A provider whose paths cross a sick transit reads 1.5-2.5 % loss round after round
    (seen in the transit lab): one brownout, resolved once the loss is below half of it."""
    wavering = [0.025, 0.015, 0.018, 0.012, 0.016, 0.021] * 5

    def alerts(ratio: float) -> list[tuple[str, str, str]]:
        feed = Feed()
        manager = AlertManager(AlertsConfig(clear_after=3, loss_clear_ratio=ratio))
        out = []
        for loss in wavering:
            feed.provider("isp2")["loss"] = loss
            out += feed.tick(manager)
        feed.provider("isp2")["loss"] = 0.005
        out += [a for _ in range(3) for a in feed.tick(manager)]
        return kinds(out)

    assert alerts(0.5) == [
        ("provider_brownout", "isp2", "firing"),
        ("provider_brownout", "isp2", "resolved"),
    ]
    assert len(alerts(1.0)) > 2  # without hysteresis it fires and resolves again and again


def test_raise_after_needs_consecutive_observations() -> None:
    feed, manager = Feed(), AlertManager(AlertsConfig(raise_after=3))
    feed.provider("isp3")["healthy"] = False
    feed.provider("isp3")["loss"] = None
    assert feed.tick(manager) == [] and feed.tick(manager) == []
    fired = feed.tick(manager)
    assert kinds(fired) == [("provider_brownout", "isp3", "firing")]
    assert "failing its probes" in fired[0].summary


def test_session_down_is_an_outage_and_router_session_down_its_own_alert() -> None:
    feed, manager = Feed(), AlertManager(AlertsConfig())
    feed.provider("isp1")["session_up"] = False
    feed.status["sessions"]["edge"] = "idle"
    assert kinds(feed.tick(manager)) == [
        ("bgp_session_down", "edge", "firing"),
        ("provider_outage", "isp1", "firing"),
    ]


def test_no_outage_is_raised_or_cleared_while_the_routes_are_arriving() -> None:
    feed, manager = Feed(), AlertManager(AlertsConfig(clear_after=1))
    # Start-up: the session is up and the table arriving; isp1's paths have not
    # come yet. That is no outage (#18: eight false alerts fired here).
    feed.status["routes"] = {"state": "waiting"}
    feed.provider("isp1")["session_up"] = False
    assert feed.tick(manager) == []
    feed.status["routes"] = {"state": "arriving"}
    assert feed.tick(manager) == [] and feed.tick(manager) == []
    # Probe loss is measured, not inferred from missing routes: it still counts.
    feed.provider("isp2")["loss"] = 1.0
    assert kinds(feed.tick(manager)) == [("provider_outage", "isp2", "firing")]
    feed.provider("isp2")["loss"] = 0.0
    # The table is whole and isp1 really has no route: now it is an outage.
    feed.status["routes"] = {"state": "synced"}
    assert kinds(feed.tick(manager)) == [
        ("provider_outage", "isp1", "firing"),
        ("provider_outage", "isp2", "resolved"),
    ]
    # The router's session flaps: while its table comes back, isp1's outage is
    # neither cleared nor raised again.
    feed.status["routes"] = {"state": "arriving"}
    feed.provider("isp1")["session_up"] = True
    assert feed.tick(manager) == [] and feed.tick(manager) == []
    assert [a.key for a in manager.firing()] == ["isp1"]
    feed.status["routes"] = {"state": "synced"}
    assert kinds(feed.tick(manager)) == [("provider_outage", "isp1", "resolved")]
    # Every session down after the tables were whole: the routes are really gone.
    feed.status["routes"] = {"state": "down"}
    feed.provider("isp1")["session_up"] = False
    assert kinds(feed.tick(manager)) == [("provider_outage", "isp1", "firing")]


def test_a_session_still_coming_up_at_start_is_no_alert_for_a_while() -> None:
    feed, manager = Feed(), AlertManager(AlertsConfig())
    feed.status["routes"] = {"state": "waiting"}
    feed.status["started"] = feed.t
    feed.status["sessions"]["edge"] = "down"
    feed.status["degraded"] = ["bgp session down: edge"]
    assert feed.tick(manager) == [] and feed.tick(manager) == []  # 10 s, 20 s
    # Still down 30 s after the start: the router is unreachable.
    assert kinds(feed.tick(manager)) == [
        ("bgp_session_down", "edge", "firing"),
        ("controller_degraded", "controller", "firing"),
    ]


def test_commit_overrun_and_degraded() -> None:
    feed, manager = Feed(), AlertManager(AlertsConfig(commit_margin=0.1, clear_after=1))
    isp1 = feed.provider("isp1")
    isp1["p95_bps"] = isp1["commit_bps"] * 1.05  # within the margin
    assert feed.tick(manager) == []
    isp1["p95_bps"] = isp1["commit_bps"] * 1.2
    feed.status["degraded"] = ["probe rollups failing"]
    fired = feed.tick(manager)
    assert kinds(fired) == [
        ("commit_overrun", "isp1", "firing"),
        ("controller_degraded", "controller", "firing"),
    ]
    assert fired[0].details == {"p95_bps": isp1["p95_bps"], "commit_bps": isp1["commit_bps"]}
    assert fired[1].summary == "controller degraded: probe rollups failing"
    feed.status["degraded"] = []
    assert kinds(feed.tick(manager)) == [("controller_degraded", "controller", "resolved")]


def test_escalation_from_brownout_to_outage() -> None:
    feed, manager = Feed(), AlertManager(AlertsConfig(clear_after=1))
    feed.provider("isp2")["loss"] = 0.1
    assert kinds(feed.tick(manager)) == [("provider_brownout", "isp2", "firing")]
    feed.provider("isp2")["loss"] = 0.9
    assert kinds(feed.tick(manager)) == [
        ("provider_brownout", "isp2", "resolved"),
        ("provider_outage", "isp2", "firing"),
    ]


def test_payload_fields_are_a_contract() -> None:
    feed, manager = Feed(), AlertManager(AlertsConfig())
    feed.provider("isp2")["loss"] = 1.0
    payload = feed.tick(manager)[0].payload()
    assert list(payload) == [
        "source", "version", "alert", "key", "state", "severity", "summary", "details",
        "started", "time",
    ]  # fmt: skip
    assert payload["source"] == "routepilot" and payload["state"] == "firing"


def test_sink_gets_every_transition() -> None:
    got: list[Alert] = []
    feed, manager = Feed(), AlertManager(AlertsConfig(clear_after=1), got.append)
    feed.provider("isp2")["loss"] = 1.0
    feed.tick(manager)
    feed.provider("isp2")["loss"] = 0.0
    feed.tick(manager)
    assert [a.state for a in got] == ["firing", "resolved"]


@pytest.mark.parametrize(
    "status,attempts", [(500, 3), (503, 3), (429, 3), (400, 1), (404, 1), (200, 1)]
)
def test_retries_only_what_may_succeed_later(status: int, attempts: int) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status)

    config = AlertsConfig(
        webhooks=[WebhookConfig(url="http://receiver.invalid/hook")],
        max_attempts=3,
        backoff_initial_s=0.001,
    )

    async def run() -> Alerting:
        alerting = Alerting(config, transport=httpx.MockTransport(handler))
        await alerting.start()
        feed = Feed()
        feed.provider("isp1")["loss"] = 1.0
        feed.tick(alerting.manager)
        assert await alerting.sender.drain(5)
        await alerting.stop()
        return alerting

    alerting = asyncio.run(run())
    assert len(calls) == attempts
    samples = series(alerting.metrics)
    ok = status < 300
    hook = (("receiver", "webhook/0"),)
    assert samples[("routepilot_alerts_sent_total", hook)] == (1 if ok else 0)
    assert samples[("routepilot_alert_failures_total", hook)] == (0 if ok else 1)
    assert samples[("routepilot_alert_retries_total", hook)] == attempts - 1
    assert samples[("routepilot_alerts_firing", (("alert", "provider_outage"),))] == 1


def test_a_receivers_answer_body_is_never_read() -> None:
    """A hostile or broken receiver answering with an endless body costs nothing."""
    pulled: list[int] = []

    class Endless(httpx.AsyncByteStream):
        async def __aiter__(self):
            for _ in range(1000):
                pulled.append(1)
                yield b"x" * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Endless())

    config = AlertsConfig(webhooks=[WebhookConfig(url="http://receiver.invalid/hook")])

    async def run() -> Alerting:
        alerting = Alerting(config, transport=httpx.MockTransport(handler))
        await alerting.start()
        feed = Feed()
        feed.provider("isp1")["loss"] = 1.0
        feed.tick(alerting.manager)
        assert await alerting.sender.drain(5)
        await alerting.stop()
        return alerting

    alerting = asyncio.run(run())
    assert alerting.sender.metrics.sent == {"webhook/0": 1}
    assert len(pulled) <= 1
