"""Webhook bodies: routepilot's own JSON and the documented formats of three services.

- ``slack``: a Slack incoming webhook message, a ``text`` fallback (what notifications
  show) and Block Kit ``blocks``: a header (plain text, at most 150 characters), a section
  (mrkdwn, at most 3000 characters, at most 10 fields) and a context line. Slack reads
  ``&``, ``<`` and ``>`` as markup, so they are escaped.
- ``teams``: a Microsoft Teams message with one Adaptive Card attachment (content type
  ``application/vnd.microsoft.card.adaptive``, card version 1.4): what Teams incoming
  webhooks and Workflows webhooks accept.
- ``pagerduty``: a PagerDuty Events API v2 event: ``trigger`` when an alert fires and
  ``resolve`` when it clears, both with the same ``dedup_key`` (at most 255 characters),
  so the incident PagerDuty opens is closed by routepilot; ``payload.summary`` at most
  1024 characters, ``payload.severity`` one of critical, error, warning, info.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from routepilot import __version__
from routepilot.alerts.manager import Alert

SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_FIELDS_MAX = 10
PAGERDUTY_SUMMARY_MAX = 1024
PAGERDUTY_DEDUP_MAX = 255


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="seconds")


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "; ".join(_value(v) for v in value)
    return "n/a" if value is None else str(value)


def title(alert: Alert) -> str:
    """``FIRING critical provider_outage isp2``: what a list of messages shows."""
    return f"{alert.state.upper()} {alert.severity} {alert.kind} {alert.key}"


def facts(alert: Alert) -> list[tuple[str, str]]:
    """The alert's fields and details as (name, value) pairs, in a stable order."""
    out = [("event", alert.kind), ("key", alert.key), ("severity", alert.severity)]
    out += [("state", alert.state), ("started", _iso(alert.started))]
    out += [(name, _value(v)) for name, v in alert.details.items()]
    return out


def dedup_key(alert: Alert) -> str:
    """One key per condition, the same for its firing and its resolution."""
    return _clip(f"routepilot/{alert.kind}/{alert.key}", PAGERDUTY_DEDUP_MAX)


def generic(alert: Alert) -> dict[str, Any]:
    return alert.payload()


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_SLACK_ICON = {"critical": ":red_circle:", "warning": ":large_orange_circle:"}


def slack(alert: Alert) -> dict[str, Any]:
    icon = (
        ":white_check_mark:"
        if alert.state == "resolved"
        else _SLACK_ICON.get(alert.severity, ":large_blue_circle:")
    )
    fields = [
        {"type": "mrkdwn", "text": f"*{_slack_escape(name)}*\n{_slack_escape(value)}"}
        for name, value in facts(alert)[:SLACK_FIELDS_MAX]
    ]
    return {
        "text": _clip(f"{icon} {_slack_escape(alert.summary)}", SLACK_TEXT_MAX),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _clip(title(alert), SLACK_HEADER_MAX)},
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _clip(f"{icon} {_slack_escape(alert.summary)}", SLACK_TEXT_MAX),
                },
                "fields": fields,
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"routepilot {__version__} · {_iso(alert.time)}"}
                ],
            },
        ],
    }


_TEAMS_COLOR = {"critical": "Attention", "warning": "Warning", "info": "Accent"}


def teams(alert: Alert) -> dict[str, Any]:
    color = "Good" if alert.state == "resolved" else _TEAMS_COLOR[alert.severity]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": title(alert),
                "weight": "Bolder",
                "size": "Medium",
                "color": color,
                "wrap": True,
            },
            {"type": "TextBlock", "text": alert.summary, "wrap": True},
            {
                "type": "FactSet",
                "facts": [{"title": name, "value": value} for name, value in facts(alert)],
            },
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def pagerduty(alert: Alert, routing_key: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "resolve" if alert.state == "resolved" else "trigger",
        "dedup_key": dedup_key(alert),
    }
    if alert.state == "resolved":
        return body
    body["client"] = "routepilot"
    body["payload"] = {
        "summary": _clip(alert.summary, PAGERDUTY_SUMMARY_MAX),
        "source": alert.key,
        "severity": alert.severity,  # critical, warning and info are PagerDuty's words too
        "timestamp": _iso(alert.time),
        "component": alert.key,
        "group": "routepilot",
        "class": alert.kind,
        "custom_details": {**alert.details, "started": _iso(alert.started)},
    }
    return body


BODIES: dict[str, Callable[[Alert], dict[str, Any]]] = {
    "generic": generic,
    "slack": slack,
    "teams": teams,
}
"""The presets that need nothing but the alert (``pagerduty`` needs its routing key)."""
