"""An in-memory speaker for unit tests of rib/, inject/ and the daemon.

It behaves like ExaBGP where it matters: it keeps an Adj-RIB-Out per router
whose content survives a session flap (and so is "re-announced" when the session
comes back) and is lost when the speaker restarts. Tests drive the router side
with :meth:`learn`, :meth:`unlearn`, :meth:`unlearn_path_ids`, :meth:`session` and
:meth:`end_of_rib`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from routepilot.rib.speaker.base import (
    EndOfRib,
    InjectedRoute,
    MalformedUpdate,
    Nlri,
    PathAttributes,
    PathIdsWithdrawn,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
    Speaker,
    SpeakerRestarted,
)


class FakeSpeaker(Speaker):
    """Records every call; ``rib_out[router][prefix]`` is what that router would hold."""

    def __init__(self, routers: Iterable[str] = ("r1",)) -> None:
        super().__init__()
        self.routers = tuple(routers)
        self.rib_out: dict[str, dict[str, InjectedRoute]] = {r: {} for r in self.routers}
        self.up: dict[str, bool] = dict.fromkeys(self.routers, False)
        self.calls: list[tuple[str, str | None, tuple[InjectedRoute, ...]]] = []
        self.running = False

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False
        for router in self.routers:
            self.rib_out[router].clear()
            self.up[router] = False

    def _targets(self, router: str | None) -> tuple[str, ...]:
        if router is None:
            return self.routers
        if router not in self.rib_out:
            raise KeyError(f"unknown router {router!r}")
        return (router,)

    async def announce(self, routes: Sequence[InjectedRoute], router: str | None = None) -> None:
        self.calls.append(("announce", router, tuple(routes)))
        self.metrics.commands += 1
        self.metrics.routes_announced += len(routes)
        for target in self._targets(router):
            for route in routes:
                self.rib_out[target][route.prefix] = route

    async def withdraw(self, routes: Sequence[InjectedRoute], router: str | None = None) -> None:
        self.calls.append(("withdraw", router, tuple(routes)))
        self.metrics.commands += 1
        self.metrics.routes_withdrawn += len(routes)
        for target in self._targets(router):
            for route in routes:
                self.rib_out[target].pop(route.prefix, None)

    # The router side, driven by tests.

    def learn(
        self, router: str, attributes: PathAttributes, prefixes: Iterable[str | Nlri]
    ) -> PathsLearned:
        event = PathsLearned(router, attributes, _nlri(prefixes))
        self.emit(event)
        return event

    def unlearn(self, router: str, prefixes: Iterable[str | Nlri]) -> PathsWithdrawn:
        event = PathsWithdrawn(router, _nlri(prefixes))
        self.emit(event)
        return event

    def unlearn_path_ids(self, router: str, path_ids: Iterable[int]) -> PathIdsWithdrawn:
        """Every path of ``router`` with one of these path ids goes, as a BMP peer's do."""
        event = PathIdsWithdrawn(router, tuple(path_ids))
        self.emit(event)
        return event

    def session(self, router: str, up: bool, reason: str = "") -> None:
        self.up[router] = up
        self.emit(SessionChanged(router, up, reason))

    def end_of_rib(self, router: str, family: str = "ipv4 unicast") -> None:
        self.emit(EndOfRib(router, family))

    def malformed(self, router: str, reason: str) -> None:
        self.emit(MalformedUpdate(router, reason))

    def crash(self, reason: str = "killed") -> None:
        """Simulates a backend that died and was restarted: sessions drop, Adj-RIB-Out is lost."""
        self.metrics.restarts += 1
        for router in self.routers:
            self.rib_out[router].clear()
            if self.up[router]:
                self.session(router, False, reason)
        self.emit(SpeakerRestarted(reason))


def _nlri(prefixes: Iterable[str | Nlri]) -> tuple[Nlri, ...]:
    return tuple(p if isinstance(p, Nlri) else Nlri(p) for p in prefixes)
