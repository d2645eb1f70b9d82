"""The routes stage: what the routers know, from their add-path updates.

:class:`Rib` consumes speaker events (``handle``) and keeps a :class:`PathTable`;
``snapshot()`` hands decide/ a :class:`RoutesSnapshot`, ``prefix_table()`` hands
flows/ the prefixes for longest-prefix match.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from routepilot.log import get_logger
from routepilot.rib.metrics import RibMetrics
from routepilot.rib.snapshot import RoutesSnapshot
from routepilot.rib.speaker.base import (
    EndOfRib,
    MalformedUpdate,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
    SpeakerEvent,
    SpeakerRestarted,
)
from routepilot.rib.table import OwnMatcher, PathTable

log = get_logger(__name__)


@dataclass(frozen=True)
class PrefixTable:
    """Every known prefix as numbers, for vectorised longest-prefix match.

    IPv4 rows have ``is6 == False`` and the network in ``net4``; IPv6 rows have the
    network's high and low 64 bits in ``net6_hi`` / ``net6_lo``. ``prefixes[i]``
    is the text form of row ``i``.
    """

    prefixes: tuple[str, ...]
    is6: np.ndarray
    net4: np.ndarray
    net6_hi: np.ndarray
    net6_lo: np.ndarray
    length: np.ndarray


class Rib:
    """Every provider's path per prefix, from every router, with BGP's choice."""

    def __init__(
        self,
        routers: Sequence[str],
        providers: Sequence[tuple[str, Sequence[str]]],
        own_local_pref: int | None = None,
        own_communities: Sequence[str] = (),
        default_local_pref: int = 100,
        clock: Callable[[], float] = time.time,
        slots: int = 4,
        capacity: int = 1024,
        sync_quiet_time: float = 3.0,
    ) -> None:
        """``providers`` is ``(name, next_hops)`` per provider, in snapshot order.

        Paths whose LOCAL_PREF is ``own_local_pref`` and that carry all of
        ``own_communities`` are routepilot's own injections and are ignored.
        """
        self.routers = tuple(routers)
        self._router_index = {name: i for i, name in enumerate(self.routers)}
        self.providers = tuple(name for name, _ in providers)
        next_hops = {nh: i for i, (_, hops) in enumerate(providers) for nh in hops}
        own = None
        if own_local_pref is not None:
            own = OwnMatcher(own_local_pref, [normalize_community(c) for c in own_communities])
        self.table = PathTable(
            next_hops, len(self.providers), own, default_local_pref, capacity, slots
        )
        self.metrics = RibMetrics()
        self.session_up: dict[str, bool] = dict.fromkeys(self.routers, False)
        self.end_of_rib: dict[str, set[str]] = {r: set() for r in self.routers}
        self._clock = clock
        self._sync_quiet_time = sync_quiet_time
        self._configured_next_hops = {nh: name for name, hops in providers for nh in hops}
        self.unknown_next_hops: dict[str, int] = {}
        """Next-hops of received paths that no provider claims, with path counts."""
        self._last_change: dict[str, float] = dict.fromkeys(self.routers, 0.0)
        # Rows and text of the last snapshot's prefixes: a million-string tuple
        # is worth reusing when the set of prefixes did not change.
        self._snapshot_prefixes: tuple[np.ndarray, tuple[str, ...]] = (np.zeros(0, np.int64), ())

    def handle_many(self, events: Sequence[SpeakerEvent]) -> None:
        """Applies events in order, with runs of one router's updates loaded in one batch."""
        run: list[PathsLearned] = []
        for event in events:
            if isinstance(event, PathsLearned) and (not run or run[-1].router == event.router):
                run.append(event)
                continue
            self._learned_batch(run)
            run = []
            if isinstance(event, PathsLearned):
                run.append(event)
            else:
                self.handle(event)
        self._learned_batch(run)

    def _learned_batch(self, run: list[PathsLearned]) -> None:
        if not run:
            return
        router = self._router_index.get(run[0].router)
        if router is None:
            self.metrics.unknown_router_events += len(run)
            log.warning("event from unknown router", router=run[0].router)
            return
        try:
            self.table.add_batch(router, [(e.attributes, e.nlri) for e in run])
        except (ValueError, TypeError, AttributeError):
            # One bad update must not cost the others: apply them one by one.
            for event in run:
                self._learned(router, event)
            return
        self._last_change[run[0].router] = self._clock()
        for event in run:
            self._count(event)
        self._gauges()

    def handle(self, event: SpeakerEvent) -> None:
        """Applies one speaker event."""
        if isinstance(event, SpeakerRestarted):
            self.metrics.speaker_restarts += 1
            for router in self.routers:
                self._down(router, f"speaker restarted: {event.reason}")
            return
        index = self._router_index.get(getattr(event, "router", ""))
        if index is None:
            self.metrics.unknown_router_events += 1
            log.warning("event from unknown router", router=getattr(event, "router", None))
            return
        if isinstance(event, PathsLearned | PathsWithdrawn | SessionChanged):
            self._last_change[event.router] = self._clock()
        if isinstance(event, PathsLearned):
            self._learned(index, event)
        elif isinstance(event, PathsWithdrawn):
            self.metrics.updates_received += 1
            self.metrics.withdrawals_received += len(event.nlri)
            self.table.remove(index, event.nlri)
        elif isinstance(event, SessionChanged):
            if event.up:
                self.metrics.session_ups += 1
                self.session_up[event.router] = True
                self.end_of_rib[event.router].clear()
                log.info("session up", router=event.router)
            else:
                self._down(event.router, event.reason)
        elif isinstance(event, EndOfRib):
            self.metrics.end_of_rib += 1
            self.end_of_rib[event.router].add(event.family)
            log.info("end of rib", router=event.router, family=event.family)
        elif isinstance(event, MalformedUpdate):
            self.metrics.malformed_updates += 1
            log.warning("malformed update", router=event.router, reason=event.reason)
        self._gauges()

    def _learned(self, router: int, event: PathsLearned) -> None:
        try:
            self.table.add(router, event.attributes, event.nlri)
        except (ValueError, TypeError, AttributeError) as exc:
            self.metrics.malformed_updates += 1
            log.warning("malformed update", router=event.router, reason=str(exc))
            return
        self._count(event)

    def _count(self, event: PathsLearned) -> None:
        self.metrics.updates_received += 1
        self.metrics.paths_received += len(event.nlri)
        provider = self.table.provider_of(event.attributes)
        if provider == -1:
            self.metrics.unknown_next_hop_paths += len(event.nlri)
            hop = event.attributes.next_hop
            self.unknown_next_hops[hop] = self.unknown_next_hops.get(hop, 0) + len(event.nlri)
        elif provider == -2:
            self.metrics.own_paths_ignored += len(event.nlri)

    def _down(self, router: str, reason: str) -> None:
        was_up = self.session_up.get(router, False)
        self.session_up[router] = False
        self.end_of_rib[router].clear()
        dropped = self.table.drop_router(self._router_index[router])
        if was_up or dropped:
            self.metrics.session_downs += 1
            log.warning("session down", router=router, reason=reason, paths_dropped=dropped)
        self._gauges()

    def _gauges(self) -> None:
        self.metrics.prefixes = len(self.table.prefix_list)
        self.metrics.paths = self.table.paths

    def synced(self, router: str) -> bool:
        """Has this router sent its whole table since its session came up.

        Yes once it sent End-of-RIB for a family, or, for routers that send none
        (FRR without graceful restart), once nothing changed for ``sync_quiet_time``.
        """
        if not self.session_up.get(router, False):
            return False
        if self.end_of_rib.get(router):
            return True
        return self._clock() - self._last_change.get(router, 0.0) >= self._sync_quiet_time

    def missing_next_hops(self) -> dict[str, str]:
        """Configured provider next-hops no received path has used (next-hop -> provider).

        Worth a warning once the routers are synced: the configuration names a
        next-hop the routers never send, so that provider will never be chosen.
        """
        seen = set(self.table._nh_index)
        return {nh: p for nh, p in self._configured_next_hops.items() if nh not in seen}

    def snapshot(self) -> RoutesSnapshot:
        """Per prefix with a provider path: who has a route and BGP's default choice."""
        best = self.table.best_paths()
        rows, cached = self._snapshot_prefixes
        if np.array_equal(rows, best.rows):
            prefixes = cached
        else:
            names = self.table.prefix_list
            prefixes = tuple(names[i] for i in best.rows.tolist())
            self._snapshot_prefixes = (best.rows, prefixes)
        provider_up = {p: bool(best.has_route[:, k].any()) for k, p in enumerate(self.providers)}
        return RoutesSnapshot(
            time=self._clock(),
            prefixes=prefixes,
            providers=self.providers,
            has_route=best.has_route,
            as_path_len=best.as_path_len,
            bgp_best=best.bgp_best,
            session_up=dict(self.session_up),
            provider_up=provider_up,
        )

    def prefix_table(self) -> PrefixTable:
        """Every prefix ever learned (rows never move), as numbers for LPM."""
        t = self.table
        n = len(t.prefix_list)
        return PrefixTable(
            tuple(t.prefix_list),
            t.is6[:n].copy(),
            t.net4[:n].copy(),
            t.net6[:n].copy(),
            t.net6lo[:n].copy(),
            t.plen[:n].copy(),
        )

    def paths(self, prefix: str) -> list[dict]:
        """Every path of one prefix, for the API and debugging."""
        row = self.table.prefix_index.get(prefix)
        if row is None:
            return []
        out = []
        for router, path_id, attrs in self.table.rows_paths(row):
            provider = self.table.provider_of(attrs)
            out.append(
                {
                    "router": self.routers[router],
                    "path_id": path_id,
                    "provider": self.providers[provider] if provider >= 0 else None,
                    "own": provider == -2,
                    "next_hop": attrs.next_hop,
                    "as_path": list(attrs.as_path),
                    "origin": attrs.origin,
                    "med": attrs.med,
                    "local_pref": attrs.local_pref,
                    "communities": list(attrs.communities),
                }
            )
        return out


WELL_KNOWN_COMMUNITIES = {
    "no-export": "65535:65281",
    "no-advertise": "65535:65282",
    "no-export-subconfed": "65535:65283",
    "nopeer": "65535:65284",
    "graceful-shutdown": "65535:0",
    "blackhole": "65535:666",
}


def normalize_community(community: str) -> str:
    """``no-export`` and ``65535:65281`` are the same community (RFC 1997)."""
    return WELL_KNOWN_COMMUNITIES.get(community.lower(), community)
