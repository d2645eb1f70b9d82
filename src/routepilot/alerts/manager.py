"""Alerts from the controller's view: conditions raised and cleared on transitions.

:class:`AlertManager` is pure: it takes successive ``status()``/``providers()`` views
(api/view.py) and returns the alerts that changed state. A condition must hold
``raise_after`` observations to fire and be gone ``clear_after`` observations to
resolve, and a firing alert is never sent again while it holds: one "firing" and one
"resolved" per episode. What each event carries is in :mod:`routepilot.alerts.events`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from routepilot import __version__
from routepilot.alerts.events import (
    BROWNOUT,
    COMMIT,
    DEGRADED,
    HA_NO_ACTIVE,
    HA_ROLE,
    OUTAGE,
    SESSION,
)
from routepilot.config.alerts import AlertsConfig
from routepilot.log import get_logger

log = get_logger("routepilot.alerts")

SESSION_DEGRADED = "bgp session down"
"""How the status's ``degraded`` list names a session that is down (run/view.py)."""
SESSION_START_GRACE_S = 30.0
"""After the controller starts, how long its sessions have to come up before one that
has not is alerted on."""


@dataclass(frozen=True)
class Alert:
    """One state change of one condition; ``payload()`` is what a webhook receives."""

    kind: str
    """The event: one of :data:`routepilot.alerts.events.EVENTS`."""
    key: str
    """What it is about: a provider, a router, or ``controller``."""
    state: str
    """``firing`` or ``resolved``."""
    severity: str
    """``critical`` or ``warning``."""
    summary: str
    details: Mapping[str, Any]
    started: float
    """When the condition was first seen in this episode (controller's clock)."""
    time: float
    """When this state change happened."""

    def payload(self) -> dict[str, Any]:
        return {
            "source": "routepilot",
            "version": __version__,
            "alert": self.kind,
            "key": self.key,
            "state": self.state,
            "severity": self.severity,
            "summary": self.summary,
            "details": dict(self.details),
            "started": self.started,
            "time": self.time,
        }


@dataclass
class _Track:
    bad: int = 0
    good: int = 0
    first_seen: float = 0.0
    firing: Alert | None = None


Condition = tuple[str, str, dict[str, Any]]
"""(severity, summary, details) of a condition that holds now."""


class AlertManager:
    """Turns successive views into alert transitions (raise and clear, deduplicated)."""

    def __init__(self, config: AlertsConfig, sink: Callable[[Alert], None] | None = None) -> None:
        self.config = config
        self.sink = sink
        self._tracks: dict[tuple[str, str], _Track] = {}

    def conditions(
        self, status: Mapping[str, Any], providers: Iterable[Mapping[str, Any]]
    ) -> dict[tuple[str, str], Condition]:
        """Every condition that holds in this view, keyed by (kind, key)."""
        c = self.config
        out: dict[tuple[str, str], Condition] = {}
        routes_known = self.routes_known(status)
        for p in providers:
            name = str(p.get("name"))
            loss = p.get("loss")
            numbers = {"loss": loss, "rtt_ms": p.get("rtt_ms"), "session_up": p.get("session_up")}
            outage_loss, brownout_loss = self._held(OUTAGE, name), self._held(BROWNOUT, name)
            if not p.get("session_up", True) and routes_known:
                out[(OUTAGE, name)] = (
                    "critical",
                    f"provider {name} is out: its routes are gone (session down)",
                    numbers,
                )
            elif loss is not None and loss >= outage_loss:
                out[(OUTAGE, name)] = (
                    "critical",
                    f"provider {name} is out: {loss:.0%} probe loss",
                    numbers,
                )
            elif (loss is not None and loss >= brownout_loss) or not p.get("healthy", True):
                why = f"{loss:.1%} probe loss" if loss is not None else "failing its probes"
                out[(BROWNOUT, name)] = (
                    "warning",
                    f"provider {name} is browning out: {why}",
                    numbers,
                )
            commit, p95 = p.get("commit_bps") or 0.0, p.get("p95_bps")
            if commit > 0 and p95 is not None and p95 > commit * (1 + c.commit_margin):
                out[(COMMIT, name)] = (
                    "warning",
                    f"provider {name} is over its commit: 95th percentile "
                    f"{p95 / 1e6:.1f} Mb/s > {commit / 1e6:.1f} Mb/s",
                    {"p95_bps": p95, "commit_bps": commit},
                )
        for router, state in (status.get("sessions") or {}).items():
            if state != "established":
                out[(SESSION, str(router))] = (
                    "critical",
                    f"BGP session to {router} is {state}: no routes are injected through it",
                    {"state": state},
                )
        out.update(_ha_conditions(status))
        degraded = list(status.get("degraded") or [])
        if self.starting(status):
            # A session not up yet at start is bgp_session_down's to judge (it waits
            # SESSION_START_GRACE_S), not a degraded controller.
            degraded = [d for d in degraded if not str(d).startswith(SESSION_DEGRADED)]
        if degraded:
            out[(DEGRADED, "controller")] = (
                "warning",
                "controller degraded: " + "; ".join(str(d) for d in degraded),
                {"reasons": degraded},
            )
        return out

    def _held(self, kind: str, provider: str) -> float:
        """The loss at or above which ``kind`` holds for ``provider``: its threshold, or
        while its alert fires, the threshold times ``loss_clear_ratio`` (hysteresis)."""
        c = self.config
        threshold = c.outage_loss if kind == OUTAGE else c.brownout_loss
        track = self._tracks.get((kind, provider))
        return threshold * c.loss_clear_ratio if track and track.firing else threshold

    @staticmethod
    def routes_known(status: Mapping[str, Any]) -> bool:
        """Can missing routes be told from routes not arrived yet?

        Not while a router's table is arriving, nor before any table was whole
        (``status.routes.state`` ``arriving`` or ``waiting``): a provider whose
        paths have not come yet is not out. Nor while a router whose session is up
        has sent nothing at all (``silent``): the missing providers may be the ones
        it has not begun to send; the controller is degraded instead."""
        routes = status.get("routes") or {}
        if "silent" in (routes.get("routers") or {}).values():
            return False
        return routes.get("state", "synced") in ("synced", "down")

    @staticmethod
    def starting(status: Mapping[str, Any]) -> bool:
        """Just started, and no session has come up yet: not yet a session down.

        The speaker takes a second or two to start and connect; a router that is
        still unreachable ``SESSION_START_GRACE_S`` after the start is alerted on."""
        waiting = (status.get("routes") or {}).get("state") == "waiting"
        started, now = status.get("started"), status.get("now")
        if not waiting or started is None or now is None:
            return False
        return float(now) - float(started) < SESSION_START_GRACE_S

    def observe(
        self, status: Mapping[str, Any], providers: Iterable[Mapping[str, Any]]
    ) -> list[Alert]:
        """Compares this view with the previous ones; returns (and sinks) the transitions.

        While the routes are not known, an outage that only missing routes could
        show is neither raised nor cleared: its count waits for the whole table."""
        now = float(status.get("now") or time.time())
        providers = list(providers)
        holding = self.conditions(status, providers)
        changes: list[Alert] = []
        unknown: set[tuple[str, str]] = set()
        if not self.routes_known(status):
            unknown = {(OUTAGE, str(p.get("name"))) for p in providers} - set(holding)
        if self.starting(status):
            unknown |= {(SESSION, str(r)) for r in status.get("sessions") or {}}
        for ident in sorted(set(holding) | set(self._tracks)):
            if ident in unknown:
                continue
            track = self._tracks.setdefault(ident, _Track(first_seen=now))
            if ident in holding:
                track.bad, track.good = track.bad + 1, 0
                if track.firing is None and track.bad >= self.config.raise_after:
                    severity, summary, details = holding[ident]
                    track.firing = Alert(
                        *ident, "firing", severity, summary, details, track.first_seen, now
                    )
                    changes.append(track.firing)
                continue
            track.good, track.bad = track.good + 1, 0
            if track.firing is None:
                del self._tracks[ident]
            elif track.good >= self.config.clear_after:
                f = track.firing
                summary = f"resolved: {f.summary}"
                changes.append(
                    Alert(f.kind, f.key, "resolved", f.severity, summary, f.details, f.started, now)
                )
                del self._tracks[ident]
        for alert in changes:
            log.warning(
                "alert", alert=alert.kind, key=alert.key, state=alert.state, summary=alert.summary
            )
            if self.sink is not None:
                self.sink(alert)
        return changes

    def firing(self) -> list[Alert]:
        return [t.firing for _, t in sorted(self._tracks.items()) if t.firing is not None]


HA_ROLE_HOLD_S = 600.0
"""A change of role stays firing this long, then resolves: one alert per change."""


def _ha_conditions(status: Mapping[str, Any]) -> dict[tuple[str, str], Condition]:
    """Leadership (docs/ha.md): a recent change of role (takeover or step-down), and no
    active at all."""
    ha = status.get("ha") or {}
    if not ha.get("enabled"):
        return {}
    out: dict[tuple[str, str], Condition] = {}
    node, role = str(ha.get("node")), ha.get("role")
    now, since = float(status.get("now") or time.time()), ha.get("since")
    numbers = {"role": role, "epoch": ha.get("epoch"), "active": ha.get("active")}
    if ha.get("transitions") and since is not None and now - float(since) < HA_ROLE_HOLD_S:
        what = (
            f"took over as the active (epoch {ha.get('epoch')})"
            if role == "active"
            else "stepped down to standby: it announces nothing"
        )
        out[(HA_ROLE, node)] = ("warning", f"node {node} {what}", numbers)
    if role == "standby" and not ha.get("active"):
        out[(HA_NO_ACTIVE, node)] = (
            "critical",
            "no instance holds the lease: nothing is optimized until one takes it",
            numbers,
        )
    return out
