"""Preset webhooks against a real HTTP receiver on 127.0.0.1: Slack, Teams and PagerDuty
bodies as the services document them, PagerDuty's trigger and resolve sharing a dedup_key,
its routing key read from the environment; filters choose which receiver gets what."""

from __future__ import annotations

import asyncio

import pytest
from tests.alertrecv import HttpRecorder

from routepilot.alerts.component import Alerting
from routepilot.api.fake import FakeView
from routepilot.config.alerts import AlertsConfig, WebhookConfig


def outage_and_back(config: AlertsConfig) -> Alerting:
    async def run() -> Alerting:
        alerting = Alerting(config)
        await alerting.start()
        view = FakeView()
        status, providers = view.status(), view.providers()
        providers[1]["loss"] = 1.0  # outage, critical
        providers[2]["loss"] = 0.1  # brownout, warning
        alerting.observe(status, providers)
        providers[1]["loss"] = providers[2]["loss"] = 0.0
        status["now"] += 10
        alerting.observe(status, providers)
        assert await alerting.sender.drain(10)
        await alerting.stop()
        return alerting

    return asyncio.run(run())


def test_slack_teams_pagerduty_bodies_reach_their_receivers(monkeypatch) -> None:
    monkeypatch.setenv("RP_TEST_PD_KEY", "0123456789abcdef0123456789abcdef")
    with HttpRecorder(status=202) as r:
        config = AlertsConfig(
            webhooks=[
                WebhookConfig(url=r.url("/slack"), preset="slack"),
                WebhookConfig(url=r.url("/teams"), preset="teams", min_severity="critical"),
                WebhookConfig.model_validate(
                    {
                        "url": r.url("/pagerduty"),
                        "preset": "pagerduty",
                        "routing_key_env": "RP_TEST_PD_KEY",
                        "events": ["provider_outage"],
                    }
                ),
            ],
            clear_after=1,
        )
        alerting = outage_and_back(config)
    by_path: dict[str, list[dict]] = {}
    for path, body in r.posts:
        by_path.setdefault(path, []).append(body)
    # Slack gets all four transitions, Teams the critical ones, PagerDuty the outage's.
    assert [b["blocks"][0]["text"]["text"] for b in by_path["/slack"]] == [
        "FIRING warning provider_brownout isp3",
        "FIRING critical provider_outage isp2",
        "RESOLVED warning provider_brownout isp3",
        "RESOLVED critical provider_outage isp2",
    ]
    teams = [b["attachments"][0]["content"]["body"][0]["text"] for b in by_path["/teams"]]
    assert teams == [
        "FIRING critical provider_outage isp2",
        "RESOLVED critical provider_outage isp2",
    ]
    trigger, resolve = by_path["/pagerduty"]
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "routepilot/provider_outage/isp2"
    assert trigger["routing_key"] == "0123456789abcdef0123456789abcdef"
    assert trigger["payload"]["severity"] == "critical"
    m = alerting.sender.metrics
    assert m.sent == {"webhook/0": 4, "webhook/1": 2, "webhook/2": 2}
    assert m.filtered == {("webhook/1", "severity"): 2, ("webhook/2", "event"): 2}


@pytest.mark.parametrize("status,attempts", [(429, 3), (400, 1)])
def test_pagerduty_rate_limit_is_retried_and_a_refusal_is_not(
    monkeypatch, status: int, attempts: int
) -> None:
    monkeypatch.setenv("RP_TEST_PD_KEY", "k" * 32)
    with HttpRecorder(status=status) as r:
        hook = WebhookConfig.model_validate(
            {"url": r.url(), "preset": "pagerduty", "routing_key_env": "RP_TEST_PD_KEY"}
        )
        config = AlertsConfig(webhooks=[hook], max_attempts=3, backoff_initial_s=0.01)

        async def run() -> Alerting:
            alerting = Alerting(config)
            await alerting.start()
            view = FakeView()
            view_status, providers = view.status(), view.providers()
            providers[0]["loss"] = 1.0
            alerting.observe(view_status, providers)
            assert await alerting.sender.drain(10)
            await alerting.stop()
            return alerting

        alerting = asyncio.run(run())
    assert len(r.posts) == attempts
    assert alerting.sender.metrics.failed == {"webhook/0": 1}
