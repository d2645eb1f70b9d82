"""From desired exits to BGP announcements, through the speaker.

decide/ says, per prefix, which provider traffic should leave by
(:class:`DesiredRoute`). The :class:`Injector` turns that into routes with the
provider's next-hop, a high LOCAL_PREF and NO_EXPORT/NO_ADVERTISE, and keeps what
the speaker announces equal to what is desired with the smallest diff.

What the speaker announces survives a session flap (ExaBGP re-sends its
Adj-RIB-Out when a session comes back), so on every session up the injector
re-sends what is desired now to that router and withdraws anything else; when
the speaker itself restarts everything announced is gone and is sent again.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from routepilot.config.inject import InjectConfig
from routepilot.inject.metrics import InjectMetrics
from routepilot.log import get_logger
from routepilot.rib.speaker.base import (
    InjectedRoute,
    SessionChanged,
    Speaker,
    SpeakerEvent,
    SpeakerRestarted,
)

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DesiredRoute:
    """Send traffic for ``prefix`` out of ``provider``.

    ``next_hop`` picks one of the provider's next-hops; by default the first one
    of the prefix's address family.
    """

    prefix: str
    provider: str
    next_hop: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One announcement or withdrawal, as done (or, in dry-run, as it would be)."""

    time: float
    action: str
    prefix: str
    next_hop: str
    router: str | None = None


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    announced: int
    withdrawn: int
    rejected: int
    capped: int


def announcement(
    want: DesiredRoute,
    next_hops: Mapping[str, Sequence[str]],
    local_preference: int,
    communities: Sequence[str],
) -> InjectedRoute:
    """The route that sends ``want.prefix`` out of ``want.provider``: the provider's
    next-hop (of the prefix's address family), our LOCAL_PREF and communities.
    ValueError when it makes no sense (unknown provider, foreign next-hop, no next-hop
    of that family)."""
    network = ipaddress.ip_network(want.prefix, strict=True)
    hops = next_hops.get(want.provider)
    if hops is None:
        raise ValueError(f"unknown provider {want.provider!r}")
    if want.next_hop is not None:
        if want.next_hop not in hops:
            raise ValueError(f"{want.next_hop} is not a next-hop of {want.provider}")
        next_hop = want.next_hop
    else:
        same = [h for h in hops if ipaddress.ip_address(h).version == network.version]
        if not same:
            raise ValueError(f"{want.provider} has no IPv{network.version} next-hop")
        next_hop = same[0]
    return InjectedRoute(str(network), next_hop, local_preference, tuple(communities))


class Injector:
    """Keeps the routers' injected routes equal to the desired ones."""

    def __init__(
        self,
        config: InjectConfig,
        providers: Sequence[tuple[str, Sequence[str]]],
        speaker: Speaker,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``providers`` is ``(name, next_hops)`` per provider."""
        self.config = config
        self._next_hops = {name: tuple(hops) for name, hops in providers}
        self.speaker = speaker
        self._clock = clock
        self._communities = tuple(config.communities)
        self.desired: dict[str, InjectedRoute] = {}
        self.announced: dict[str, InjectedRoute] = {}
        """What the speaker holds (what it would hold, in dry-run)."""
        self.journal: deque[Change] = deque(maxlen=config.dry_run_journal or None)
        self.metrics = InjectMetrics()
        self._dry_run = config.dry_run

    @property
    def dry_run(self) -> bool:
        """Recommendation mode now: configured at start, switched at run time
        (``set_dry_run``); the configuration keeps the start-up value."""
        return self._dry_run

    async def set_dry_run(self, on: bool) -> None:
        """Switches recommendation mode at run time, keeping what is desired.

        On: every announced route is withdrawn first, then the desired set is only
        journaled. Off: the desired set is announced (nothing is on the routers yet).
        """
        if on == self.dry_run:
            return
        if on:
            desired, self.desired = self.desired, {}
            await self.reconcile()
            self._dry_run = True
            self.desired = desired
        else:
            self._dry_run = False
            self.announced = {}
        await self.reconcile()
        log.info("dry-run switched", on=on)

    async def start(self) -> None:
        log.info("injector started", dry_run=self.dry_run, max_routes=self.config.max_routes)

    async def stop(self) -> None:
        """Withdraws everything announced (graceful shutdown)."""
        self.desired = {}
        if self.dry_run:
            self.announced = {}
            self._gauges()
            return
        await self.reconcile()
        log.info("injector stopped; every injected route withdrawn")

    def route_for(self, want: DesiredRoute) -> InjectedRoute:
        """The announcement for a desired exit; ValueError when it makes no sense."""
        return announcement(want, self._next_hops, self.config.local_preference, self._communities)

    async def set_desired(self, routes: Sequence[DesiredRoute]) -> ReconcileResult:
        """Replaces the desired set (in priority order) and reconciles."""
        desired: dict[str, InjectedRoute] = {}
        rejected = capped = 0
        for want in routes:
            try:
                route = self.route_for(want)
            except ValueError as exc:
                rejected += 1
                log.warning("desired route rejected", prefix=want.prefix, reason=str(exc))
                continue
            if route.prefix in desired:
                # The first (highest priority) exit asked for a prefix wins.
                rejected += 1
                log.warning("desired route duplicated", prefix=route.prefix)
                continue
            if len(desired) >= self.config.max_routes:
                capped += 1
                continue
            desired[route.prefix] = route
        if capped:
            log.warning("desired routes over the cap", cap=self.config.max_routes, dropped=capped)
        self.metrics.rejected_routes += rejected
        self.metrics.capped_routes += capped
        self.desired = desired
        result = await self.reconcile()
        return ReconcileResult(result.announced, result.withdrawn, rejected, capped)

    async def reconcile(self) -> ReconcileResult:
        """Announces what is desired and not announced, withdraws what is no longer desired."""
        self.metrics.reconciles += 1
        to_announce = [r for p, r in self.desired.items() if self.announced.get(p) != r]
        to_withdraw = [r for p, r in self.announced.items() if p not in self.desired]
        await self._send(to_announce, to_withdraw, None)
        for route in to_withdraw:
            del self.announced[route.prefix]
        for route in to_announce:
            self.announced[route.prefix] = route
        self._gauges()
        return ReconcileResult(len(to_announce), len(to_withdraw), 0, 0)

    async def resync(self, router: str | None) -> None:
        """Makes a router's table exactly what is desired now (after its session came up)."""
        self.metrics.resyncs += 1
        stale = [r for p, r in self.announced.items() if p not in self.desired]
        await self._send(list(self.desired.values()), stale, router)
        self.announced = dict(self.desired)
        self._gauges()
        log.info("resync", router=router, routes=len(self.desired), withdrawn=len(stale))

    async def handle(self, event: SpeakerEvent) -> None:
        """Reacts to the speaker's events (the daemon forwards them all)."""
        if self.dry_run:
            # Nothing was given to the speaker, so nothing there to resync.
            return
        if isinstance(event, SpeakerRestarted):
            # A new speaker process has an empty Adj-RIB-Out.
            self.announced = {}
            self._gauges()
        elif isinstance(event, SessionChanged) and event.up:
            await self.resync(event.router)

    async def _send(
        self, announce: list[InjectedRoute], withdraw: list[InjectedRoute], router: str | None
    ) -> None:
        now = self._clock()
        if self.dry_run:
            self.metrics.dry_run_changes += len(announce) + len(withdraw)
            for r in withdraw:
                self.journal.append(Change(now, "withdraw", r.prefix, r.next_hop, router))
            for r in announce:
                self.journal.append(Change(now, "announce", r.prefix, r.next_hop, router))
            return
        if withdraw:
            await self.speaker.withdraw(withdraw, router)
            self.metrics.withdrawals += len(withdraw)
        if announce:
            await self.speaker.announce(announce, router)
            self.metrics.announcements += len(announce)

    def _gauges(self) -> None:
        self.metrics.routes_injected = 0 if self.dry_run else len(self.announced)
        self.metrics.routes_desired = len(self.desired)
