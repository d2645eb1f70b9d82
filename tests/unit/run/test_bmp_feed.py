"""The BMP feed hands a table arriving to the RIBs a slice of paths at a time, giving the
event loop a turn between slices, in the station's order, each router's events to its
RIB."""

from __future__ import annotations

import asyncio
from typing import Any

from routepilot.rib.bmp import BmpStation
from routepilot.rib.speaker.base import Nlri, PathAttributes, PathsLearned, SpeakerEvent
from routepilot.run.bmp import BmpFeed
from routepilot.run.routes import PATHS_A_TURN

SOURCES = {"edge1": "bmp", "edge2": "both", "edge3": "addpath"}
PER_UPDATE = 60
"""Prefixes an UPDATE carries, as a router packs a table."""


class Recorder:
    """Stands for a RIB: keeps each handle_many() call and the loop turns seen before it."""

    def __init__(self, turns: list[int]) -> None:
        self.turns = turns
        self.calls: list[tuple[int, list[SpeakerEvent]]] = []
        self.count = 0
        self.reached = asyncio.Event()
        self.expect = 0

    def handle_many(self, events: list[SpeakerEvent]) -> None:
        self.calls.append((self.turns[0], list(events)))
        self.count += len(events)
        if self.count >= self.expect:
            self.reached.set()


async def ticker(turns: list[int]) -> None:
    """Counts the event loop's turns that other tasks got."""
    while True:
        turns[0] += 1
        await asyncio.sleep(0)


def test_a_table_goes_to_the_ribs_in_slices_with_a_turn_between_and_in_order() -> None:
    n = 5 * PATHS_A_TURN // PER_UPDATE * 3 + 17
    attrs = PathAttributes("100.64.1.2", (65001,))

    def update(i: int) -> PathsLearned:
        """The i-th UPDATE, of the three routers in turn; its path ids number it."""
        nlri = tuple(Nlri("198.18.0.0/24", i * PER_UPDATE + k) for k in range(PER_UPDATE))
        return PathsLearned(f"edge{i % 3 + 1}", attrs, nlri)

    events = [update(i) for i in range(n)]

    async def scenario() -> tuple[Recorder, Recorder]:
        turns = [0]
        station = BmpStation({})
        main, shadow = Recorder(turns), Recorder(turns)
        main.expect = sum(1 for e in events if e.router == "edge1")
        shadow.expect = sum(1 for e in events if e.router == "edge2")
        feed = BmpFeed(station, main, shadow, SOURCES)  # type: ignore[arg-type]
        for event in events:  # the whole table queued before the feed looks: one batch
            station._emit(event)
        tick = asyncio.create_task(ticker(turns))
        follow = asyncio.create_task(feed.follow())
        try:
            await asyncio.wait_for(asyncio.gather(main.reached.wait(), shadow.reached.wait()), 30)
        finally:
            for task in (follow, tick):
                task.cancel()
            await asyncio.gather(follow, tick, return_exceptions=True)
        return main, shadow

    main, shadow = asyncio.run(scenario())

    def numbers(rec: Recorder) -> list[Any]:
        return [e.nlri[0].path_id // PER_UPDATE for _, batch in rec.calls for e in batch]  # type: ignore[attr-defined]

    # Every event, once, in the station's order, to the RIB its router's source names.
    assert numbers(main) == [i for i in range(n) if i % 3 == 0]
    assert numbers(shadow) == [i for i in range(n) if i % 3 == 1]
    # A slice is cut by paths, not events: no turn hands over a slice's worth of paths
    # past the UPDATE that reached it (every router's UPDATEs count, edge3's too), and
    # the loop ran between two slices.
    by_turn: dict[int, int] = {}
    for turn, batch in main.calls + shadow.calls:
        by_turn[turn] = by_turn.get(turn, 0) + sum(len(e.nlri) for e in batch)  # type: ignore[attr-defined]
    per_slice = -(-PATHS_A_TURN // PER_UPDATE)
    assert max(by_turn.values()) <= per_slice * PER_UPDATE
    assert len(by_turn) == -(-n // per_slice), "all slices handed over in one turn of the loop"
