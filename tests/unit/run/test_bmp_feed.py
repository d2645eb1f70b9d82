"""The BMP feed hands a table arriving to the RIBs a slice at a time, giving the event
loop a turn between slices, in the station's order, each router's events to its RIB."""

from __future__ import annotations

import asyncio
from typing import Any

from routepilot.rib.bmp import BmpStation
from routepilot.rib.speaker.base import SessionChanged, SpeakerEvent
from routepilot.run.bmp import SLICE, BmpFeed

SOURCES = {"edge1": "bmp", "edge2": "both", "edge3": "addpath"}


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
    n = 5 * SLICE + 17
    # Events of the three routers interleaved; the reason numbers them.
    events = [SessionChanged(f"edge{i % 3 + 1}", True, str(i)) for i in range(n)]

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

    def reasons(rec: Recorder) -> list[Any]:
        return [int(e.reason) for _, batch in rec.calls for e in batch]  # type: ignore[attr-defined]

    # Every event, once, in the station's order, to the RIB its router's source names.
    assert reasons(main) == [i for i in range(n) if i % 3 == 0]
    assert reasons(shadow) == [i for i in range(n) if i % 3 == 1]
    # No call holds more than a slice's worth, and the loop ran between two slices.
    assert max(len(batch) for _, batch in main.calls + shadow.calls) <= SLICE
    slices = sorted({turn for turn, _ in main.calls + shadow.calls})
    assert len(slices) == -(-n // SLICE), "all slices handed over in one turn of the loop"
