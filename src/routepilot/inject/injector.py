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

import functools
import ipaddress
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from routepilot.config.inject import InjectConfig
from routepilot.inject.metrics import InjectMetrics
from routepilot.inject.routers import RouterPlan
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
    reason: str | None = None
    """Why (a decide/ reason label): picks the per-reason LOCAL_PREF and communities."""
    as_path: tuple[int, ...] = ()
    """The provider's learned AS path, announced when ``inject.as_path`` is ``learned``."""


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
    refused: int = 0
    """Routes refused because they lie outside ``inject.allowlist``."""


class Allowlist:
    """``inject.allowlist`` as networks: is a prefix inside one of them?"""

    def __init__(self, entries: Sequence[str]) -> None:
        self.entries = tuple(entries)
        self._nets = [ipaddress.ip_network(e) for e in entries]

    def __contains__(self, prefix: str) -> bool:
        if not self._nets:
            return True
        net = ipaddress.ip_network(prefix, strict=False)
        return any(
            net.version == a.version and net.subnet_of(a)  # type: ignore[arg-type]
            for a in self._nets
        )


def attributes_for(config: InjectConfig, want: DesiredRoute) -> dict[str, object]:
    """LOCAL_PREF, communities, large communities and AS path of a desired exit: the
    provider's settings win over the reason's, which win over the defaults; the
    communities of all three add up (docs/policy.md)."""
    reason, provider = want.reason or "", want.provider
    local_pref = config.local_preference_by_provider.get(
        provider,
        config.local_preference_by_reason.get(reason, config.local_preference),  # type: ignore[call-overload]
    )
    communities = [
        *config.route_communities(),
        *config.communities_by_reason.get(reason, ()),  # type: ignore[call-overload]
        *config.communities_by_provider.get(provider, ()),
    ]
    large = [
        *config.large_communities,
        *config.large_communities_by_reason.get(reason, ()),  # type: ignore[call-overload]
        *config.large_communities_by_provider.get(provider, ()),
    ]
    return {
        "local_preference": local_pref,
        "communities": tuple(dict.fromkeys(communities)),
        "large_communities": tuple(dict.fromkeys(large)),
        "as_path": tuple(want.as_path) if config.as_path == "learned" else (),
    }


@functools.lru_cache(maxsize=1 << 18)
def _network(prefix: str) -> tuple[str, int]:
    """A prefix's canonical text and IP version; ValueError when it is not one (host bits
    set included). Cached: each decision round hands over the same prefixes again, and
    parsing them was most of a 10k-route change's own time."""
    addr, _, length = prefix.partition("/")
    if "." in addr and length.isdigit() and int(length) <= 32:
        # IPv4 already in canonical form, the common case, without ipaddress's slower parse;
        # anything else (a host bit set, leading zeros, IPv6) takes ipaddress's path below,
        # which says what is wrong.
        try:
            value = int.from_bytes(socket.inet_aton(addr), "big")
        except OSError:
            value = -1
        bits = int(length)
        if (
            value >= 0
            and not value & ((1 << (32 - bits)) - 1)
            and socket.inet_ntoa(value.to_bytes(4, "big")) == addr
            and str(bits) == length
        ):
            return prefix, 4
    network = ipaddress.ip_network(prefix, strict=True)
    return str(network), network.version


@functools.lru_cache(maxsize=4096)
def _version(address: str) -> int:
    return ipaddress.ip_address(address).version


def announcement(
    want: DesiredRoute,
    next_hops: Mapping[str, Sequence[str]],
    local_preference: int,
    communities: Sequence[str],
    large_communities: Sequence[str] = (),
    as_path: Sequence[int] = (),
) -> InjectedRoute:
    """The route that sends ``want.prefix`` out of ``want.provider``: the provider's
    next-hop (of the prefix's address family), our LOCAL_PREF and communities.
    ValueError when it makes no sense (unknown provider, foreign next-hop, no next-hop
    of that family)."""
    prefix, version = _network(want.prefix)
    hops = next_hops.get(want.provider)
    if hops is None:
        raise ValueError(f"unknown provider {want.provider!r}")
    if want.next_hop is not None:
        if want.next_hop not in hops:
            raise ValueError(f"{want.next_hop} is not a next-hop of {want.provider}")
        next_hop = want.next_hop
    else:
        next_hop = next((h for h in hops if _version(h) == version), "")
        if not next_hop:
            raise ValueError(f"{want.provider} has no IPv{version} next-hop")
    return InjectedRoute(
        prefix,
        next_hop,
        local_preference,
        tuple(communities),
        tuple(large_communities),
        tuple(as_path),
    )


class Injector:
    """Keeps the routers' injected routes equal to the desired ones."""

    def __init__(
        self,
        config: InjectConfig,
        providers: Sequence[tuple[str, Sequence[str]]],
        speaker: Speaker,
        clock: Callable[[], float] = time.time,
        routers: Sequence[RouterPlan] = (),
    ) -> None:
        """``providers`` is ``(name, next_hops)`` per provider. ``routers``: what each router
        can use (:class:`RouterPlan`); when every router gets every route unchanged (or
        none is given) each route is sent once to all of them."""
        self.config = config
        self._next_hops = {name: tuple(hops) for name, hops in providers}
        self.speaker = speaker
        self._clock = clock
        self.desired: dict[str, InjectedRoute] = {}
        self.announced: dict[str, InjectedRoute] = {}
        """What the speaker holds (what it would hold, in dry-run)."""
        self.journal: deque[Change] = deque(maxlen=config.dry_run_journal or None)
        self.metrics = InjectMetrics()
        self._dry_run = config.dry_run
        self._allowlist: Allowlist | None = None
        self._plans = tuple(routers)
        self._per_router = not all(plan.plain for plan in self._plans)
        self.announced_to: dict[str, dict[str, InjectedRoute]] = {}
        """Per router, what it was sent (only when routers get different routes)."""
        self._provider_of: dict[str, str] = {}

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
            self.announced_to = {}
        await self.reconcile()
        log.info("dry-run switched", on=on)

    def reconfigure(self, config: InjectConfig) -> None:
        """A reloaded ``inject`` section: limits apply from the next ``set_desired``. What
        announced routes look like (local-pref, communities) needs a restart."""
        self.config = config

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

    @property
    def allowlist(self) -> Allowlist:
        """``inject.allowlist`` of the configuration in force (rebuilt when it changes)."""
        entries = tuple(self.config.allowlist)
        if self._allowlist is None or self._allowlist.entries != entries:
            self._allowlist = Allowlist(entries)
        return self._allowlist

    def provider_of_next_hop(self, next_hop: str) -> str | None:
        """The provider whose next hop this is (None for a foreign one)."""
        return next((name for name, hops in self._next_hops.items() if next_hop in hops), None)

    def route_for(self, want: DesiredRoute) -> InjectedRoute:
        """The announcement for a desired exit; ValueError when it makes no sense."""
        a = attributes_for(self.config, want)
        return announcement(
            want,
            self._next_hops,
            a["local_preference"],  # type: ignore[arg-type]
            a["communities"],  # type: ignore[arg-type]
            a["large_communities"],  # type: ignore[arg-type]
            a["as_path"],  # type: ignore[arg-type]
        )

    async def set_desired(self, routes: Sequence[DesiredRoute]) -> ReconcileResult:
        """Replaces the desired set (in priority order) and reconciles. A route outside
        ``inject.allowlist`` is refused (counted), whatever decide/ said: defence in depth."""
        desired: dict[str, InjectedRoute] = {}
        rejected = capped = refused = 0
        allowlist = self.allowlist
        for want in routes:
            try:
                if want.prefix not in allowlist:
                    refused += 1
                    log.warning("desired route outside the allowlist refused", prefix=want.prefix)
                    continue
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
            self._provider_of[route.prefix] = want.provider
        if capped:
            log.warning("desired routes over the cap", cap=self.config.max_routes, dropped=capped)
        self.metrics.rejected_routes += rejected
        self.metrics.capped_routes += capped
        self.metrics.refused_outside_allowlist += refused
        self.desired = desired
        result = await self.reconcile()
        return ReconcileResult(result.announced, result.withdrawn, rejected, capped, refused)

    async def reconcile(self) -> ReconcileResult:
        """Announces what is desired and not announced, withdraws what is no longer desired."""
        self.metrics.reconciles += 1
        to_announce = [r for p, r in self.desired.items() if self.announced.get(p) != r]
        to_withdraw = [r for p, r in self.announced.items() if p not in self.desired]
        if self._per_router:
            for plan in self._plans:
                await self._sync_router(plan, full=False)
        else:
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
        if self._per_router:
            for plan in self._plans:
                if router is None or plan.name == router:
                    await self._sync_router(plan, full=True)
        else:
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
            self.announced_to = {}
            self._gauges()
        elif isinstance(event, SessionChanged) and event.up:
            await self.resync(event.router)

    def routes_for(self, plan: RouterPlan) -> dict[str, InjectedRoute]:
        """What is desired now, as ``plan``'s router gets it (the routes it can use)."""
        out = {}
        for prefix, route in self.desired.items():
            provider = self._provider_of.get(prefix) or self.provider_of_next_hop(route.next_hop)
            mine = plan.route(route, provider or "")
            if mine is not None:
                out[prefix] = mine
        return out

    def announced_count(self, router: str) -> int:
        """Routes this router holds from us (would hold, in dry-run)."""
        if self._per_router:
            return len(self.announced_to.get(router, {}))
        return len(self.announced)

    async def _sync_router(self, plan: RouterPlan, full: bool) -> None:
        """Sends one router what changed for it (``full``: everything it should hold) and
        withdraws what it holds and should not."""
        want = self.routes_for(plan)
        held = self.announced_to.get(plan.name, {})
        announce = [r for p, r in want.items() if full or held.get(p) != r]
        withdraw = [r for p, r in held.items() if p not in want]
        await self._send(announce, withdraw, plan.name)
        self.announced_to[plan.name] = want

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
