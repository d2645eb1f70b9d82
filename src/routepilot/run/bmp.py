"""The BMP route source: the station's events to the RIB, per router's ``route_source``.

- ``addpath`` (the default): the router's paths come from its iBGP add-path session;
  BMP from it is refused (the station does not know its address).
- ``bmp``: the router's paths come from BMP only; its iBGP session still carries
  routepilot's injections, but the paths it sends there are not used
  (``RoutesFeed`` leaves them out of the RIB).
- ``both``: add-path feeds the RIB, BMP feeds a second RIB kept only to compare
  (:meth:`BmpFeed.compare`): per router and provider, the paths each source holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from routepilot.log import get_logger
from routepilot.rib.bmp.station import Station
from routepilot.rib.rib import Rib
from routepilot.rib.speaker.base import SpeakerEvent
from routepilot.run.routes import slices

log = get_logger(__name__)


class BmpFeed:
    """Follows the BMP station: events of ``bmp`` routers to ``rib``, of ``both`` routers to
    ``shadow``."""

    def __init__(
        self,
        station: Station,
        rib: Rib,
        shadow: Rib,
        sources: Mapping[str, str],
    ) -> None:
        self.station = station
        self.rib = rib
        self.shadow = shadow
        self.sources = dict(sources)
        self.bmp_only = frozenset(r for r, s in self.sources.items() if s == "bmp")
        """Routers whose paths come from BMP only (their add-path paths are not used)."""

    async def start(self) -> None:
        await self.station.start()

    async def stop(self) -> None:
        await self.station.stop()

    async def follow(self) -> None:
        """Hands the station's events to the RIBs until cancelled, about
        :data:`~routepilot.run.routes.PATHS_A_TURN` paths at a time, in the order the
        station emitted them. A table arriving is hundreds of thousands of events queued at
        once; handed over in one call they held the loop (the API, flows, the decision
        round) for seconds (#18). Cut by paths, not events: a router's UPDATE carries up to
        hundreds of prefixes, and 2,048 events of them held the loop 0.12-0.16 s."""
        while True:
            first = await self.station.next_event()
            for part in slices([first, *self.station.pending_events()]):
                self._hand(part)
                # A turn for everything else after every slice, the last one too: the
                # station's next_event() returns without one while events are queued.
                await asyncio.sleep(0)

    def _hand(self, events: Sequence[SpeakerEvent]) -> None:
        """One slice: ``bmp`` routers' events to the RIB, ``both`` routers' to the shadow."""
        main: list[SpeakerEvent] = []
        shadow: list[SpeakerEvent] = []
        for event in events:
            # Every station event names its router; one look at it per event, as a
            # table is a million of them.
            source = self.sources.get(getattr(event, "router", ""))
            if source == "bmp":
                main.append(event)
            elif source == "both":
                shadow.append(event)
        try:
            if main:
                self.rib.handle_many(main)
            if shadow:
                self.shadow.handle_many(shadow)
        except Exception as exc:  # a bad update must never stop the controller
            log.error("rib failed on bmp events", error=repr(exc), events=len(events))

    def compare(self) -> dict[str, dict]:
        """Per ``both`` router: paths per provider from add-path and from BMP, and whether
        they agree."""
        addpath = self.rib.router_summary()
        bmp = self.shadow.router_summary()
        out = {}
        for router, source in self.sources.items():
            if source != "both":
                continue
            a = addpath.get(router, {}).get("providers", {})
            b = bmp.get(router, {}).get("providers", {})
            out[router] = {"addpath": a, "bmp": b, "agree": a == b}
        return out
