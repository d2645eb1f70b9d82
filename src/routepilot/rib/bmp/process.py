"""The BMP station in a process of its own, so that decoding a table uses the other core.

A router's BMP sends a full table one prefix a message (FRR: 5M messages for four
providers' 1.25M prefixes). Decoding them is most of the CPU routepilot spends to
learn a table, and in the daemon's process it shared one core with the RIB, the
flows, the probes and the API (#18: 26 us a path, 135 s for the table). Here a child
process (``python -m routepilot.rib.bmp.process``) runs the same :class:`BmpStation`
on its own event loop and hands its speaker events to the daemon over a pipe, in
frames of a few thousand, so the daemon only applies them to its RIB.

- The daemon binds the listening socket (a port in use is its own clear error, port 0
  is known at once) and passes it to the child, which accepts the routers on it.
- A frame is a length and a pickle of plain tuples (:func:`_encode`): an attribute set
  crosses once (by a number the child gives it as it decodes it, :class:`_Numbering`),
  then only its number. It crosses encoded as the RIB's store keeps it
  (``rib/attributes.encode``, made in the child), and the daemon keeps that one object a
  number, which the RIB holds as its copy of the set (:class:`EncodedAttributes`): one
  copy a set in the daemon, and no encoding there; the child keeps only numbers. The
  frame also carries the station's sessions and counters, which the daemon shows.
- Backpressure end to end: when the daemon is behind, the pipe fills, the child's
  writer waits, its station's queue reaches ``HIGH_WATER`` and its sessions stop
  reading, and TCP's flow control holds the rest in the router.
- Fail open, and back: when the child dies, every router's session it held ends
  (``SessionChanged`` down: their paths go) and a new child starts on the same socket,
  after a pause that grows while it keeps dying. The child ends when the daemon does
  (its stdin closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import signal
import socket
import struct
import sys
import time
import weakref
from collections.abc import Coroutine, Mapping
from dataclasses import fields
from typing import Any

from routepilot import gctune
from routepilot.log import get_logger, setup_logging
from routepilot.restarts import Restarts
from routepilot.rib.attributes import encode
from routepilot.rib.bmp.metrics import BmpMetrics
from routepilot.rib.bmp.station import MAX_MESSAGE, BmpStation, Outbox, _listening_socket
from routepilot.rib.bmp.wire import AttributeCache
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
    SpeakerEvent,
    nlri_columns,
)

log = get_logger(__name__)

FRAME_EVENTS = 4096
"""Events in one frame at most: about 130 KB, a few milliseconds for the daemon."""
HIGH_WATER = 8192
"""Events queued in the child (or decoded and not yet taken in the daemon) before
reading stops."""
MAX_ATTRIBUTE_IDS = 1 << 19
"""Attribute sets numbered before the child's caches are emptied and a new cut begins
(:class:`_Numbering`): the daemon holds the numbers of two cuts at most."""
STOP_TIMEOUT = 2.0
_LEN = struct.Struct("!I")
_MAX_FRAME = 1 << 28

# Event kinds in a frame.
_LEARNED, _WITHDRAWN, _IDS_WITHDRAWN, _SESSION, _EOR, _MALFORMED = range(6)


class _Numbering:
    """The child's numbers for attribute sets, given as its sessions decode them.

    Each session's cache of decoded sets (:meth:`cache`) keeps a set's number where it
    kept the set, and the set crosses to the daemon once, encoded as the RIB's store
    keeps it, with the next frame: the child keeps no set (encoded a set was about 160
    bytes here and its map by identity 130 more; as objects, 500). Numbers are never
    given twice. Once ``limit`` numbers were given since the last cut, the next frame
    empties every cache and begins a new cut: the daemon then forgets the numbers before
    the previous cut. Events still queued here may name numbers of the last cut, never
    of the one before: ``limit`` (512k) new numbers are far more events than the queue
    holds (``HIGH_WATER``), and frames go in order.
    """

    def __init__(self, limit: int = MAX_ATTRIBUTE_IDS) -> None:
        self.limit = limit
        self.next = 0
        self.cut = 0
        """The first number since the caches were last emptied."""
        self.new: list[bytes] = []
        """Sets numbered since the last frame, encoded, in the order of their numbers."""
        self._caches: weakref.WeakSet[AttributeCache] = weakref.WeakSet()

    def cache(self) -> AttributeCache:
        """A session's cache of decoded sets, which keeps their numbers."""
        cache = AttributeCache(hand_on=self.number)
        self._caches.add(cache)
        return cache

    def number(self, attributes: PathAttributes) -> AttributeNumber:
        n = self.next
        self.next += 1
        self.new.append(encode(attributes))
        return AttributeNumber(n)

    def frame(self) -> tuple[int, int, list[bytes]]:
        """``(cut, number of the first new set, the new sets)`` for a frame (``cut`` -1
        when there was none); the next frame starts afresh. A cut is made here, between
        two decodings, never inside one: an UPDATE whose IPv4 and MP_REACH_NLRI sets are
        both new would otherwise keep a number of each cut in one cache entry."""
        cut = -1
        if self.next - self.cut >= self.limit:
            for cache in list(self._caches):
                cache.clear()
            cut = self.cut = self.next
        new, self.new = self.new, []
        return cut, self.next - len(new), new


class _Numbers:
    """The daemon's side of :class:`_Numbering`: each number's encoded set, the object its
    RIB keeps as its copy when the set is new to it; from the cut before the last on."""

    def __init__(self) -> None:
        self.first = 0
        """The number of ``sets[0]``."""
        self.sets: list[EncodedAttributes] = []
        self.cut = 0

    def add(self, cut: int, first: int, new: list[bytes]) -> None:
        if cut >= 0:
            # Numbers before the previous cut are named by no event to come.
            drop = self.cut - self.first
            if drop > 0:
                del self.sets[:drop]
                self.first = self.cut
            self.cut = cut
        if first != self.first + len(self.sets):
            raise ValueError(f"attribute set {first} where {self.first + len(self.sets)} was due")
        self.sets.extend(map(EncodedAttributes, new))

    def __getitem__(self, number: int) -> EncodedAttributes:
        if number < self.first:
            raise IndexError(f"attribute set {number} is forgotten")
        return self.sets[number - self.first]


def _encode(events: list[SpeakerEvent], numbering: _Numbering, status: dict) -> bytes:
    """One frame: ``(cut, first new number, new attribute sets, events, status)`` pickled,
    with its length."""
    out: list[tuple] = []
    for e in events:
        if type(e) is PathsLearned:
            number = e.attributes
            if isinstance(number, PathAttributes):
                # An update the sessions' caches leave to the full decoder (withdrawals
                # beside new paths, MP_UNREACH_NLRI beside IPv4 paths, ...) comes with its
                # set as decoded: numbered here. It was an assert, and such an update in
                # a table killed the child at each reconnection (a smoke soak over BMP).
                number = numbering.number(number)
            out.append((_LEARNED, e.router, int(number), *nlri_columns(e.nlri)))
        elif type(e) is PathsWithdrawn:
            out.append((_WITHDRAWN, e.router, *nlri_columns(e.nlri)))
        elif type(e) is PathIdsWithdrawn:
            out.append((_IDS_WITHDRAWN, e.router, e.path_ids))
        elif type(e) is SessionChanged:
            out.append((_SESSION, e.router, e.up, e.reason))
        elif type(e) is EndOfRib:
            out.append((_EOR, e.router, e.family))
        elif type(e) is MalformedUpdate:
            out.append((_MALFORMED, e.router, e.reason))
    cut, first, new = numbering.frame()
    body = pickle.dumps((cut, first, new, out, status), protocol=pickle.HIGHEST_PROTOCOL)
    return _LEN.pack(len(body)) + body


def _decode(body: bytes, numbers: _Numbers) -> tuple[list[SpeakerEvent], dict]:
    """A frame's events and status; ``numbers`` is the daemon's side of the numbering."""
    cut, first, new, raw, status = pickle.loads(body)
    numbers.add(cut, first, new)
    events: list[SpeakerEvent] = []
    append = events.append
    for item in raw:
        kind = item[0]
        if kind == _LEARNED:
            append(PathsLearned(item[1], numbers[item[2]], NlriBlock(item[3], item[4])))
        elif kind == _WITHDRAWN:
            append(PathsWithdrawn(item[1], NlriBlock(item[2], item[3])))
        elif kind == _IDS_WITHDRAWN:
            append(PathIdsWithdrawn(item[1], item[2]))
        elif kind == _SESSION:
            append(SessionChanged(item[1], item[2], item[3]))
        elif kind == _EOR:
            append(EndOfRib(item[1], item[2]))
        elif kind == _MALFORMED:
            append(MalformedUpdate(item[1], item[2]))
    return events, status


def _status(station: BmpStation) -> dict:
    m = station.metrics
    counters = {f.name: getattr(m, f.name) for f in fields(m) if f.name != "messages"}
    return {"sessions": station.sessions(), "metrics": counters, "messages": dict(m.messages)}


class _Reader(asyncio.Protocol):
    """The daemon's end of the pipe: frames in, events out, reading paused while the
    daemon holds more than ``high_water`` events it has not taken."""

    def __init__(self, owner: StationProcess) -> None:
        self.owner = owner
        self.buf = bytearray()
        self.dead = False
        """Its child has ended and its sessions with it: whatever else comes is dropped."""
        self.transport: asyncio.ReadTransport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.dead:
            return
        buf = self.buf
        buf += data
        i = 0
        while len(buf) - i >= 4:
            (n,) = _LEN.unpack_from(buf, i)
            if n > _MAX_FRAME:
                self._broken(f"a frame of {n} bytes")
                return
            if len(buf) - i - 4 < n:
                break
            try:
                self.owner._frame(bytes(buf[i + 4 : i + 4 + n]))
            except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError) as exc:
                self._broken(repr(exc))
                return
            i += 4 + n
        del buf[:i]

    def _broken(self, reason: str) -> None:
        self.buf.clear()
        if self.transport is not None:
            self.transport.close()
        self.owner._bad_frame(reason)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class StationProcess(Outbox):
    """A :class:`BmpStation` run in a child process, with the station's interface
    (``start``, ``stop``, ``next_event``, ``pending_events``, ``sessions``, ``metrics``,
    ``port``)."""

    def __init__(
        self,
        routers: Mapping[str, str],
        listen: str = "::",
        port: int = 11019,
        max_message: int = MAX_MESSAGE,
        sock: socket.socket | None = None,
        high_water: int = HIGH_WATER,
    ) -> None:
        self._routers = dict(routers)
        self._high_water = high_water
        self._listen = listen
        self._port = port
        self._max_message = max_message
        self._sock = sock
        super().__init__()
        self._numbers = _Numbers()
        self._sessions: dict[str, dict] = {}
        self._base = BmpMetrics()
        """Counters of children that have ended, added to the running one's."""
        self.metrics = BmpMetrics()
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: _Reader | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def port(self) -> int:
        if self._sock is None:
            return self._port
        return self._sock.getsockname()[1]

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    async def start(self) -> None:
        if self._sock is None:
            self._sock = _listening_socket(self._listen, self._port)
        self._stopping = False
        await self._spawn()
        self._task = asyncio.create_task(self._supervise(), name="bmp-station-process")
        log.info("bmp station listening", listen=self._listen, port=self.port, pid=self.pid)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._end_child()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # The child.

    async def _spawn(self) -> None:
        assert self._sock is not None
        read_fd, write_fd = os.pipe()
        pipe = os.fdopen(read_fd, "rb", buffering=0)
        options = {
            "routers": self._routers,
            "max_message": self._max_message,
            "listen": self._listen,
            "sock_fd": self._sock.fileno(),
            "out_fd": write_fd,
            "high_water": self._high_water,
            "log_level": logging.getLevelName(logging.getLogger("routepilot").getEffectiveLevel()),
        }
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "routepilot.rib.bmp.process",
                json.dumps(options),
                stdin=asyncio.subprocess.PIPE,
                pass_fds=(self._sock.fileno(), write_fd),
            )
        except BaseException:
            pipe.close()
            raise
        finally:
            os.close(write_fd)
        loop = asyncio.get_running_loop()
        self._numbers = _Numbers()
        _, reader = await loop.connect_read_pipe(lambda: _Reader(self), pipe)
        self._reader = reader

    async def _supervise(self) -> None:
        """Waits for the child to end; when it was not asked to, its sessions end and a new
        child starts after a pause."""
        restarts = Restarts()
        while True:
            proc, reader = self._proc, self._reader
            assert proc is not None and reader is not None
            started = time.monotonic()
            rc = await proc.wait()
            with contextlib.suppress(TimeoutError):
                # What the child wrote before it ended is still delivered, in order.
                await asyncio.wait_for(asyncio.shield(reader.closed), 1.0)
            if self._stopping:
                return
            # What is still in the pipe (its reading paused while the daemon was behind)
            # belongs to sessions that end below: none of it may come after their end.
            reader.dead = True
            if reader.transport is not None:
                reader.transport.close()
            self._child_ended(f"bmp station process exited ({rc})")
            delay = restarts.ended(time.monotonic() - started)
            log.error("bmp station process exited", returncode=rc, restart_in=delay)
            await asyncio.sleep(delay)
            self.restarts += 1
            await self._spawn()

    def _child_ended(self, reason: str) -> None:
        """The child's sessions are gone: each router that was up goes down (its paths go),
        and the child's counters are kept."""
        for router, session in sorted(self._sessions.items()):
            if session.get("up"):
                self._put(SessionChanged(router, False, reason))
        self._sessions = {}
        self._base = BmpMetrics()
        _add(self._base, self.metrics, {}, {})

    async def _end_child(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
        reader, self._reader = self._reader, None
        if reader is not None and reader.transport is not None:
            reader.transport.close()

    # Frames in.

    def _frame(self, body: bytes) -> None:
        events, status = _decode(body, self._numbers)
        self._sessions = status["sessions"]
        # In place: the daemon's registry holds this object.
        _add(self.metrics, self._base, status["metrics"], status["messages"])
        for event in events:
            self._put(event)
        reader = self._reader
        if len(self._queue) > self._high_water and reader is not None and reader.transport:
            reader.transport.pause_reading()

    def _bad_frame(self, reason: str) -> None:
        """The child broke the framing: it is ended (and started again)."""
        log.error("bmp station process sent a bad frame", reason=reason)
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    def _taken(self, left: int) -> None:
        """The daemon took events: read the child again once it holds few enough."""
        reader = self._reader
        transport = None if reader is None else reader.transport
        if left <= self._high_water and transport and not transport.is_closing():
            transport.resume_reading()

    def sessions(self) -> dict[str, dict]:
        return dict(self._sessions)


def _add(out: BmpMetrics, base: BmpMetrics, counters: dict, messages: dict) -> None:
    """``out`` = ``base`` + the running child's ``counters`` and ``messages``."""
    for f in fields(out):
        if f.name != "messages":
            setattr(out, f.name, getattr(base, f.name) + int(counters.get(f.name, 0)))
    total = dict(base.messages)
    for kind, n in messages.items():
        total[kind] = total.get(kind, 0) + n
    out.messages = total


# The child's side.


async def _child(options: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    numbering = _Numbering()
    listen = socket.socket(fileno=options["sock_fd"])
    listen.setblocking(False)
    station = BmpStation(
        options["routers"],
        options["listen"],
        max_message=options["max_message"],
        sock=listen,
        high_water=options["high_water"],
        attribute_cache=numbering.cache,
    )
    out = os.fdopen(options["out_fd"], "wb", buffering=0)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, out)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    # The daemon holds the other end of stdin: when it ends, so does this process.
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await station.start()

    async def pump() -> None:
        while True:
            first = await station.next_event()
            events = [first, *station.pending_events(FRAME_EVENTS - 1)]
            writer.write(_encode(events, numbering, _status(station)))
            await writer.drain()

    async def parent_gone() -> None:
        await stdin.read()
        stop.set()

    failed = await _first_end(stop, pump(), parent_gone())
    if isinstance(failed, ConnectionError):
        failed = None  # the daemon went first: the pipe's other end is gone
    elif failed is not None:
        log.error("bmp station process: its frames to the daemon failed", error=repr(failed))
    await station.stop()
    # The sessions' ends, so that the daemon sees them before the pipe closes.
    events = station.pending_events()
    if events and failed is None:
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(_encode(events, numbering, _status(station)))
            await writer.drain()
    writer.close()
    if failed is not None:
        raise _Failed from failed


class _Failed(Exception):
    """The child could not go on: it exits non-zero, and the daemon starts a new one."""


async def _first_end(stop: asyncio.Event, *work: Coroutine[Any, Any, None]) -> BaseException | None:
    """Runs ``work`` until ``stop`` is set or one of it ends; cancels the rest. Returns
    what the one that ended raised (None if none raised): a pump that failed must end
    the child, not leave it up with its routers' sessions and nothing reaching the daemon."""
    tasks = [asyncio.create_task(w) for w in work]
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in (stopped, *tasks):
        task.cancel()
    await asyncio.gather(stopped, *tasks, return_exceptions=True)
    for task in tasks:
        if task in done and not task.cancelled() and task.exception() is not None:
            return task.exception()
    return None


def main(argv: list[str]) -> int:
    options = json.loads(argv[1])
    setup_logging(options.get("log_level", "info").lower())
    # At the default thresholds the collector cost a quarter of a message's decoding.
    gctune.tune()
    try:
        asyncio.run(_child(options))
    except (BrokenPipeError, ConnectionError):
        return 0  # the daemon went first
    except _Failed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
