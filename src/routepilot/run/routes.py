"""The routers' side of the daemon: speaker events in, RIB and injector fed, the flow
collector's prefix table kept in step, configuration mistakes said out loud.

- every speaker event goes to the RIB (learned paths, session changes) and to the
  injector (resync on every session up, reset when the speaker restarts);
- the flow collector's longest-prefix match follows the routers' prefixes;
- once the routers are synced, a provider with no path is a configuration error;
- nothing decides on a table still arriving (:meth:`RoutesFeed.ready`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Iterator, Sequence

from routepilot.config.models import ProviderConfig
from routepilot.flows.lpm import PrefixTable
from routepilot.flows.pipeline import FlowPipeline
from routepilot.inject.injector import Injector
from routepilot.log import get_logger
from routepilot.rib.rib import Rib
from routepilot.rib.speaker.base import (
    EndOfRib,
    SessionChanged,
    Speaker,
    SpeakerEvent,
    SpeakerRestarted,
)

log = get_logger(__name__)

PATHS_A_TURN = 8192
"""Paths handed to the RIB (and their events to the injector) between two turns of the
event loop. Over add-path an ExaBGP event carries an UPDATE's NLRI, up to hundreds, and
the speaker queues up to ``MAX_BACKLOG`` events: handed over in one call, that was tens
of thousands of paths, a few tenths of a second in which the API, the flows and the
decision round waited (the API's p99 while a table arrived, #18). The BMP feed slices
its events for the same reason (``run/bmp.py``)."""


def slices(events: list[SpeakerEvent]) -> Iterator[list[SpeakerEvent]]:
    """``events`` in order, cut after :data:`PATHS_A_TURN` paths or more."""
    part: list[SpeakerEvent] = []
    paths = 0
    for event in events:
        part.append(event)
        nlri = getattr(event, "nlri", None)
        paths += 1 if nlri is None else len(nlri)
        if paths >= PATHS_A_TURN:
            yield part
            part, paths = [], 0
    if part:
        yield part


class RoutesFeed:
    """Follows the speaker's events; ``warnings`` holds what the operator must fix."""

    def __init__(
        self,
        speaker: Speaker,
        rib: Rib,
        injector: Injector,
        pipeline: FlowPipeline,
        routers: Sequence[str],
        providers: Sequence[ProviderConfig],
        bmp_only: Collection[str] = (),
    ) -> None:
        """``bmp_only``: routers whose paths come from BMP (``run/bmp.py``): their speaker
        events go to the injector only."""
        self.speaker = speaker
        self.rib = rib
        self.injector = injector
        self.pipeline = pipeline
        self.routers = tuple(routers)
        self._bmp_only = frozenset(bmp_only)
        self._next_hops = {p.name: tuple(p.next_hops) for p in providers}
        self._routes_version = -1
        self.warnings: list[str] = []
        self._state = ""
        self._state_since = 0.0

    def state(self) -> str:
        """The routers' tables: ``waiting``, ``arriving``, ``synced`` or ``down`` (see
        ``Rib.routes_state``); ``arriving`` too while the speaker holds unread events.
        Each change is logged with the paths held, so a user sees how long a table took."""
        state = self.rib.routes_state()
        if state == "synced" and self.speaker.backlog():
            state = "arriving"
        if state != self._state:
            now = time.monotonic()
            log.info(
                "routes",
                state=state,
                was=self._state or None,
                after_s=round(now - self._state_since, 1) if self._state else None,
                paths=self.rib.table.paths,
                prefixes=len(self.rib.table.prefix_list),
            )
            self._state, self._state_since = state, now
        return state

    async def follow(self) -> None:
        """Handles the speaker's events until cancelled."""
        while True:
            first = await self.speaker.next_event()
            for events in slices([first, *self.speaker.pending_events()]):
                await self._hand(events)
                # A turn for everything else after every slice: next_event() returns
                # without one while events are queued.
                await asyncio.sleep(0)

    async def _hand(self, events: list[SpeakerEvent]) -> None:
        """One slice of events: to the RIB in one batch, then to the injector in order."""
        try:
            self.rib.handle_many(self._rib_events(events))
        except Exception as exc:  # a bad update must never stop the controller
            log.error("rib failed on events", error=repr(exc), events=len(events))
        for ev in events:
            try:
                await self.injector.handle(ev)
            except Exception as exc:
                log.error("injector failed on event", error=repr(exc))
            if isinstance(ev, SessionChanged):
                log.info("bgp session", router=ev.router, up=ev.up)
            elif isinstance(ev, EndOfRib):
                await self.rebuild()
                self.check_next_hops()

    def _rib_events(self, events: list[SpeakerEvent]) -> list[SpeakerEvent]:
        """The events the RIB uses: not those of routers whose paths come from BMP; a speaker
        restart is a session loss of the add-path routers only."""
        if not self._bmp_only:
            return events
        out: list[SpeakerEvent] = []
        for event in events:
            if isinstance(event, SpeakerRestarted):
                out.extend(
                    SessionChanged(r, False, f"speaker restarted: {event.reason}")
                    for r in self.routers
                    if r not in self._bmp_only
                )
            elif getattr(event, "router", None) not in self._bmp_only:
                out.append(event)
        return out

    async def refresh(self) -> None:
        """Rebuilds the flow collector's prefix table if the routers' prefixes changed."""
        # Counted, not copied: prefix_table() copies every prefix (about 30 bytes
        # each, 37 MB on a full table) and this runs every routes_refresh_s.
        if self.rib.prefix_count() != self._routes_version:
            await self.rebuild()

    async def rebuild(self) -> None:
        """Feeds the routers' prefixes to the flow collector's longest-prefix match.

        The lookup table is built on a worker thread from the RIB's numbers: from the
        prefixes' text, a full table took 16-36 s of Python, holding the interpreter that
        the event loop needs while the table arrives (the soak, #18)."""
        routes = self.rib.prefix_table()
        if routes.prefixes:
            self._routes_version = len(routes.prefixes)
            v4, v6 = ~routes.is6, routes.is6
            table = await asyncio.to_thread(
                PrefixTable.from_numbers,
                routes.net4[v4],
                routes.length[v4],
                routes.net6_hi[v6],
                routes.length[v6],
            )
            self.pipeline.set_routes(table)

    def check_next_hops(self) -> None:
        """Once the routers are synced, a provider with no path at all is a configuration
        error (its next_hops are not what the router sends): said loudly, kept in status.
        Next-hops no provider claims are reported too."""
        # A silent router counts as synced and empty, but the providers missing may be
        # the ones it has not begun to send: no warning on them while it is silent.
        if not self.routers or not all(self.rib.state(r) == "synced" for r in self.routers):
            return
        if self.speaker.backlog():
            return  # synced by the clock, but the rest of the table is still queued
        snap = self.rib.snapshot()
        silent = sorted(p for p, up in snap.provider_up.items() if not up)
        warnings = [
            f"provider {p} has no path from any router: check its next_hops "
            f"({', '.join(self._next_hops[p])})"
            for p in silent
        ]
        unknown = sorted(self.rib.unknown_next_hops, key=lambda h: -self.rib.unknown_next_hops[h])
        if unknown:
            warnings.append(
                "paths with next-hops no provider claims: "
                + ", ".join(f"{h} ({self.rib.unknown_next_hops[h]})" for h in unknown[:5])
            )
        if warnings != self.warnings:
            for w in warnings:
                log.warning("configuration", problem=w)
        self.warnings = warnings
