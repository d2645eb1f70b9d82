"""Alerts for diagnose/'s incidents: one firing alert when an incident opens, its
resolution when it closes. The diagnosis decides (with its own hysteresis), so these
go to the receivers as they come, not through the manager's counting."""

from __future__ import annotations

from typing import Any

from routepilot.alerts.events import EVENTS, INCIDENT
from routepilot.alerts.manager import Alert

OPENED = "opened"


def cause_key(incident: Any) -> str:
    """What the alert is about: ``AS64501``, a provider's name, or a prefix."""
    if incident.kind == "as":
        return f"AS{incident.asn}"
    if incident.kind == "provider":
        return str(incident.provider)
    return str(incident.prefix)


def incident_alert(what: str, incident: Any) -> Alert:
    """The alert for an incident that opened (``what`` = ``opened``) or closed."""
    key = cause_key(incident)
    n = len(incident.prefixes)
    summary = {
        "as": f"AS{incident.asn} degrades {n} prefixes on every provider crossing it",
        "provider": f"provider {incident.provider} degrades {n} prefixes",
        "prefix": f"prefix {incident.prefix} is degraded",
    }.get(incident.kind, f"incident {incident.id}")
    firing = what == OPENED
    details = {
        "id": incident.id,
        "kind": incident.kind,
        "asn": incident.asn,
        "provider": incident.provider,
        "prefix": incident.prefix,
        "prefixes": list(incident.prefixes),
    }
    return Alert(
        INCIDENT,
        key,
        "firing" if firing else "resolved",
        EVENTS[INCIDENT].severity,
        summary if firing else f"resolved: {summary}",
        details,
        incident.opened,
        incident.opened if firing else (incident.closed or incident.updated),
    )
