"""The BGP speaker interface: what rib/ and inject/ need from a BGP implementation.

routepilot does not speak BGP itself. A backend (ExaBGP or GoBGP) keeps
the iBGP sessions with the edge routers and turns what happens on them into the
typed events below; it takes routes to announce and withdraw. A new backend is a
new module that subclasses :class:`Speaker` and registers itself in
``routepilot.rib.speaker.BACKENDS``; nothing else changes.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, overload

from routepilot.rib.metrics import SpeakerMetrics

ORIGIN_IGP = 0
ORIGIN_EGP = 1
ORIGIN_INCOMPLETE = 2
ORIGINS = {"igp": ORIGIN_IGP, "egp": ORIGIN_EGP, "incomplete": ORIGIN_INCOMPLETE}


class PathAttributes(NamedTuple):
    """The attributes one BGP UPDATE gives to all its NLRI (RFC 4271 section 4.3).

    A named tuple: the RIB interns attribute sets by hashing them, millions of
    times for a full table, and a tuple hashes in C.
    """

    next_hop: str
    as_path: tuple[int, ...] = ()
    origin: int = ORIGIN_IGP
    med: int | None = None
    local_pref: int | None = None
    communities: tuple[str, ...] = ()


class SharedAttributes(PathAttributes):
    """An attribute set whose producer hands on the same object each time the set comes
    again, and holds it meanwhile: the cache of decoded sets of a BMP station run in the
    daemon's process (``rib.bmp.process: false``; in its own process the station hands
    on :class:`EncodedAttributes`). The RIB may know such a set by its identity
    (``rib/attributes.py``), without hashing or encoding it again. Any other set is a
    new object an update, which the RIB must not keep alive to know it by: through
    ExaBGP that kept one object an UPDATE, 1.66x the RIB's memory on a 0.5M-path table.
    Equal to, and hashed as, the :class:`PathAttributes` of the same values."""

    __slots__ = ()


class EncodedAttributes(bytes):
    """An attribute set as the RIB's store holds it: its canonical encoding (the bytes
    ``rib/attributes.encode`` gives; equal sets, equal bytes), made once by its producer.
    The BMP station's process numbers its sets and hands each across once; the daemon
    keeps one of these a number, and the RIB keeps the very same object as its copy of
    the set (found by its bytes, whose hash is computed once): one copy a set in the
    daemon, where a :class:`SharedAttributes` a number (about 500 bytes of objects) came
    on top of the RIB's bytes and its map by identity (210 MiB on the 0.5M-path MRT
    table). ``rib/attributes.decode`` gives the set back."""

    __slots__ = ()


class AttributeNumber(int):
    """An attribute set named by the number the BMP station's process gave it: what that
    process's caches keep and its events carry in place of the set, which crosses to the
    daemon once, encoded (``rib/bmp/process.py``). Never handed to a RIB."""

    __slots__ = ()


Attributes = PathAttributes | EncodedAttributes | AttributeNumber
"""What an update's paths carry: the set itself, its encoding, or (inside the BMP
station's process only) its number."""


class Nlri(NamedTuple):
    """A prefix and its add-path path identifier (RFC 7911; 0 when add-path is off).

    A named tuple rather than a dataclass: a full table makes millions of them.
    """

    prefix: str
    path_id: int = 0


class NlriBlock(Sequence[Nlri]):
    """An update's NLRI as columns: the prefixes' text, and one path id for them all or
    one each. It reads as the sequence of :class:`Nlri` it stands for (and equals it),
    but holds no tuple per path: a decoder that has the prefixes as a list hands them on
    as they are, and rib/ takes the columns without unpacking a tuple per path.
    """

    __slots__ = ("prefixes", "path_ids")

    def __init__(self, prefixes: list[str], path_ids: int | list[int] = 0) -> None:
        self.prefixes = prefixes
        self.path_ids = path_ids
        """One path id for every prefix, or a list as long as ``prefixes``."""

    def ids(self) -> list[int]:
        """The path id of each prefix, in order."""
        ids = self.path_ids
        return [ids] * len(self.prefixes) if isinstance(ids, int) else ids

    def __len__(self) -> int:
        return len(self.prefixes)

    @overload
    def __getitem__(self, index: int) -> Nlri: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Nlri, ...]: ...

    def __getitem__(self, index: int | slice) -> Nlri | tuple[Nlri, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        ids = self.path_ids
        return Nlri(self.prefixes[index], ids if isinstance(ids, int) else ids[index])

    def __iter__(self) -> Iterator[Nlri]:
        return map(Nlri, self.prefixes, self.ids())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NlriBlock):
            return self.prefixes == other.prefixes and self.ids() == other.ids()
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"NlriBlock({list(self)!r})"


def nlri_columns(nlri: Sequence[Nlri]) -> tuple[list[str], int | list[int]]:
    """An update's prefixes, and their path ids (one int when they share it): an
    :class:`NlriBlock`'s own columns, or those of a sequence of :class:`Nlri`."""
    if type(nlri) is NlriBlock:
        return nlri.prefixes, nlri.path_ids
    return [n[0] for n in nlri], [n[1] for n in nlri]


@dataclass(frozen=True, slots=True)
class PathsLearned:
    """A router announced (or replaced) these paths, all with the same attributes."""

    router: str
    attributes: Attributes
    nlri: Sequence[Nlri]
    """A tuple of :class:`Nlri`, or an :class:`NlriBlock`."""


@dataclass(frozen=True, slots=True)
class PathsWithdrawn:
    """A router withdrew these paths."""

    router: str
    nlri: Sequence[Nlri]
    """A tuple of :class:`Nlri`, or an :class:`NlriBlock`."""


@dataclass(frozen=True, slots=True)
class PathIdsWithdrawn:
    """Every path of this router with one of these path ids is gone, whatever its prefix.

    A backend that hands out path ids of its own (the BMP station, one range per
    monitored peer) withdraws a peer's paths this way when the peer goes down: rib/
    already holds each path by (router, path id), so the backend need not keep a
    peer's prefixes only to name them again."""

    router: str
    path_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SessionChanged:
    """A session reached Established (``up``) or left it."""

    router: str
    up: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class EndOfRib:
    """The router has sent its whole table for a family (RFC 4724 section 2)."""

    router: str
    family: str


@dataclass(frozen=True, slots=True)
class MalformedUpdate:
    """An update the backend could not turn into paths; the RIB counts it and goes on."""

    router: str
    reason: str


@dataclass(frozen=True, slots=True)
class SpeakerRestarted:
    """The backend process was replaced: every route announced before is gone."""

    reason: str = ""


SpeakerEvent = (
    PathsLearned
    | PathsWithdrawn
    | PathIdsWithdrawn
    | SessionChanged
    | EndOfRib
    | MalformedUpdate
    | SpeakerRestarted
)


MAX_BACKLOG = 1024
"""Events a speaker queues for its consumer before it stops reading its daemon: past
this, the rest of a table waits in the daemon and in TCP's flow control back to the
router, not as Python objects here (a whole table's events are about 600 bytes a path,
``bench/rib/memory.py``)."""


class EventQueue:
    """Events in order, for one consumer; bounded by backpressure, never by dropping.

    :meth:`put` never blocks and never drops: an event a backend has decoded is
    delivered. A backend that reads a stream awaits :meth:`room` before each read, so
    that while the consumer is behind it stops reading.
    """

    def __init__(self, high_water: int = MAX_BACKLOG) -> None:
        self._queue: asyncio.Queue[SpeakerEvent] = asyncio.Queue()
        self.high_water = high_water
        self._room: asyncio.Event | None = None

    def put(self, event: SpeakerEvent) -> None:
        self._queue.put_nowait(event)

    async def get(self) -> SpeakerEvent:
        event = await self._queue.get()
        self._taken()
        return event

    def drain(self) -> list[SpeakerEvent]:
        """Everything queued now, without waiting."""
        out: list[SpeakerEvent] = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        self._taken()
        return out

    def qsize(self) -> int:
        return self._queue.qsize()

    async def room(self) -> None:
        """Returns once at most ``high_water`` events are queued."""
        while self._queue.qsize() > self.high_water:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()

    def _taken(self) -> None:
        if self._room is not None and self._queue.qsize() <= self.high_water:
            self._room.set()


@dataclass(frozen=True, slots=True)
class InjectedRoute:
    """A route routepilot announces to the routers."""

    prefix: str
    next_hop: str
    local_pref: int
    communities: tuple[str, ...] = ()
    large_communities: tuple[str, ...] = ()
    """RFC 8092 ``GLOBAL:LOCAL1:LOCAL2``."""
    as_path: tuple[int, ...] = ()
    """Empty: an iBGP route of our own; else the path to announce it with."""


class Speaker(ABC):
    """A BGP speaker holding one iBGP session per router.

    ``router`` arguments are router names from the configuration; ``None`` means
    every router. Announcing a prefix that is already announced replaces it.
    Events are delivered in order through :meth:`events` to a single consumer.
    """

    def __init__(self) -> None:
        self._queue = EventQueue()
        self.metrics = SpeakerMetrics()

    @abstractmethod
    async def start(self) -> None:
        """Starts the backend and its sessions; returns once it accepts commands."""

    @abstractmethod
    async def stop(self) -> None:
        """Stops the backend; its sessions close, so the routers drop our routes."""

    @abstractmethod
    async def announce(self, routes: Sequence[InjectedRoute], router: str | None = None) -> None:
        """Announces (or replaces) routes."""

    @abstractmethod
    async def withdraw(self, routes: Sequence[InjectedRoute], router: str | None = None) -> None:
        """Withdraws routes previously announced."""

    def emit(self, event: SpeakerEvent) -> None:
        """Queues an event for the consumer (backends call this)."""
        self.metrics.events += 1
        self._queue.put(event)

    async def room(self) -> None:
        """Returns once the consumer has room for more events (:class:`EventQueue`):
        backends await it before they read more from their daemon."""
        await self._queue.room()

    async def next_event(self) -> SpeakerEvent:
        return await self._queue.get()

    async def events(self) -> AsyncIterator[SpeakerEvent]:
        """Every event, in order, forever."""
        while True:
            yield await self._queue.get()

    def backlog(self) -> int:
        """Events queued and not yet consumed."""
        return self._queue.qsize()

    def pending_events(self) -> list[SpeakerEvent]:
        """Drains what is queued now without waiting (handy for tests and batching)."""
        return self._queue.drain()
