"""Maintenance windows as values: a window, a cron schedule, what is in force at ``now``.

Plain data and pure functions (a cron schedule is expanded against the round's
``now``, in UTC); the rules that act on a round are in ``decide/maintenance.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Window:
    """One maintenance window of one provider, in seconds since the epoch.

    ``id`` is the store's number for a window started on demand, ``None`` for
    one the configuration schedules (``name`` then says which).
    """

    provider: str
    start: float
    end: float
    drain: bool = False
    reason: str = ""
    id: int | None = None
    name: str | None = None
    created: float | None = None

    def in_force(self, now: float, lead_s: float = 0.0) -> bool:
        """Is the window in force at ``now``? A draining window starts ``lead_s`` early,
        so the traffic has left the provider when its work begins."""
        start = self.start - (lead_s if self.drain else 0.0)
        return start <= now < self.end


@dataclass(frozen=True)
class Schedule:
    """A window the configuration repeats: every time ``cron`` fires (UTC), for ``duration_s``."""

    provider: str
    cron: str
    duration_s: float
    drain: bool = False
    reason: str = ""
    name: str | None = None

    def occurrence(self, now: float, lead_s: float = 0.0) -> Window | None:
        """The occurrence in force at ``now`` (or starting within ``lead_s`` when draining)."""
        from croniter import croniter

        ahead = lead_s if self.drain else 0.0
        base = datetime.fromtimestamp(now + ahead, UTC)
        # get_prev from just after ``base`` gives an occurrence firing exactly at base too.
        it = croniter(self.cron, base.replace(microsecond=0).timestamp() + 1)
        start = float(it.get_prev(float))
        if start + self.duration_s <= now:
            return None
        return Window(
            self.provider, start, start + self.duration_s, self.drain, self.reason, None, self.name
        )

    def next_start(self, now: float) -> float:
        """When the schedule fires next after ``now``."""
        from croniter import croniter

        return float(croniter(self.cron, now).get_next(float))


def valid_cron(expression: str) -> bool:
    """Is ``expression`` a cron expression croniter understands (five fields, or six)?"""
    from croniter import croniter

    return bool(croniter.is_valid(expression))


@dataclass(frozen=True)
class MaintenanceNow:
    """What a round needs to know: the providers in a window now, and which of them drain."""

    blocked: frozenset[str] = frozenset()
    draining: frozenset[str] = frozenset()
    """A subset of ``blocked``."""

    def __bool__(self) -> bool:
        return bool(self.blocked)


def in_force(
    windows: Iterable[Window],
    schedules: Iterable[Schedule] = (),
    now: float = 0.0,
    lead_s: float = 0.0,
) -> tuple[MaintenanceNow, list[Window]]:
    """The maintenance in force at ``now``, and the windows that make it so."""
    live = [w for w in windows if w.in_force(now, lead_s)]
    for s in schedules:
        w = s.occurrence(now, lead_s)
        if w is not None and w.in_force(now, lead_s):
            live.append(w)
    blocked = frozenset(w.provider for w in live)
    draining = frozenset(w.provider for w in live if w.drain)
    return MaintenanceNow(blocked, draining), live
