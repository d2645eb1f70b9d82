"""The routes stage: what the routers know, from their add-path updates.

:class:`Rib` consumes speaker events (``handle``) and keeps a :class:`PathTable`;
``snapshot()`` hands decide/ a :class:`RoutesSnapshot`, ``prefix_table()`` hands
flows/ the prefixes for longest-prefix match.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from routepilot.log import get_logger
from routepilot.rib.attributes import decode
from routepilot.rib.index import Numbers, PrefixIndex
from routepilot.rib.metrics import RibMetrics
from routepilot.rib.snapshot import RoutesSnapshot
from routepilot.rib.speaker.base import (
    Attributes,
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
    SpeakerRestarted,
)
from routepilot.rib.table import OwnMatcher, PathLimits, PathTable

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
        own_local_pref: int | Collection[int] | None = None,
        own_communities: Sequence[str] = (),
        default_local_pref: int = 100,
        clock: Callable[[], float] = time.time,
        slots: int = 1,
        capacity: int = 1024,
        sync_quiet_time: float = 3.0,
        limits: PathLimits | None = None,
        sync_first_path_wait: float = 30.0,
        families: Sequence[str] = (),
        egress: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``providers`` is ``(name, next_hops)`` per provider, in snapshot order.

        Paths whose LOCAL_PREF is ``own_local_pref`` and that carry all of
        ``own_communities`` are routepilot's own injections and are ignored.
        ``families`` are the address families negotiated with the routers: a
        router is synced at once when it sent End-of-RIB for all of them (any one
        will do when none are given). ``egress`` maps a provider to the routers that
        reach it directly: only their paths count as that provider's (None: every
        router's do). ``slots``: paths a prefix's row holds at first; a row that needs
        more makes every row twice as wide, so a table of one path a prefix (a router's
        Loc-RIB over BMP) pays for one, not for four (19 MiB on 0.5M prefixes).
        """
        self.routers = tuple(routers)
        self._router_index = {name: i for i, name in enumerate(self.routers)}
        self.providers = tuple(name for name, _ in providers)
        next_hops = {nh: i for i, (_, hops) in enumerate(providers) for nh in hops}
        own = None
        if own_local_pref is not None:
            own = OwnMatcher(own_local_pref, [normalize_community(c) for c in own_communities])
        self.table = PathTable(
            next_hops, len(self.providers), own, default_local_pref, capacity, slots, limits
        )
        if egress is not None:
            allowed = np.zeros((len(self.routers), len(self.providers)), dtype=bool)
            for k, name in enumerate(self.providers):
                for router in egress.get(name, self.routers):
                    allowed[self._router_index[router], k] = True
            self.table.set_egress(allowed)
        self.metrics = RibMetrics(paths_dropped=self.table.dropped)
        self.session_up: dict[str, bool] = dict.fromkeys(self.routers, False)
        self.end_of_rib: dict[str, set[str]] = {r: set() for r in self.routers}
        self._clock = clock
        self._sync = SyncRule(sync_quiet_time, sync_first_path_wait, frozenset(families))
        self._arrival: dict[str, Arrival] = {r: Arrival() for r in self.routers}
        self._ever_synced = False
        self._configured_next_hops = {nh: name for name, hops in providers for nh in hops}
        self.unknown_next_hops: dict[str, int] = {}
        """Next-hops of received paths that no provider claims, with path counts."""
        # Rows and text of the last snapshot's prefixes: a million-string tuple
        # is worth reusing when the set of prefixes did not change.
        self._snapshot_prefixes: tuple[np.ndarray, tuple[str, ...], PrefixIndex] = (
            np.zeros(0, np.int64),
            (),
            PrefixIndex(()),
        )

    def handle_many(self, events: Sequence[SpeakerEvent]) -> None:
        """Applies events in order, with runs of one router's announcements, or of its
        withdrawals, each applied in one batch."""
        run: list[PathsLearned] = []
        gone: list[PathsWithdrawn] = []
        for event in events:
            if isinstance(event, PathsLearned):
                if gone:
                    self._withdrawn_batch(gone)
                    gone = []
                if run and run[-1].router != event.router:
                    self._learned_batch(run)
                    run = []
                run.append(event)
            elif isinstance(event, PathsWithdrawn):
                if run:
                    self._learned_batch(run)
                    run = []
                if gone and gone[-1].router != event.router:
                    self._withdrawn_batch(gone)
                    gone = []
                gone.append(event)
            else:
                self._learned_batch(run)
                self._withdrawn_batch(gone)
                run, gone = [], []
                self.handle(event)
        self._learned_batch(run)
        self._withdrawn_batch(gone)

    def _withdrawn_batch(self, run: list[PathsWithdrawn]) -> None:
        if not run:
            return
        if len(run) == 1:
            self.handle(run[0])
            return
        router = self._router_index.get(run[0].router)
        if router is None:
            self.metrics.unknown_router_events += len(run)
            log.warning("event from unknown router", router=run[0].router)
            return
        prefixes: list[str] = []
        path_ids: list[int] = []
        for event in run:
            nlri = event.nlri
            if type(nlri) is NlriBlock:
                prefixes += nlri.prefixes
                path_ids += nlri.ids()
            else:
                prefixes += [n[0] for n in nlri]
                path_ids += [n[1] for n in nlri]
        self._arrival[run[0].router].paths(self._clock(), len(prefixes))
        self.metrics.updates_received += len(run)
        self.metrics.withdrawals_received += len(prefixes)
        self.table.remove_columns(router, prefixes, path_ids)
        self._gauges()

    def _learned_batch(self, run: list[PathsLearned]) -> None:
        if not run:
            return
        router = self._router_index.get(run[0].router)
        if router is None:
            self.metrics.unknown_router_events += len(run)
            log.warning("event from unknown router", router=run[0].router)
            return
        try:
            _, ids = self.table.add_updates(router, [(e.attributes, e.nlri) for e in run])
        except (ValueError, TypeError, AttributeError):
            # One bad update must not cost the others: apply them one by one.
            for event in run:
                self._learned(router, event)
            return
        # Counted by the attribute id each update got, not by looking its set up again:
        # over BMP a table is a path or two an update.
        providers = self.table.provider_list
        paths = unknown = own = 0
        for event, attr_id in zip(run, ids, strict=True):
            if attr_id < 0:  # no NLRI: counted as one update of its set, as before
                self._count(event.attributes, 0, 1)
                continue
            n = len(event.nlri)
            paths += n
            provider = providers[attr_id]
            if provider == -1:
                unknown += n
                hop = _next_hop(event.attributes)
                self.unknown_next_hops[hop] = self.unknown_next_hops.get(hop, 0) + n
            elif provider == -2:
                own += n
        updates = len(run) - ids.count(-1)
        self._arrival[run[0].router].paths(self._clock(), paths)
        self.metrics.updates_received += updates
        self.metrics.paths_received += paths
        self.metrics.unknown_next_hop_paths += unknown
        self.metrics.own_paths_ignored += own
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
        if isinstance(event, PathsLearned | PathsWithdrawn):
            self._arrival[event.router].paths(self._clock(), len(event.nlri))
        if isinstance(event, PathsLearned):
            self._learned(index, event)
        elif isinstance(event, PathsWithdrawn):
            self.metrics.updates_received += 1
            self.metrics.withdrawals_received += len(event.nlri)
            self.table.remove(index, event.nlri)
        elif isinstance(event, PathIdsWithdrawn):
            # Counted as one withdrawal naming the paths it removed: what the BMP station
            # sent on Peer Down when it kept each peer's prefixes to name them.
            removed = self.table.drop_path_ids(index, event.path_ids)
            if removed:
                self._arrival[event.router].paths(self._clock(), removed)
            self.metrics.updates_received += 1
            self.metrics.withdrawals_received += removed
        elif isinstance(event, SessionChanged):
            if event.up:
                self.metrics.session_ups += 1
                self.session_up[event.router] = True
                self.end_of_rib[event.router].clear()
                self._arrival[event.router] = Arrival(up_at=self._clock())
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
        self._count(event.attributes, len(event.nlri), 1)

    def _count(self, attributes: Attributes, paths: int, updates: int) -> None:
        self.metrics.updates_received += updates
        self.metrics.paths_received += paths
        provider = self.table.provider_of(attributes)
        if provider == -1:
            self.metrics.unknown_next_hop_paths += paths
            hop = _next_hop(attributes)
            self.unknown_next_hops[hop] = self.unknown_next_hops.get(hop, 0) + paths
        elif provider == -2:
            self.metrics.own_paths_ignored += paths

    def _down(self, router: str, reason: str) -> None:
        was_up = self.session_up.get(router, False)
        self.session_up[router] = False
        self.end_of_rib[router].clear()
        self._arrival[router] = Arrival()
        dropped = self.table.drop_router(self._router_index[router])
        if was_up or dropped:
            self.metrics.session_downs += 1
            log.warning("session down", router=router, reason=reason, paths_dropped=dropped)
        self._gauges()

    def _gauges(self) -> None:
        self.metrics.prefixes = len(self.table.prefix_list)
        self.metrics.paths = self.table.paths

    def synced(self, router: str) -> bool:
        """Has this router sent its whole table since its session came up (:class:`SyncRule`)."""
        if not self.session_up.get(router, False):
            return False
        eor = self.end_of_rib.get(router, set())
        return self._sync.holds(self._arrival[router], eor, self._clock())

    def state(self, router: str) -> str:
        """``down``, ``arriving`` (session up, table still coming), ``silent`` or ``synced``.

        ``silent``: the session has been up ``sync_first_path_wait`` seconds and the
        router has sent nothing at all, not even End-of-RIB. Its table counts as whole
        and empty (:meth:`synced`), but an empty table cannot be told from a router
        that has not begun to send (gobgpd under load waited more than 30 s): the
        providers it may carry are neither out nor misconfigured, so nothing alerts or
        warns on them while it lasts (:meth:`silent`)."""
        if not self.session_up.get(router, False):
            return "down"
        if not self.synced(router):
            return "arriving"
        if self._arrival[router].first_path_at is None and not self.end_of_rib.get(router):
            return "silent"
        return "synced"

    def arriving(self) -> list[str]:
        """Routers whose session is up and whose table is still arriving."""
        return [r for r in self.routers if self.state(r) == "arriving"]

    def silent(self) -> dict[str, float]:
        """Routers in state ``silent``: seconds since their session came up."""
        now = self._clock()
        return {r: now - self._arrival[r].up_at for r in self.routers if self.state(r) == "silent"}

    def routes_synced(self) -> bool:
        """At least one router has sent a table and every router that is up has sent
        its whole table (a silent one counts as an empty table).

        Nothing may decide, alert or warn on a table still arriving: a third of a
        table looks like two thirds of the providers' routes gone."""
        return self.routes_state() == "synced"

    def routes_state(self) -> str:
        """The routers' tables as a whole, from each router's :meth:`state` read once.

        ``synced``: every router that is up has sent its whole table, and one has sent
        a table; ``arriving``: a router's table is still coming; ``silent``: every
        router that is up has sent nothing since its session came up, for
        ``sync_first_path_wait`` or more; ``waiting``: no session has come up and
        synced since start; ``down``: every session is down after the tables were
        whole once. Only ``synced`` may be decided on, and only ``synced`` and
        ``down`` tell that a provider's routes are gone (when no router is silent).
        """
        states = {self.state(r) for r in self.routers}
        if "synced" in states and "arriving" not in states:
            self._ever_synced = True
            return "synced"
        if "arriving" in states:
            return "arriving"
        if "silent" in states:
            return "silent"
        return "down" if self._ever_synced else "waiting"

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
        rows, cached, index = self._snapshot_prefixes
        if np.array_equal(rows, best.rows):
            prefixes = cached
        else:
            names = self.table.prefix_list
            if len(best.rows) == len(names):
                # Every row (rows never move): no list of half a million row numbers
                # made to index them, 18 MiB at once on a whole table.
                prefixes = tuple(names)
            else:
                prefixes = tuple(names[i] for i in best.rows.tolist())
            index = self._index(best.rows, prefixes)
            self._snapshot_prefixes = (best.rows, prefixes, index)
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
            origin_as=best.origin_as,
            index=index,
        )

    def _index(self, rows: np.ndarray, prefixes: tuple[str, ...]) -> PrefixIndex:
        """An index of the snapshot's prefixes that reads the table's own: its rows never
        move, so exact lookups need nothing built, and covering ones read its numbers."""
        table = self.table

        def numbers() -> Numbers:
            is6 = table.is6[rows]
            hi = np.where(is6, table.net6[rows], table.net4[rows].astype(np.uint64))
            lo = np.where(is6, table.net6lo[rows], np.uint64(0))
            return is6, hi, lo, table.plen[rows].astype(np.int64)

        return PrefixIndex(prefixes, row_of=table.prefix_index, table_rows=rows, numbers=numbers)

    def prefix_count(self) -> int:
        """How many prefixes ``prefix_table()`` would hold, without copying them."""
        return len(self.table.prefix_list)

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

    def router_summary(self) -> dict[str, dict]:
        """Per router: ``{"session_up", "synced", "paths", "providers": {name: paths}}``."""
        paths, per_provider = self.table.router_counts(len(self.routers))
        return {
            name: {
                "session_up": self.session_up.get(name, False),
                "synced": self.synced(name),
                "paths": int(paths[i]),
                "providers": {
                    p: int(per_provider[i, k])
                    for k, p in enumerate(self.providers)
                    if per_provider[i, k]
                },
            }
            for i, name in enumerate(self.routers)
        }

    def covering(self, prefix: str) -> str | None:
        """The longest learned prefix equal to or containing ``prefix`` (an address is a /32
        or /128), as the router's longest-prefix match would pick it; None when none does."""
        net = ipaddress.ip_network(prefix, strict=False)
        index = self.table.prefix_index
        for length in range(net.prefixlen, -1, -1):
            candidate = str(net.supernet(new_prefix=length)) if length < net.prefixlen else str(net)
            if candidate in index:
                return candidate
        return None

    def bgp_choice(self, prefix: str) -> str | None:
        """The provider BGP's best-path selection picks for ``prefix`` (None: no provider path)."""
        row = self.table.prefix_index.get(prefix)
        if row is None:
            return None
        best = self.table.best_paths()
        i = int(np.searchsorted(best.rows, row))
        if i >= len(best.rows) or best.rows[i] != row or best.bgp_best[i] < 0:
            return None
        return self.providers[int(best.bgp_best[i])]

    def paths(self, prefix: str) -> list[dict]:
        """Every path of one prefix, for the API and debugging; ``best`` marks the path BGP's
        selection picks (of its provider's paths, the lowest router then path id: the same
        whatever order the paths arrived in)."""
        row = self.table.prefix_index.get(prefix)
        if row is None:
            return []
        choice = self.bgp_choice(prefix)
        paths = [(r, i, a, self.table.provider_of(a)) for r, i, a in self.table.rows_paths(row)]
        names = [self.providers[p] if p >= 0 else None for *_, p in paths]
        chosen = [(r, i) for (r, i, _, _), n in zip(paths, names, strict=True) if n == choice]
        best_key = min(chosen) if choice is not None and chosen else None
        out: list[dict] = []
        for (router, path_id, attrs, provider), name in zip(paths, names, strict=True):
            best = (router, path_id) == best_key
            out.append(
                {
                    "router": self.routers[router],
                    "path_id": path_id,
                    "provider": name,
                    "own": provider == -2,
                    "next_hop": attrs.next_hop,
                    "as_path": list(attrs.as_path),
                    "origin": attrs.origin,
                    "med": attrs.med,
                    "local_pref": attrs.local_pref,
                    "communities": list(attrs.communities),
                    "best": best,
                }
            )
        return out

    def learned_path(self, prefix: str, provider: str) -> tuple[int, ...] | None:
        """The AS path of ``provider``'s route for ``prefix``, or for the longest prefix
        that covers it; None when that provider has no such route."""
        try:
            k = self.providers.index(provider)
        except ValueError:
            return None
        index = self.table.prefix_index
        # A routed prefix as the RIB writes it (nearly every call: the diagnosis asks for
        # each measured prefix through each provider) is found without parsing it.
        row = index.get(prefix)
        if row is not None and (path := self.table.provider_as_path(row, k)) is not None:
            return path
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            return None
        for length in range(net.prefixlen, -1, -1):
            row = index.get(str(net.supernet(new_prefix=length)))
            if row is not None and (path := self.table.provider_as_path(row, k)) is not None:
                return path
        return None


def _next_hop(attributes: Attributes) -> str:
    if type(attributes) is EncodedAttributes:
        return decode(attributes).next_hop
    if not isinstance(attributes, PathAttributes):
        raise TypeError(f"not an attribute set: {type(attributes).__name__}")
    return attributes.next_hop


CHURN_OF_PEAK = 0.01
"""A path rate at most this share of the busiest second is churn, not a table arriving."""
QUIET_OF_ARRIVAL = 0.1
"""While a router's first table arrives, the quiet time is at least this share of how long
it has been arriving: a speaker busy with a big table stalls for seconds (ExaBGP with its
own Adj-RIB-In paused for more than 3 s at 117 s into a 168 s table), and such a stall is
not the table's end."""
QUIET_MAX_S = 30.0
"""The longest that share makes the quiet time."""


@dataclass
class Arrival:
    """How one router's table has been arriving since its session came up."""

    up_at: float = 0.0
    first_path_at: float | None = None
    """When the first path (or withdrawal) came; None while none has."""
    last_at: float = 0.0
    second: int = -1
    """The clock second the running count belongs to."""
    count: int = 0
    """Paths received in that second."""
    window: list[tuple[int, int]] = field(default_factory=list)
    """(second, paths) of the last few seconds with paths, oldest first."""
    peak: int = 0
    """The most paths received in one second since the session came up."""
    whole: bool = False
    """The table has counted as whole once since the session came up."""

    def paths(self, now: float, n: int) -> None:
        """Counts ``n`` paths announced or withdrawn at ``now``."""
        if self.first_path_at is None:
            self.first_path_at = now
        self.last_at = now
        second = int(now)
        if second != self.second:
            if self.count:
                self.window.append((self.second, self.count))
                del self.window[:-64]
            self.second, self.count = second, 0
        self.count += n
        self.peak = max(self.peak, self.count)

    def since(self, start: float) -> int:
        """Paths received from ``start`` on (whole seconds)."""
        total = self.count if self.second >= start else 0
        return total + sum(c for s, c in self.window if s >= start)


@dataclass(frozen=True)
class SyncRule:
    """When a router has sent its whole table.

    - End-of-RIB (RFC 4724 section 2) for every negotiated family: synced at once.
    - Routers that send none (FRR or GoBGP without graceful restart): once a path
      came, ``quiet`` seconds passed since the first one, and over the last
      ``quiet`` seconds the path rate fell to at most 1% of the busiest second
      since the session came up. A loading table runs at thousands of paths a
      second; the churn of a live one is a few percent of that, so a router
      whose table never stops churning is still found synced. Until the table has
      first counted as whole, ``quiet`` grows with how long it has been arriving
      (:data:`QUIET_OF_ARRIVAL`, at most :data:`QUIET_MAX_S`): a stall of a busy
      speaker in the middle of a big table is not its end.
    - A router that sent no path at all for ``first_path_wait`` seconds after
      its session came up has an empty table: synced, so that its providers'
      missing routes are reported. Until then, an empty table is not a table.
    """

    quiet: float
    first_path_wait: float
    families: frozenset[str]

    def holds(self, arrival: Arrival, end_of_rib: set[str], now: float) -> bool:
        if end_of_rib and (not self.families or self.families <= end_of_rib):
            return True
        if arrival.first_path_at is None:
            return now - arrival.up_at >= self.first_path_wait
        whole = self._quiet_rule(arrival, now)
        arrival.whole |= whole
        return whole

    def quiet_time(self, arrival: Arrival) -> float:
        """The quiet time for this arrival: ``quiet``, or while the first table is still
        arriving, longer for a table that has been arriving long."""
        if arrival.whole or arrival.first_path_at is None:
            return self.quiet
        span = arrival.last_at - arrival.first_path_at
        return max(self.quiet, min(QUIET_MAX_S, QUIET_OF_ARRIVAL * span))

    def _quiet_rule(self, arrival: Arrival, now: float) -> bool:
        assert arrival.first_path_at is not None
        quiet = self.quiet_time(arrival)
        if now - arrival.last_at >= quiet:
            return True  # nothing at all for the quiet time
        if now - arrival.first_path_at < quiet:
            return False  # too soon to tell a rate
        recent = arrival.since(int(now - quiet))
        return recent <= arrival.peak * quiet * CHURN_OF_PEAK


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
