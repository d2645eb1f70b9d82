"""A speaker's queue is bounded by backpressure: past its high water the ExaBGP backend
stops reading ExaBGP's events, and every event still arrives, in order. Below it, the
backend gives the event loop a turn every ``TURN_BYTES`` read."""

from __future__ import annotations

import asyncio
import socket

from tests import bmpenc as b
from tests import exabgpenc as e

from routepilot.config.models import RouterConfig
from routepilot.rib.config import SpeakerConfig
from routepilot.rib.speaker.base import EventQueue, PathsLearned, SessionChanged
from routepilot.rib.speaker.exabgp import TURN_BYTES, ExaBGPSpeaker

ROUTERS = [RouterConfig(name="edge1", address="100.64.0.1", asn=65000)]


def update_line(i: int) -> bytes:
    prefix = f"198.18.{i // 256}.{i % 256}/32"
    attrs = b.ipv4_attrs("100.64.1.1", [64601, 3], local_pref=100)
    return e.update(b.update(attrs=attrs, nlri=b.prefix(prefix, 1)))


async def until(condition, what: str) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.001)

    try:
        await asyncio.wait_for(poll(), 10)
    except TimeoutError:
        raise AssertionError(f"never: {what}") from None


def test_event_queue_waits_for_room_and_never_drops():
    async def scenario() -> None:
        queue = EventQueue(high_water=3)
        for i in range(5):
            queue.put(SessionChanged(f"r{i}", True))  # past the high water: kept, not dropped
        assert queue.qsize() == 5
        room = asyncio.ensure_future(queue.room())
        await asyncio.sleep(0)
        assert not room.done()
        assert (await queue.get()).router == "r0"
        await asyncio.sleep(0)
        assert not room.done()  # 4 left, still over 3
        assert [e.router for e in queue.drain()] == ["r1", "r2", "r3", "r4"]
        await asyncio.wait_for(room, 1)
        await asyncio.wait_for(queue.room(), 1)  # room at once when under the high water

    asyncio.run(scenario())


def test_exabgp_relay_stops_reading_while_the_consumer_is_behind():
    n = 300

    async def scenario() -> list[str]:
        speaker = ExaBGPSpeaker(SpeakerConfig(), ROUTERS)
        speaker._queue.high_water = 10
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        relay = asyncio.ensure_future(speaker._on_relay(reader, writer))
        loop = asyncio.get_running_loop()
        theirs.setblocking(False)
        sender = asyncio.ensure_future(
            loop.sock_sendall(theirs, e.opens() + b"".join(update_line(i) for i in range(n)))
        )
        await until(lambda: speaker._paused, "the relay paused")
        # Paused at the high water (one line is one event here), the rest still unread.
        assert speaker.backlog() == 11
        assert speaker.metrics.events == 11
        got: list[str] = []
        while len(got) < n:
            first = await asyncio.wait_for(speaker.next_event(), 10)
            for event in [first, *speaker.pending_events()]:
                assert isinstance(event, PathsLearned)
                got.extend(nlri.prefix for nlri in event.nlri)
            assert speaker.backlog() <= 11
        await sender
        theirs.close()
        await asyncio.wait_for(relay, 10)
        return got

    got = asyncio.run(scenario())
    assert got == [f"198.18.{i // 256}.{i % 256}/32" for i in range(n)]


def test_exabgp_relay_gives_the_loop_a_turn_every_turn_bytes_read():
    line = len(update_line(0))
    n = 5 * TURN_BYTES // line + 3

    async def scenario() -> tuple[list[int], list[str]]:
        speaker = ExaBGPSpeaker(SpeakerConfig(), ROUTERS)
        speaker._queue.high_water = 10 * n  # never behind: no backpressure's turns
        turns = [0]
        seen: list[int] = []  # per event, the loop's turns other tasks had before it
        emit = speaker.emit

        def counted(event) -> None:  # type: ignore[no-untyped-def]
            seen.append(turns[0])
            emit(event)

        speaker.emit = counted  # type: ignore[method-assign]

        async def ticker() -> None:
            while True:
                turns[0] += 1
                await asyncio.sleep(0)

        # Every line is in the reader's buffer before the relay reads: readline() never
        # has to wait for data, as while a table arrives faster than it is decoded.
        reader = asyncio.StreamReader(limit=2**24)
        reader.feed_data(e.opens() + b"".join(update_line(i) for i in range(n)))
        reader.feed_eof()
        ours, theirs = socket.socketpair()
        _, writer = await asyncio.open_unix_connection(sock=ours)
        tick = asyncio.create_task(ticker())
        await speaker._on_relay(reader, writer)
        tick.cancel()
        theirs.close()
        got = [nlri.prefix for event in speaker.pending_events() for nlri in event.nlri]
        return seen, got

    seen, got = asyncio.run(scenario())
    assert got == [f"198.18.{i // 256}.{i % 256}/32" for i in range(n)]
    # Lines decoded in one turn of the loop: at most TURN_BYTES' worth, plus one line.
    per_turn = [seen.count(t) for t in sorted(set(seen))]
    assert max(per_turn) <= TURN_BYTES // line + 1, per_turn
    assert len(per_turn) > 1
