"""Leadership's metrics: role, epoch, lease time left, changes of role, failed calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from routepilot.ha.lease import LeaseState
from routepilot.metrics import Metric, StageMetrics, counter, gauge


class _Leader(Protocol):
    """What the metrics read of ``ha.leader.Leadership``."""

    role: str
    epoch: int
    last: LeaseState | None

    def lease_until(self) -> float | None: ...
    def switch_kills(self) -> int: ...


class HaMetrics(StageMetrics):
    def __init__(self, leader: _Leader) -> None:
        self.leader = leader
        self.transitions = 0
        self.takeovers = 0
        self.step_downs = 0
        self.renewals = 0
        self.errors = 0
        self.last_resorts = 0
        self.last_change: float | None = None

    def collect(self) -> Iterator[Metric]:
        lead = self.leader
        yield gauge(
            "routepilot_ha_active",
            "1 when this instance holds the lease and announces, 0 as a standby.",
            1.0 if lead.role == "active" else 0.0,
        )
        yield gauge("routepilot_ha_epoch", "The lease's epoch this instance holds (0: none).",
                    float(lead.epoch))  # fmt: skip
        until = lead.lease_until()
        last = lead.last
        yield gauge(
            "routepilot_ha_lease_remaining_seconds",
            "Time left on the lease by the server's clock at the last call (0: expired).",
            max(0.0, until - last.now) if until is not None and last is not None else 0.0,
        )
        yield counter("routepilot_ha_takeovers_total", "Times this instance took the lease.",
                      self.takeovers)  # fmt: skip
        yield counter(
            "routepilot_ha_step_downs_total",
            "Times this instance stopped being the active (lease lost or not renewed).",
            self.step_downs,
        )
        yield counter("routepilot_ha_renewals_total", "Successful lease renewals.", self.renewals)
        yield counter(
            "routepilot_ha_session_drops_total",
            "Step-downs whose withdrawal was late, so the BGP sessions were dropped instead.",
            self.last_resorts,
        )
        yield counter(
            "routepilot_ha_switch_kills_total",
            "Speakers killed by the dead man's switch: this instance was frozen past its "
            "lease deadline, so its BGP sessions were dropped from outside it.",
            lead.switch_kills(),
        )
        yield counter(
            "routepilot_ha_lease_errors_total",
            "Lease calls that failed (database unreachable, timeout).",
            self.errors,
        )
