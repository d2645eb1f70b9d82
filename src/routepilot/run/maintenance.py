"""The maintenance book: planned windows from the configuration, windows on demand from
the store, and what is in force at each round (decide/ applies it).

Windows started through the API or the CLI are written to the store before they are
acknowledged, so they survive a restart; the planned ones come from the configuration
and change with a reload. Every start and end is logged and journaled (the store's
control journal).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from routepilot.config.maintenance import MaintenanceConfig
from routepilot.decide.windows import MaintenanceNow, Schedule, Window, in_force
from routepilot.log import get_logger
from routepilot.store import AsyncStore, ControlEvent
from routepilot.view import ActionError

log = get_logger(__name__)

KEEP_ENDED_S = 24 * 3600.0
"""Windows that ended within this long are still listed (and loaded at start)."""


def planned(config: MaintenanceConfig) -> tuple[list[Window], list[Schedule]]:
    """The configuration's windows: one-offs as windows, repeating ones as schedules."""
    windows: list[Window] = []
    schedules: list[Schedule] = []
    for w in config.windows:
        if w.cron is not None and w.duration_s is not None:
            schedules.append(Schedule(w.provider, w.cron, w.duration_s, w.drain, w.reason, w.name))
        elif w.start is not None and w.end is not None:
            windows.append(
                Window(
                    w.provider, w.start.timestamp(), w.end.timestamp(), w.drain, w.reason,
                    None, w.name,
                )
            )  # fmt: skip
    return windows, schedules


class MaintenanceBook:
    """Every maintenance window the controller knows; ``in_force(now)`` for each round."""

    def __init__(
        self,
        config: MaintenanceConfig,
        providers: Sequence[str],
        store: AsyncStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.clock = clock
        self.providers = tuple(providers)
        self.config = config
        self._planned, self._schedules = planned(config)
        self._on_demand: list[Window] = []
        self._live: frozenset[tuple[str, int | None, str | None]] = frozenset()

    def configure(self, config: MaintenanceConfig) -> None:
        """A reloaded configuration's planned windows, from the next round on."""
        self.config = config
        self._planned, self._schedules = planned(config)

    async def load(self) -> None:
        """The windows on demand that have not ended long ago (at start)."""
        self._on_demand = await self.store.windows(self.clock() - KEEP_ENDED_S)
        if self._on_demand:
            log.info("maintenance windows restored", windows=len(self._on_demand))

    # -- each round -----------------------------------------------------------------------

    def in_force(self, now: float) -> MaintenanceNow:
        """What decide/ must honour at ``now``; logs each window entering or leaving force."""
        state, live = in_force(
            [*self._planned, *self._on_demand], self._schedules, now, self.config.drain_lead_s
        )
        keys = frozenset((w.provider, w.id, w.name) for w in live)
        # ``window``, not ``name``: a LogRecord attribute cannot be a field.
        for provider, wid, name in sorted(keys - self._live, key=str):
            log.info("maintenance window in force", provider=provider, id=wid, window=name)
        for provider, wid, name in sorted(self._live - keys, key=str):
            log.info("maintenance window over", provider=provider, id=wid, window=name)
        self._live = keys
        return state

    # -- the operator's actions ----------------------------------------------------------

    async def start(
        self,
        provider: str,
        *,
        duration_s: float | None = None,
        until: float | None = None,
        drain: bool = False,
        reason: str = "",
    ) -> dict:
        """Starts a window now, for ``duration_s`` or until ``until``; stored before it counts."""
        if provider not in self.providers:
            known = ", ".join(self.providers) or "none"
            raise ActionError(f"unknown provider {provider!r} (known: {known})", 404)
        now = self.clock()
        if (duration_s is None) == (until is None):
            raise ActionError("give either duration_s or until", 400)
        end = now + duration_s if duration_s is not None else float(until or 0.0)
        if end <= now:
            raise ActionError("the window must end in the future", 400)
        if end - now > self.config.max_duration_s:
            raise ActionError(
                f"a window may last at most {self.config.max_duration_s:g} s "
                "(maintenance.max_duration_s)",
                400,
            )
        window = Window(provider, now, end, drain, reason, None, None, now)
        window = replace(window, id=await self.store.add_window(window))
        self._on_demand.append(window)
        detail = f"window {window.id} on {provider} until {end:.0f}" + (
            " with drain" if drain else ""
        )
        await self._journal("maintenance_start", detail + (f": {reason}" if reason else ""))
        log.info("maintenance started", id=window.id, provider=provider, end=end, drain=drain)
        return self.describe(window, now)

    async def end(self, window_id: int) -> dict:
        """Ends a window on demand now (a planned one is changed in the configuration)."""
        now = self.clock()
        known = next((w for w in self._on_demand if w.id == window_id), None)
        if known is None:
            raise ActionError(f"no maintenance window {window_id}", 404)
        ended = await self.store.end_window(window_id, now)
        if ended is None:
            raise ActionError(f"no maintenance window {window_id}", 404)
        self._on_demand = [ended if w.id == window_id else w for w in self._on_demand]
        await self._journal("maintenance_end", f"window {window_id} on {ended.provider} ended")
        log.info("maintenance ended", id=window_id, provider=ended.provider)
        return self.describe(ended, now)

    async def _journal(self, kind: str, detail: str) -> None:
        try:
            await self.store.append_event(ControlEvent(self.clock(), kind, detail))
        except Exception as exc:
            log.error("control journal write failed", kind=kind, error=repr(exc))

    # -- reads ----------------------------------------------------------------------------------

    def list(self, now: float | None = None) -> list[dict]:
        """Windows in force, to come, and ended within a day: on demand and planned (the
        current or next occurrence of each schedule)."""
        now = self.clock() if now is None else now
        lead = self.config.drain_lead_s
        rows = [w for w in [*self._on_demand, *self._planned] if w.end > now - KEEP_ENDED_S]
        for s in self._schedules:
            occ = s.occurrence(now, lead)
            if occ is None:
                start = s.next_start(now)
                occ = Window(s.provider, start, start + s.duration_s, s.drain, s.reason, None,
                             s.name)  # fmt: skip
            rows.append(occ)
        rows.sort(key=lambda w: (w.start, w.id or 0, w.name or ""))
        return [self.describe(w, now) for w in rows]

    def describe(self, w: Window, now: float) -> dict:
        if w.in_force(now, self.config.drain_lead_s):
            state = "active"
        elif w.end <= now:
            state = "ended"
        else:
            state = "scheduled"
        cron = next((s.cron for s in self._schedules if s.name == w.name), None)
        return {
            "id": w.id,
            "name": w.name,
            "provider": w.provider,
            "start": w.start,
            "end": w.end,
            "drain": w.drain,
            "reason": w.reason,
            "state": state,
            "source": "api" if w.id is not None else "config",
            "cron": cron if w.id is None else None,
        }
