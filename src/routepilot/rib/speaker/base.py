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
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

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


class Nlri(NamedTuple):
    """A prefix and its add-path path identifier (RFC 7911; 0 when add-path is off).

    A named tuple rather than a dataclass: a full table makes millions of them.
    """

    prefix: str
    path_id: int = 0


@dataclass(frozen=True, slots=True)
class PathsLearned:
    """A router announced (or replaced) these paths, all with the same attributes."""

    router: str
    attributes: PathAttributes
    nlri: tuple[Nlri, ...]


@dataclass(frozen=True, slots=True)
class PathsWithdrawn:
    """A router withdrew these paths."""

    router: str
    nlri: tuple[Nlri, ...]


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
    PathsLearned | PathsWithdrawn | SessionChanged | EndOfRib | MalformedUpdate | SpeakerRestarted
)


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
        self._queue: asyncio.Queue[SpeakerEvent] = asyncio.Queue()
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
        self._queue.put_nowait(event)

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
        out: list[SpeakerEvent] = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out
