"""Leadership in the alerts: a change of role fires once and resolves later; a standby
that sees no active raises a critical alert."""

from __future__ import annotations

from routepilot.alerts.events import HA_NO_ACTIVE, HA_ROLE
from routepilot.alerts.manager import HA_ROLE_HOLD_S, AlertManager
from routepilot.api.config import AlertsConfig


def _status(now: float, role: str, active: str | None, since: float, transitions: int) -> dict:
    ha = {"enabled": True, "node": "ctl2", "role": role, "epoch": 2, "active": active,
          "since": since, "transitions": transitions}  # fmt: skip
    return {"now": now, "sessions": {}, "degraded": [], "ha": ha}


def test_takeover_fires_once_then_resolves_and_no_active_is_critical() -> None:
    manager = AlertManager(AlertsConfig(raise_after=1, clear_after=1))
    t = 1_800_000_000.0
    assert manager.observe(_status(t, "standby", "ctl", t - 100, 0), []) == []
    took = manager.observe(_status(t + 5, "active", "ctl2", t + 4, 1), [])
    assert [(a.kind, a.key, a.state, a.summary) for a in took] == [
        (HA_ROLE, "ctl2", "firing", "node ctl2 took over as the active (epoch 2)")
    ]
    assert manager.observe(_status(t + 10, "active", "ctl2", t + 4, 1), []) == []
    later = t + 5 + HA_ROLE_HOLD_S
    assert [a.state for a in manager.observe(_status(later, "active", "ctl2", t + 4, 1), [])] == [
        "resolved"
    ]
    none = manager.observe(_status(later + 5, "standby", None, later + 4, 2), [])
    assert {(a.kind, a.severity) for a in none} == {(HA_ROLE, "warning"),
                                                    (HA_NO_ACTIVE, "critical")}  # fmt: skip


def test_no_ha_no_alert() -> None:
    manager = AlertManager(AlertsConfig(raise_after=1, clear_after=1))
    status = {"now": 1.0, "sessions": {}, "degraded": [], "ha": {"enabled": False}}
    assert manager.observe(status, []) == []
