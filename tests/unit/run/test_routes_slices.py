"""A table arriving over add-path goes to the RIB a slice of paths at a time, the event
loop getting a turn between slices, in the speaker's order, and to the injector too."""

from __future__ import annotations

import asyncio

from routepilot.rib.speaker.base import Nlri, PathAttributes, PathsLearned, SpeakerEvent
from routepilot.rib.speaker.fake import FakeSpeaker
from routepilot.run.routes import PATHS_A_TURN, RoutesFeed

PER_UPDATE = 1000


class Recorder:
    """Stands for the RIB and the injector: keeps each call and the loop turns before it."""

    def __init__(self, turns: list[int], expect: int) -> None:
        self.turns = turns
        self.calls: list[tuple[int, list[SpeakerEvent]]] = []
        self.handled: list[SpeakerEvent] = []
        self.expect = expect
        self.reached = asyncio.Event()

    def handle_many(self, events: list[SpeakerEvent]) -> None:
        self.calls.append((self.turns[0], list(events)))

    async def handle(self, event: SpeakerEvent) -> None:
        self.handled.append(event)
        if len(self.handled) >= self.expect:
            self.reached.set()


async def ticker(turns: list[int]) -> None:
    while True:
        turns[0] += 1
        await asyncio.sleep(0)


def test_a_table_goes_to_the_rib_in_slices_of_paths_with_a_turn_between() -> None:
    updates = 5 * PATHS_A_TURN // PER_UPDATE + 3
    attrs = PathAttributes("100.64.1.2", (65001,))

    def update(u: int) -> PathsLearned:
        nlri = tuple(Nlri(f"198.18.{i % 256}.0/24", u * PER_UPDATE + i) for i in range(PER_UPDATE))
        return PathsLearned("edge", attrs, nlri)

    events = [update(u) for u in range(updates)]

    async def scenario() -> Recorder:
        turns = [0]
        speaker = FakeSpeaker(["edge"])
        rib = Recorder(turns, len(events))
        feed = RoutesFeed(speaker, rib, rib, None, ["edge"], [])  # type: ignore[arg-type]
        for event in events:  # the whole table queued before the feed looks: one batch
            speaker.emit(event)
        tick = asyncio.create_task(ticker(turns))
        follow = asyncio.create_task(feed.follow())
        try:
            await asyncio.wait_for(rib.reached.wait(), 30)
        finally:
            for task in (follow, tick):
                task.cancel()
            await asyncio.gather(follow, tick, return_exceptions=True)
        return rib

    rib = asyncio.run(scenario())
    # Every event once, in order, to the RIB and to the injector.
    assert [e for _, batch in rib.calls for e in batch] == events == rib.handled
    # No call holds a slice's worth of paths past the update that reached it, and the
    # loop ran between two slices.
    for _, batch in rib.calls:
        assert sum(len(e.nlri) for e in batch[:-1]) < PATHS_A_TURN  # type: ignore[attr-defined]
    slices = -(-updates // -(-PATHS_A_TURN // PER_UPDATE))
    assert len(rib.calls) == slices
    assert len({turn for turn, _ in rib.calls}) == slices, "slices handed over in one turn"
