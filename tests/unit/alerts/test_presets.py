"""Webhook bodies in the documented shapes of Slack incoming webhooks (text + Block Kit),
Microsoft Teams (a message with an Adaptive Card attachment) and the PagerDuty Events API v2
(trigger and resolve sharing one dedup_key), within each service's documented limits."""

from __future__ import annotations

from routepilot.alerts import presets
from routepilot.alerts.manager import Alert

T0 = 1_796_170_000.0


def outage(state: str = "firing", summary: str = "provider isp2 is out: 100% probe loss") -> Alert:
    details = {"loss": 1.0, "rtt_ms": None, "session_up": True}
    return Alert("provider_outage", "isp2", state, "critical", summary, details, T0, T0 + 30)


def test_slack_incoming_webhook_text_and_blocks() -> None:
    body = presets.slack(outage())
    assert set(body) == {"text", "blocks"}
    assert "provider isp2 is out" in body["text"]
    header, section, context = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "FIRING critical provider_outage isp2"},
    }
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert {"type": "mrkdwn", "text": "*loss*\n1"} in section["fields"]
    assert {"type": "mrkdwn", "text": "*rtt_ms*\nn/a"} in section["fields"]
    assert context["type"] == "context" and context["elements"][0]["type"] == "mrkdwn"


def test_slack_limits_and_escaping() -> None:
    long = "<!channel> & " + "x" * 5000
    a = Alert("controller_degraded", "k" * 300, "firing", "warning", long, {}, T0, T0)
    body = presets.slack(a)
    header, section, _ = body["blocks"]
    assert len(header["text"]["text"]) <= 150
    assert len(section["text"]["text"]) <= 3000 and len(body["text"]) <= 3000
    assert len(section["fields"]) <= 10
    assert "<!channel>" not in body["text"] and "&lt;!channel&gt; &amp;" in body["text"]
    many = Alert("test", "x", "firing", "info", "s", {f"f{i}": i for i in range(20)}, T0, T0)
    assert len(presets.slack(many)["blocks"][1]["fields"]) == 10


def test_teams_adaptive_card_attachment() -> None:
    body = presets.teams(outage())
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    title, summary, facts = card["body"]
    assert title["type"] == "TextBlock" and title["color"] == "Attention"
    assert summary["text"] == "provider isp2 is out: 100% probe loss"
    assert facts["type"] == "FactSet"
    assert {"title": "loss", "value": "1"} in facts["facts"]
    resolved = presets.teams(outage("resolved"))["attachments"][0]["content"]["body"][0]
    assert resolved["color"] == "Good"


def test_pagerduty_trigger_then_resolve_with_one_dedup_key() -> None:
    trigger = presets.pagerduty(outage(), "R0UTINGKEY")
    assert trigger["routing_key"] == "R0UTINGKEY"
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == "routepilot/provider_outage/isp2"
    payload = trigger["payload"]
    assert payload["summary"] == "provider isp2 is out: 100% probe loss"
    assert payload["source"] == "isp2" and payload["severity"] == "critical"
    assert payload["class"] == "provider_outage"
    assert payload["timestamp"] == "2026-12-02T00:07:10+00:00"
    assert payload["custom_details"]["loss"] == 1.0
    resolve = presets.pagerduty(outage("resolved"), "R0UTINGKEY")
    assert resolve == {
        "routing_key": "R0UTINGKEY",
        "event_action": "resolve",
        "dedup_key": trigger["dedup_key"],
    }


def test_pagerduty_limits_and_severities() -> None:
    a = Alert("controller_degraded", "c" * 400, "firing", "warning", "s" * 2000, {}, T0, T0)
    body = presets.pagerduty(a, "k")
    assert len(body["payload"]["summary"]) <= 1024 and len(body["dedup_key"]) <= 255
    for severity in ("info", "warning", "critical"):
        b = presets.pagerduty(Alert("test", "x", "firing", severity, "s", {}, T0, T0), "k")
        assert b["payload"]["severity"] in ("critical", "error", "warning", "info")


def test_generic_is_the_payload_contract() -> None:
    assert presets.generic(outage()) == outage().payload()
