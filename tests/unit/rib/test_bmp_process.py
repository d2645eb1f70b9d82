"""rib/bmp/process.py: the station in a child process gives the daemon what the station in
the daemon gives, holds a fast router back while the daemon is behind, and fails open:
a dead child's routers go down, a new child takes them back, and the child never
outlives the daemon."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from tests import bmpenc as b

from routepilot.rib.attributes import decode
from routepilot.rib.bmp import BmpStation
from routepilot.rib.bmp.process import (
    FRAME_EVENTS,
    StationProcess,
    _decode,
    _encode,
    _first_end,
    _Numbering,
    _Numbers,
)
from routepilot.rib.rib import Rib
from routepilot.rib.speaker.base import (
    AttributeNumber,
    EncodedAttributes,
    EndOfRib,
    MalformedUpdate,
    NlriBlock,
    PathAttributes,
    PathIdsWithdrawn,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
)

ROUTERS = {"127.0.0.1": "edge"}
ISP1, ISP2 = (b.peer_header(f"100.64.{i}.1", 64500 + i) for i in (1, 2))
ISP3_V6 = b.peer_header("2001:db8:f3::1", 64503)
ADD_PATH = {(1, 1): 3}


def _stream() -> list[bytes]:
    """Every kind of event a station emits: learned (plain, add-path, IPv6, from updates
    the attribute cache covers and from those it does not), withdrawn, a malformed
    UPDATE, a Peer Down, End-of-RIB, and the router's Termination."""
    isp1 = b.ipv4_attrs("100.64.1.1", [64501], 120, 5, ["65000:1"])
    isp2 = b.ipv4_attrs("100.64.2.1", [64502, 4200000000])
    prefixes = [f"198.18.{i}.0/24" for i in range(30)]
    return [
        b.initiation(),
        b.peer_up(ISP1),
        b.peer_up(ISP2, sent_add_path=ADD_PATH, received_add_path=ADD_PATH),
        b.peer_up(ISP3_V6, families=((2, 1),)),
        *(b.route_monitoring(ISP1, b.update(attrs=isp1, nlri=b.prefix(p))) for p in prefixes),
        b.route_monitoring(
            ISP2,
            b.update(attrs=isp2, nlri=b"".join(b.prefix(p, i) for p in prefixes for i in (1, 2))),
        ),
        b.route_monitoring(
            ISP3_V6,
            b.update(
                attrs=b.attr(1, b"\x00")
                + b.as_path([64503])
                + b.mp_reach6(
                    "2001:db8:f3::1", b.prefix("2001:db8:1::/48") + b.prefix("2001:db8:2::/48")
                )
            ),
        ),
        b.route_monitoring(ISP1, b.update(withdrawn=b.prefix(prefixes[3]))),
        # Updates the attribute cache leaves to the full decoder: a withdrawal beside new
        # paths, and MP_UNREACH_NLRI beside IPv4 paths.
        b.route_monitoring(
            ISP1,
            b.update(withdrawn=b.prefix(prefixes[4]), attrs=isp1, nlri=b.prefix("198.18.99.0/24")),
        ),
        b.route_monitoring(
            ISP3_V6,
            b.update(
                attrs=b.ipv4_attrs("100.64.3.1", [64503])
                + b.mp_unreach6(b.prefix("2001:db8:1::/48")),
                nlri=b.prefix("198.18.98.0/24"),
            ),
        ),
        b.route_monitoring(ISP3_V6, b.update(attrs=b.mp_unreach6(b.prefix("2001:db8:2::/48")))),
        b.route_monitoring(ISP1, b.update(attrs=b.attr(1, b"\x00"), nlri=b.prefix(prefixes[5]))),
        b.route_monitoring(ISP1, b.update()),
        b.route_monitoring(ISP2, b.update()),
        b.route_monitoring(ISP3_V6, b.update(attrs=b.mp_unreach6(b""))),
        b.peer_down(ISP2),
        b.stats(ISP1),
        b.termination(),
    ]


async def _collect(station, stream: list[bytes]) -> list:
    """Starts ``station``, sends ``stream`` as one router and closes; every event until
    the session is down."""
    await station.start()
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", station.port)
        writer.write(b"".join(stream))
        await writer.drain()
        events: list = []
        async with asyncio.timeout(20):
            while not (events and isinstance(events[-1], SessionChanged) and not events[-1].up):
                events.append(await station.next_event())
                events += station.pending_events()
        writer.close()
        return events
    finally:
        await station.stop()


def test_the_process_gives_the_events_the_station_gives() -> None:
    async def scenario() -> tuple[list, list, StationProcess]:
        here = await _collect(BmpStation(ROUTERS, "127.0.0.1", 0), _stream())
        process = StationProcess(ROUTERS, "127.0.0.1", 0)
        there = await _collect(process, _stream())
        return here, there, process

    here, there, process = asyncio.run(scenario())
    kinds = {type(e) for e in here}
    assert kinds == {
        SessionChanged,
        PathsLearned,
        PathsWithdrawn,
        PathIdsWithdrawn,
        MalformedUpdate,
        EndOfRib,
    }
    # The same events, the child's attribute sets encoded as the RIB keeps them.
    assert all(
        type(e.attributes) is EncodedAttributes for e in there if isinstance(e, PathsLearned)
    )
    assert list(map(_decoded, there)) == here
    # The child's counters, as the daemon shows them.
    assert process.metrics.connections == 1
    assert process.metrics.peer_ups == 3 and process.metrics.peer_downs == 1
    assert process.metrics.malformed_updates == 1
    assert process.metrics.messages["route_monitoring"] == 40
    assert process.metrics.messages["termination"] == 1


def _decoded(event):
    """The event with its attribute set decoded, when it is encoded."""
    if isinstance(event, PathsLearned) and type(event.attributes) is EncodedAttributes:
        return PathsLearned(event.router, decode(event.attributes), event.nlri)
    return event


def _learn(rib: Rib, numbering: _Numbering, numbers: _Numbers, sets: list, frame: int) -> None:
    """One frame of one path a set, from the child's numbering to the daemon's RIB."""
    events = [
        PathsLearned("edge", n, NlriBlock([f"10.{2 * frame + i // 256}.{i % 256}.0/24"], 0))
        for i, n in enumerate(sets)
    ]
    rib.handle_many(_decode(_encode(events, numbering, {})[4:], numbers)[0])


def test_a_numbered_set_is_held_once_the_ribs_copy_and_the_child_keeps_numbers() -> None:
    """The child's caches keep a set's number, not the set; the daemon keeps, for each
    number, the very bytes its RIB holds as its copy of the set, and no set object. A
    SharedAttributes a number on each side came on top of the RIB's own copy: 210 MiB of
    the daemon's 575 and most of the child's 340 on the 0.5M-path MRT table. A set the
    RIB refuses stays a counted drop every time its number comes back."""
    numbering, numbers = _Numbering(), _Numbers()
    cache = numbering.cache()
    sets = [
        cache.hand_on(PathAttributes("100.64.1.1", (64501, 4_200_000_000 + i), med=i))
        for i in range(500)
    ]
    sets.append(cache.hand_on(PathAttributes("100.64.1.1", (64501,), med=1 << 70)))
    assert all(type(n) is AttributeNumber for n in sets)
    rib = Rib(["edge"], [("isp1", ["100.64.1.1"])])
    for frame in range(2):  # the second frame names each set by its number alone
        _learn(rib, numbering, numbers, sets, frame)
    store = rib.table.attributes
    assert len(numbers.sets) == 501 and len(store) == 500 and not numbering.new
    for blob in numbers.sets[:500]:
        assert store._blobs[store.find(blob)] is blob  # one object: the RIB's
    assert all(type(a) is EncodedAttributes for a in numbers.sets) and not store._same
    assert rib.table.paths == 1000
    assert rib.metrics.malformed_updates == 2
    (path,) = rib.paths("10.2.7.0/24")
    assert (path["as_path"], path["med"], path["provider"]) == ([64501, 4_200_000_007], 7, "isp1")


def test_numbers_of_two_cuts_ago_are_forgotten_and_the_caches_emptied() -> None:
    """Past ``limit`` numbers the child's caches are emptied and a new cut begins; the
    daemon keeps the numbers of the last cut (events still queued may name them) and
    forgets older ones, so it holds at most two cuts' worth."""
    numbering, numbers = _Numbering(limit=100), _Numbers()
    cache = numbering.cache()
    rib = Rib(["edge"], [("isp1", ["100.64.1.1"])])
    for frame in range(3):
        sets = [cache.hand_on(PathAttributes("100.64.1.1", (64501, i))) for i in range(100)]
        cache.put(cache.entries(True, False), b"seen", (sets[0], None))
        _learn(rib, numbering, numbers, sets, frame)
        assert len(cache) == 0  # the cut emptied it: no number of an old cut is handed on
    # Each frame made a cut (at 100, 200, 300): the third forgot what came before 200.
    assert numbering.next == 300 and numbers.first == 200 and len(numbers.sets) == 100
    with pytest.raises(IndexError):
        numbers[199]
    assert rib.table.paths == 300 and len(rib.table.attributes) == 100


async def _until(predicate, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def _next(station: StationProcess, kind: type):
    async with asyncio.timeout(20):
        while True:
            event = await station.next_event()
            if isinstance(event, kind):
                return event


def test_a_dead_child_takes_its_routers_down_and_a_new_one_takes_them_back() -> None:
    route = b.route_monitoring(
        ISP1, b.update(attrs=b.ipv4_attrs("100.64.1.1", [64501]), nlri=b.prefix("198.18.1.0/24"))
    )

    async def scenario() -> None:
        station = StationProcess(ROUTERS, "127.0.0.1", 0)
        await station.start()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", station.port)
            writer.write(b.initiation() + b.peer_up(ISP1) + route)
            assert (await _next(station, SessionChanged)).up
            assert (await _next(station, PathsLearned)).nlri == [("198.18.1.0/24", 1)]
            await _until(lambda: station.sessions().get("edge", {}).get("up", False))
            first = station.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)

            down = await _next(station, SessionChanged)
            assert (down.router, down.up) == ("edge", False)
            assert "exited" in down.reason
            assert station.sessions() == {}
            writer.close()

            # The router connects again, to the same port: a new child takes it.
            await _until(lambda: station.pid not in (None, first))
            _, writer = await asyncio.open_connection("127.0.0.1", station.port)
            writer.write(b.initiation() + b.peer_up(ISP1) + route)
            assert (await _next(station, SessionChanged)).up
            assert (await _next(station, PathsLearned)).nlri == [("198.18.1.0/24", 1)]
            assert station.restarts == 1
            await _until(lambda: station.metrics.connections == 2)  # the dead child's kept
            writer.close()
        finally:
            await station.stop()
        assert not psutil.pid_exists(first)

    asyncio.run(scenario())


def test_a_daemon_behind_holds_the_router_back_and_loses_nothing() -> None:
    """The daemon takes no event: the child stops reading, and so does the router's TCP;
    the daemon holds at most its bound; then it takes them all, in order."""
    attrs = b.ipv4_attrs("100.64.1.1", [64501])
    n = 200_000
    prefixes = [f"240.{i >> 8 & 255}.{i & 255}.{i >> 16}/32" for i in range(n)]
    table = b"".join(
        b.route_monitoring(ISP1, b.update(attrs=attrs, nlri=b.prefix(p))) for p in prefixes
    )
    high_water = 256

    async def scenario() -> None:
        station = StationProcess(ROUTERS, "127.0.0.1", 0, high_water=high_water)
        await station.start()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", station.port)
            writer.write(b.initiation() + b.peer_up(ISP1) + table)
            # ~16 MB: more than the sockets and the pipe hold. While nobody takes an
            # event, the router cannot send it all.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(writer.drain(), 3)
            assert len(station._queue) <= high_water + FRAME_EVENTS
            taken: list[str] = []
            async with asyncio.timeout(60):
                while len(taken) < n:
                    event = await station.next_event()
                    if isinstance(event, PathsLearned):
                        taken += event.nlri.prefixes
                    assert len(station._queue) <= high_water + FRAME_EVENTS
            await writer.drain()
            assert taken == prefixes
            writer.close()
        finally:
            await station.stop()

    asyncio.run(scenario())


def test_stop_ends_the_child_and_frees_the_port() -> None:
    async def scenario() -> tuple[int, int]:
        station = StationProcess(ROUTERS, "127.0.0.1", 0)
        await station.start()
        pid, port = station.pid, station.port
        assert pid is not None and psutil.pid_exists(pid)
        await station.stop()
        return pid, port

    pid, port = asyncio.run(scenario())
    assert not psutil.pid_exists(pid)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_bad_frame_from_the_child_is_a_new_child() -> None:
    async def scenario() -> None:
        station = StationProcess(ROUTERS, "127.0.0.1", 0)
        await station.start()
        try:
            first = station.pid
            assert station._reader is not None
            station._reader.data_received(b"\x00\x00\x00\x05junk!")
            await _until(lambda: station.restarts == 1 and station.pid not in (None, first))
            # The new child serves.
            _, writer = await asyncio.open_connection("127.0.0.1", station.port)
            writer.write(b.initiation())
            assert (await _next(station, SessionChanged)).up
            writer.close()
        finally:
            await station.stop()

    asyncio.run(scenario())


def test_the_child_ends_with_the_daemon() -> None:
    """The daemon killed outright (no stop()): its station process goes too."""
    code = textwrap.dedent(
        """
        import asyncio, os, sys
        from routepilot.rib.bmp.process import StationProcess

        async def main():
            station = StationProcess({"127.0.0.1": "edge"}, "127.0.0.1", 0)
            await station.start()
            print(station.pid, flush=True)
            await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    daemon = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert daemon.stdout is not None
        child = int(daemon.stdout.readline())
        assert psutil.pid_exists(child)
        daemon.kill()
        daemon.wait()
        deadline = time.monotonic() + 20
        while psutil.pid_exists(child) and psutil.Process(child).status() != "zombie":
            assert time.monotonic() < deadline, "the station process outlived the daemon"
            time.sleep(0.05)
    finally:
        daemon.kill()
        daemon.wait()


def test_nothing_of_a_dead_childs_sessions_comes_after_their_end() -> None:
    """The child dies while the daemon is behind (the pipe paused, frames still in it):
    its routers go down, and no path of theirs is delivered after that."""
    attrs = b.ipv4_attrs("100.64.1.1", [64501])
    table = b"".join(
        b.route_monitoring(
            ISP1, b.update(attrs=attrs, nlri=b.prefix(f"240.0.{i >> 8}.{i & 255}/32"))
        )
        for i in range(40_000)
    )

    async def scenario() -> None:
        station = StationProcess(ROUTERS, "127.0.0.1", 0, high_water=64)
        await station.start()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", station.port)
            writer.write(b.initiation() + b.peer_up(ISP1) + table)
            # Behind: the daemon's queue past its bound, so the pipe is paused.
            await _until(lambda: len(station._queue) > 64)
            assert station.pid is not None and station._reader is not None
            old = station._reader
            os.kill(station.pid, signal.SIGKILL)
            await _until(lambda: station.restarts == 1)
            # The old pipe, paused with frames in it, is closed, not left behind.
            assert old.dead and old.transport is not None and old.transport.is_closing()
            events = []
            async with asyncio.timeout(20):
                while len(events) < 2 or not isinstance(events[-1], SessionChanged):
                    events.append(await station.next_event())
            down = events[-1]
            assert (down.router, down.up) == ("edge", False)
            assert isinstance(events[0], SessionChanged) and events[0].up
            assert all(isinstance(e, PathsLearned) for e in events[1:-1])
            assert station.pending_events() == []  # nothing of it after its end
            writer.close()
        finally:
            await station.stop()

    asyncio.run(scenario())


def test_the_childs_work_ends_when_its_pump_fails() -> None:
    """A pump that raises ends the child (which exits non-zero: the daemon starts a new
    one), instead of leaving it up with its routers and nothing reaching the daemon."""

    async def scenario() -> None:
        stop = asyncio.Event()
        waiting = asyncio.Event()

        async def pump() -> None:
            raise ValueError("a frame that cannot be written")

        async def parent_gone() -> None:
            waiting.set()
            await asyncio.sleep(3600)

        async with asyncio.timeout(10):
            failed = await _first_end(stop, pump(), parent_gone())
        assert isinstance(failed, ValueError)
        assert waiting.is_set()

        # Asked to stop: nothing failed, and the rest is cancelled.
        async def forever() -> None:
            await asyncio.sleep(3600)

        stop.set()
        async with asyncio.timeout(10):
            assert await _first_end(stop, forever(), forever()) is None

    asyncio.run(scenario())
