"""The routers' side of the daemon: speaker events in, RIB and injector fed, the flow
collector's prefix table kept in step, configuration mistakes said out loud.

- every speaker event goes to the RIB (learned paths, session changes) and to the
  injector (resync on every session up, reset when the speaker restarts);
- the flow collector's longest-prefix match follows the routers' prefixes;
- once the routers are synced, a provider with no path is a configuration error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from routepilot.config.models import ProviderConfig
from routepilot.flows.lpm import PrefixTable
from routepilot.flows.pipeline import FlowPipeline
from routepilot.inject.injector import Injector
from routepilot.log import get_logger
from routepilot.rib.rib import Rib
from routepilot.rib.speaker.base import EndOfRib, SessionChanged, Speaker

log = get_logger(__name__)


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
    ) -> None:
        self.speaker = speaker
        self.rib = rib
        self.injector = injector
        self.pipeline = pipeline
        self.routers = tuple(routers)
        self._next_hops = {p.name: tuple(p.next_hops) for p in providers}
        self._routes_version = -1
        self.warnings: list[str] = []

    async def follow(self) -> None:
        """Handles the speaker's events until cancelled."""
        while True:
            first = await self.speaker.next_event()
            events = [first, *self.speaker.pending_events()]
            try:
                self.rib.handle_many(events)
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

    async def refresh(self) -> None:
        """Rebuilds the flow collector's prefix table if the routers' prefixes changed."""
        if len(self.rib.prefix_table().prefixes) != self._routes_version:
            await self.rebuild()

    async def rebuild(self) -> None:
        """Feeds the routers' prefixes to the flow collector's longest-prefix match.

        The lookup table is built on a worker thread: a full table takes seconds."""
        prefixes = self.rib.prefix_table().prefixes
        if prefixes:
            self._routes_version = len(prefixes)
            table = await asyncio.to_thread(PrefixTable, prefixes)
            self.pipeline.set_routes(table)

    def check_next_hops(self) -> None:
        """Once the routers are synced, a provider with no path at all is a configuration
        error (its next_hops are not what the router sends): said loudly, kept in status.
        Next-hops no provider claims are reported too."""
        if not self.routers or not all(self.rib.synced(r) for r in self.routers):
            return
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
