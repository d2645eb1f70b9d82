"""The controller: flows, routes and probes in, decisions out, routes to the routers.

``run/wiring.py`` builds every stage from its own configuration section and
hands them to the controller as :class:`Stages`; the controller drives them
with asyncio. Tasks:

- the speaker's events feed the RIB and the injector (``run/routes.py``);
- every ``controller.cycle_s`` a decision round takes the stages' snapshots,
  runs the pure ``decide()``, journals the moves and hands the desired exits to
  the injector (unless paused);
- the flow collector's prefix table follows the routers' table.

Stopping withdraws every injected route (the injector's graceful shutdown);
dying does too, because the BGP session dies with us (fail open).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from routepilot.config.decide import PolicyConfig
from routepilot.config.maintenance import MaintenanceConfig
from routepilot.config.models import ProviderConfig
from routepilot.config.run import ControllerConfig
from routepilot.decide import DecisionInput, DecisionResult, DecisionState, decide
from routepilot.decide.policy import RoundPolicy, routes_origin
from routepilot.decide.reasons import Reason
from routepilot.flows.collector import FlowCollector
from routepilot.flows.pipeline import FlowPipeline
from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.ha.leader import ACTIVE, Leadership
from routepilot.inject.injector import DesiredRoute, Injector
from routepilot.log import get_logger
from routepilot.probe.interface import ProberInterface
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.rib.rib import Rib
from routepilot.rib.snapshot import RoutesSnapshot
from routepilot.rib.speaker.base import Speaker
from routepilot.run.bmp import BmpFeed
from routepilot.run.followup import FollowUp
from routepilot.run.journal import journal_entries
from routepilot.run.maintenance import MaintenanceBook
from routepilot.run.operator import Operator
from routepilot.run.routes import RoutesFeed
from routepilot.run.takeover import resumable
from routepilot.run.telemetry import TelemetryRunner
from routepilot.run.worker import WorkerThread
from routepilot.store import AsyncStore, ControllerState, Query, ThreadedSink
from routepilot.store.warm import last_minute

log = get_logger(__name__)

WARM_START_LOOKBACK_S = 3 * 60.0
"""Stored traffic older than this is too old to stand in for the flows at start."""
ARRIVING_ROUTES_S = 30.0
"""While a table arrives, a round reads the RIB's routes again only this often. No round
decides on them then, and on a full table arriving over BMP each read (the best paths
of every row changed since, the prefixes' names) was a quarter of a second of the
event loop in one turn every round, the API's slowest answers while learning (#18)."""


@dataclass
class CycleStats:
    count: int = 0
    """Rounds that decided."""
    last: float | None = None
    """When a round last decided."""
    began: float | None = None
    """When a round last began, deciding or not: paused, in the start-up grace, on a
    table still arriving or as a standby, rounds still run (snapshots, measurements) and
    decide nothing. Rounds have stalled when none begins."""
    duration_ms: float = 0.0
    errors: int = 0
    moves_total: int = 0


@dataclass
class Stages:
    """The components the controller drives, each built from its own configuration
    section by ``run/wiring.py`` (tests hand in fakes)."""

    speaker: Speaker
    rib: Rib
    injector: Injector
    pipeline: FlowPipeline
    store: AsyncStore
    sink: ThreadedSink
    """Where flows/ and probe/ write their rollups (the store, off the event loop)."""
    collector: FlowCollector | None = None
    """None: flow collection is disabled."""
    prober: ProberInterface | None = None
    """None: probing is disabled."""
    telemetry: TelemetryRunner | None = None
    """None: SNMP telemetry is disabled (link rates come from flows)."""
    maintenance: MaintenanceBook | None = None
    """None: no planned windows (windows on demand still work, kept in ``store``)."""
    leadership: Leadership | None = None
    """None: no HA, this instance is always the active."""
    resume_max_age_s: float = 120.0
    """HA: a takeover re-announces the saved improvements only when saved this recently."""

    bmp: BmpFeed | None = None
    """None: no router's paths come from BMP."""


class Controller:
    """routepilot's daemon loop; ``start()``/``stop()`` under asyncio."""

    def __init__(
        self,
        settings: ControllerConfig,
        policy: PolicyConfig,
        providers: Sequence[ProviderConfig],
        routers: Sequence[str],
        stages: Stages,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.providers = tuple(providers)
        self.routers = tuple(routers)
        self.clock = clock
        self.speaker = stages.speaker
        self.rib = stages.rib
        self.injector = stages.injector
        self.pipeline = stages.pipeline
        self.collector = stages.collector
        self.prober = stages.prober
        self.telemetry = stages.telemetry
        self.bmp = stages.bmp
        self.store = stages.store
        self.sink = stages.sink
        self.leadership = stages.leadership
        self.resume_max_age_s = stages.resume_max_age_s
        self.takeovers: list[dict[str, Any]] = []
        """HA: each takeover, newest last (when, routes re-announced, how long it took)."""
        self._inject_lock = asyncio.Lock()
        """Held around every change of the injector's desired set, so that a step-down's
        withdrawal never interleaves with a round's announcements."""
        if self.leadership is not None:
            self.leadership.on_active = self.take_over
            self.leadership.on_standby = self.step_down
            self.leadership.last_resort = self._drop_sessions
            self.leadership.speaker_pid = self._speaker_pid
        self.started = clock()
        self.provider_names = tuple(p.name for p in self.providers)
        self._provider_of_next_hop = {nh: p.name for p in self.providers for nh in p.next_hops}
        self.decision_state = DecisionState()
        self.last_result: DecisionResult | None = None
        self.last_inputs: tuple[TrafficSnapshot, RoutesSnapshot, MeasurementSnapshot] | None = None
        self.operator = Operator()
        self.cycle_stats = CycleStats()
        self.followup = FollowUp(self.store, self.providers, settings.remeasure_after_s)
        self.maintenance = stages.maintenance or MaintenanceBook(
            MaintenanceConfig(), self.provider_names, self.store, clock
        )
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        """Short tasks started from callbacks (state saves), kept until they end."""
        self._lock = asyncio.Lock()
        self._decider = WorkerThread("decide")
        """Where decide() runs, off the event loop."""
        self._arriving: tuple[float, RoutesSnapshot] | None = None
        """When the routes were last read while a table was arriving, and those routes."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._urgent = asyncio.Event()
        self.outage_wakeups = 0
        self._woken_for: set[tuple[str, str]] = set()
        self.shutdown_withdraw_failures = 0
        """Graceful shutdowns whose withdrawal failed (the routers drop the routes with
        the session anyway: fail open)."""
        self._warm_traffic: TrafficSnapshot | None = None
        self.moves_last_hour = 0
        """The journal's moves of the last hour, as the store last counted them (status)."""
        self._counting: asyncio.Task | None = None
        self._count_again = False
        self.routes = RoutesFeed(
            self.speaker,
            self.rib,
            self.injector,
            self.pipeline,
            self.routers,
            self.providers,
            self.bmp.bmp_only if self.bmp is not None else (),
        )
        self._round_policy: tuple[tuple[int, ...], RoundPolicy] | None = None
        self.as_incidents: Callable[[], Mapping[str, Mapping[str, int]]] | None = None
        """prefix -> {provider: AS}: the paths crossing an open AS incident's AS (diagnose/),
        set by run/wiring.py; None: none. Its prefixes are measured through every provider,
        and decide/ prefers the providers that avoid the AS."""

    def round_policy(self) -> RoundPolicy:
        """The policy rules and the inject allowlist as a round's input, compiled again
        only when the configuration in force (``self.policy``, the injector's) changes."""
        policy, inject = self.policy, self.injector.config
        key = (id(policy), id(inject), hash(tuple(inject.allowlist)))
        if self._round_policy is None or self._round_policy[0] != key:
            compiled = RoundPolicy.compile(policy.rules, inject.allowlist, policy.target_exclusions)
            self._round_policy = (key, compiled)
        return self._round_policy[1]

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.store.start()
        await self._restore()
        await self.maintenance.load()
        self.pipeline.restore_rates(await self.store.sampler_rates())
        self._warm_traffic = await self._traffic_from_store()
        self._count_moves()
        await self.injector.start()
        await self.speaker.start()
        if self.collector is not None:
            await self.collector.start()
        if self.prober is not None:
            await self.prober.start()
        if self.telemetry is not None:
            await self.telemetry.start()
        if self.leadership is not None:
            await self.leadership.start()
        if self.bmp is not None:
            await self.bmp.start()
        self._tasks = [
            asyncio.create_task(self.routes.follow(), name="speaker-events"),
            asyncio.create_task(self._cycle_loop(), name="decision-cycle"),
            asyncio.create_task(self._outage_watch(), name="outage-watch"),
        ]
        if self.bmp is not None:
            self._tasks.append(asyncio.create_task(self.bmp.follow(), name="bmp-events"))
        log.info(
            "routepilot started",
            routers=len(self.routers),
            providers=len(self.provider_names),
            dry_run=self.injector.dry_run,
            probing=self.prober is not None,
            telemetry=self.telemetry is not None,
        )

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        self._decider.close()  # a round cancelled above waited for its decide() to end
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.leadership is not None and not self.standby:
            # The improvements in force go to the shared state before they are withdrawn,
            # for the standby that takes over as soon as the lease is released below.
            await self._save()
        # Graceful shutdown: withdraw every injected route before the sessions close.
        # If that fails the routers still drop them with the session (fail open), but
        # the operator must know the shutdown was not clean.
        try:
            await self.injector.stop()
        except Exception as exc:
            self.shutdown_withdraw_failures += 1
            log.error(
                "withdraw at shutdown failed; the routes go with the bgp session",
                error=repr(exc),
                announced=len(self.injector.announced),
            )
        if self.leadership is not None:
            await self.leadership.stop()  # releases the lease: every route is withdrawn
        if self.telemetry is not None:
            await self.telemetry.stop()  # and the open billing period saved
        if self.prober is not None:
            await self.prober.stop()
        if self.collector is not None:
            await self.collector.stop()
        if self.bmp is not None:
            await self.bmp.stop()
        await self.speaker.stop()
        await self._save()
        await self.store.stop()
        log.info("routepilot stopped")

    # -- the decision round --------------------------------------------------------

    async def _cycle_loop(self) -> None:
        last_routes = 0.0
        while True:
            cfg = self.settings  # read each round: a reload may change the timing
            start = self.clock()
            if start - last_routes >= cfg.routes_refresh_s:
                await self.routes.refresh()
                self.routes.check_next_hops()  # FRR sends no End-of-RIB without graceful restart
                last_routes = start
            try:
                await self.cycle()
            except Exception as exc:
                self.cycle_stats.errors += 1
                log.error("decision round failed", error=repr(exc))
            self._count_moves()  # the hour slides, on a standby too (shared journal)
            elapsed = self.clock() - start
            # Sleep until the next round, or until the outage watch wakes us. Not
            # asyncio.wait_for: on Python 3.11 it swallows a cancellation that comes as
            # the event is set, and stop() then waited for a loop that went on (found by
            # the outage watch's unit test).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.05, cfg.cycle_s - elapsed)):
                    await self._urgent.wait()
            self._urgent.clear()

    async def _outage_watch(self) -> None:
        """The immediate path: a current exit that stops answering triggers a round now
        instead of at the next cycle (decide/ then moves it with no hold-down)."""
        while True:
            await asyncio.sleep(self.settings.outage_check_s)
            if self.prober is None or self.operator.paused:
                continue
            try:
                self._outage_check(await self.prober.failing_paths_async())
            except Exception as exc:
                log.error("outage watch failed", error=repr(exc))

    def _outage_check(self, failing: list[tuple[str, str]]) -> bool:
        """One look of the outage watch: wakes a round (True) when a current exit started
        failing since the last look. An exit that keeps failing wakes one round, not one
        every ``outage_check_s``: when that round cannot move it (no other provider has a
        route, a policy holds it) the next ones come at the cycle's pace, where a round of
        a full table back to back with the next would starve the loop (#18)."""
        exits = self._failing_exits(failing)
        self._woken_for &= exits  # one that recovers may wake a round again
        new = exits - self._woken_for
        if not new:
            return False
        self._woken_for |= new
        self.outage_wakeups += 1
        self._urgent.set()
        return True

    def _failing_exits(self, failing: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Those of these failing (prefix, provider) paths that are a prefix's current exit."""
        out: set[tuple[str, str]] = set()
        if not failing or self.last_inputs is None:
            return out
        routes = self.last_inputs[1]
        injected = self.injector.announced
        for prefix, provider in failing:
            route = injected.get(prefix)
            if route is not None:
                if self._provider_of_next_hop.get(route.next_hop) == provider:
                    out.add((prefix, provider))
                continue
            # The routes' index, not a dict of the whole table: this runs every
            # outage_check_s, and a full table's dict took longer than that (#18).
            i = int(routes.lookup().rows([prefix])[0])
            if (
                i >= 0
                and routes.bgp_best[i] >= 0
                and routes.providers[routes.bgp_best[i]] == provider
            ):
                out.add((prefix, provider))
        return out

    def injections(self) -> dict[str, str]:
        """What is announced now (would be, in dry-run), as prefix -> provider."""
        return {
            p: self._provider_of_next_hop.get(r.next_hop, "?")
            for p, r in self.injector.announced.items()
        }

    def _routes(self, now: float) -> RoutesSnapshot:
        """The RIB's routes with the state the tables are in now; while a table arrives,
        read again only every :data:`ARRIVING_ROUTES_S` (no round decides on them)."""
        state = self.routes.state()
        kept = self._arriving
        if state == "arriving" and kept is not None and now - kept[0] < ARRIVING_ROUTES_S:
            return kept[1]
        routes = replace(self.rib.snapshot(), state=state)
        self._arriving = (now, routes) if state == "arriving" else None
        return routes

    async def snapshots(
        self, now: float, injected: dict[str, str]
    ) -> tuple[TrafficSnapshot, RoutesSnapshot, MeasurementSnapshot]:
        """The round's inputs, with a turn of the event loop between the stages: on a full
        table they took a third of a second in one turn (#18's API p99)."""
        self.pipeline.process(now)
        traffic = self.pipeline.snapshot(now)
        await asyncio.sleep(0)
        if self._warm_traffic is not None:
            # Just restarted: the exporters' templates and the rates are not back, or
            # not whole yet (the first records hold some flows and not others, some
            # with the bytes of before a move). Until every flow has been reported,
            # the last stored minute says where the traffic goes. It is no whole view
            # of now: it splits each prefix between providers as the exits were before
            # the restart, and routepilot's routes died with its session since.
            if traffic.whole or now - self.started >= self.settings.warm_start_s:
                self._warm_traffic = None
                log.info("live traffic view whole; warm start over", prefixes=len(traffic.prefixes))
            else:
                traffic = replace(self._warm_traffic, time=now, whole=False)
        # The tables' state is read in the routes' own turn: the turns below let the
        # speaker's events in, and a table that becomes whole meanwhile must not make
        # routes read before it count as whole (a round deciding, or the alerts calling
        # out every provider missing from them).
        routes = self._routes(now)
        await asyncio.sleep(0)
        if self.telemetry is not None:
            self.telemetry.refresh()  # link rates and billing for decide/ and the view
        if self.prober is not None:
            self.prober.observe_destinations(self.pipeline.destinations.drain())
            policy = self.round_policy()
            vip = (
                policy.vip_prefixes(routes.prefixes, routes_origin(routes))
                if policy.has_vip
                else []
            )
            if self.as_incidents is not None:
                # Prefixes crossing an AS an open incident names: every provider's path.
                vip = [*vip, *self.as_incidents()]
            # Prefixes whose TCP SYNs went unanswered through a provider (flows): every
            # provider's path, probed first. Only measured: decide/ never sees a hint.
            hinted = self.pipeline.hints.prefixes(now)
            if hinted:
                vip = [*vip, *hinted]
            if vip:
                self.prober.update(traffic, routes, injected, vip=vip)
            else:
                self.prober.update(traffic, routes, injected)
            self.prober.hint(hinted, now)
            await asyncio.sleep(0)
            # Awaited: the worker process's snapshot is a round trip, not a turn held.
            meas = await self.prober.snapshot_async(now)
        else:
            meas = MeasurementSnapshot.empty(now, self.provider_names)
        return traffic, routes, meas

    async def cycle(self) -> DecisionResult | None:
        """One round: snapshots, decide, journal, inject. Returns the result (None if paused)."""
        async with self._lock:
            t0 = time.perf_counter()
            now = self.clock()
            self.cycle_stats.began = now
            injected = self.injections()
            traffic, routes, meas = await self.snapshots(now, injected)
            self.last_inputs = (traffic, routes, meas)
            if self.standby:
                # Learning, measuring, announcing nothing. The round is decided on the
                # active's shared state for the view (what the pair does now), and its
                # result is neither journaled, nor kept, nor announced.
                shared = await self._follow_shared_state()
                inp = DecisionInput(
                    now=now,
                    traffic=traffic,
                    routes=routes,
                    measurements=meas,
                    injections=shared,
                    pins=dict(self.operator.pins),
                    exclusions=frozenset(self.operator.exclusions),
                )
                self.last_result = await self._decider.run(
                    decide, inp, self.decision_state, self.policy, self.providers
                )
                return None
            if (
                self.operator.paused
                or now - self.started < self.settings.startup_grace_s
                # A third of a table looks like two thirds of the routes gone. Judged on
                # the routes as they were read, turns ago, not on the tables now.
                or routes.state != "synced"
            ):
                await self.followup.after_round(now, traffic, meas)
                return None
            tel = self.telemetry
            inp = DecisionInput(
                now=now,
                traffic=traffic,
                routes=routes,
                measurements=meas,
                injections=injected,
                pins=dict(self.operator.pins),
                exclusions=frozenset(self.operator.exclusions),
                policy=self.round_policy(),
                maintenance=self.maintenance.in_force(now),
                link_bps=tel.link_rates(traffic.provider_bps) if tel is not None else None,
                link_measured=tel.measured() if tel is not None else frozenset(),
                billing=tel.billing_inputs() if tel is not None else None,
                as_incidents=self.as_incidents() if self.as_incidents is not None else {},
            )
            # On a thread: a full table's round held the event loop for 0.2-0.4 s (#18).
            # Its inputs are snapshots the loop does not change meanwhile (see
            # docs/performance.md); the round holds the lock, so none overlaps it.
            state = self.decision_state
            result = await self._decider.run(decide, inp, state, self.policy, self.providers)
            if self.standby or self.decision_state is not state:
                # Stepped down, or took over another state, while it was decided: the
                # result follows from a state no longer in force and is dropped.
                return None
            if tel is not None:
                shift = {} if self.injector.dry_run else result.bgp_bps
                tel.record_shift(now, {p: result.projected_bps[p] - b for p, b in shift.items()})
            self.decision_state = result.state
            self.last_result = result
            moves = result.moves()
            await self._journal(moves, result, meas, now)
            # Busiest first, so that a route cap drops the least traffic.
            row = {p: i for i, p in enumerate(result.prefixes)}
            order = sorted(
                result.injections.items(),
                key=lambda kv: -result.traffic_bps[row[kv[0]]] if kv[0] in row else 0.0,
            )
            async with self._inject_lock:
                if self.standby:
                    return None  # stepped down during the round: announce nothing
                await self.injector.set_desired(
                    [self._desired(result, row, p, v) for p, v in order]
                )
            self.cycle_stats.count += 1
            self.cycle_stats.last = now
            self.cycle_stats.moves_total += len(moves)
            self.cycle_stats.duration_ms = (time.perf_counter() - t0) * 1000
            if moves:
                log.info(
                    "decision round",
                    moves=len(moves),
                    injected=len(result.injections),
                    ms=round(self.cycle_stats.duration_ms, 1),
                )
                await self._save()
            elif self.leadership is not None:
                await self._save()  # the shared state a standby takes over from
            await self.followup.after_round(now, traffic, meas)
            return result

    def _desired(
        self, result: DecisionResult, row: dict[str, int], prefix: str, provider: str
    ) -> DesiredRoute:
        """The route for one injection, with its reason (per-reason attributes) and, when
        announced with it, the provider's learned AS path."""
        # The reason of the improvement in force (a deferred move keeps the one it has).
        active = result.state.active.get(prefix)
        i = row.get(prefix)
        if active is not None:
            reason: str | None = Reason(active.reason).label
        else:
            reason = Reason(int(result.reason[i])).label if i is not None else None
        path: tuple[int, ...] = ()
        if self.injector.config.as_path == "learned":
            path = self.rib.learned_path(prefix, provider) or ()
        return DesiredRoute(prefix, provider, reason=reason, as_path=path)

    # -- journal, state, housekeeping ---------------------------------------------------

    async def _journal(
        self, moves: list, result: DecisionResult, meas: MeasurementSnapshot, now: float
    ) -> None:
        if not moves:
            return
        dry = self.injector.dry_run
        entries = journal_entries(moves, result, meas, dry_run=dry)
        for e in entries:
            log.info(
                "move",
                prefix=e.prefix,
                to=e.to_provider,
                from_=e.from_provider,
                reason=e.reason,
                dry_run=dry,
            )
        ids: list[int | None]
        try:
            ids = list(await self.store.append_decisions(entries))
        except Exception as exc:
            log.error("journal write failed", error=repr(exc))
            ids = [None] * len(entries)
        for entry, entry_id in zip(entries, ids, strict=False):
            if entry_id is not None and entry.to_provider:
                self.followup.moved(now, entry_id, entry.prefix, entry.to_provider)
        self._count_moves()

    def _count_moves(self) -> None:
        """Has the store count the last hour's moves again, off the round and off the
        status: status is read on the event loop, which waited for the store's worker
        there (up to 1 s behind the minute's writes while a full table arrived, #18).
        A count asked for while one runs runs again after it, so none misses a move."""
        if self._counting is not None and not self._counting.done():
            self._count_again = True
            return
        self._counting = self.spawn(self._count_moves_now())

    async def _count_moves_now(self) -> None:
        while True:
            self._count_again = False
            try:
                counts = await self.store.decision_counts(Query(since=self.clock() - 3600))
            except Exception as exc:
                # The last count stands; the store's own health is reported elsewhere.
                log.debug("moves not counted", error=repr(exc))
                return
            self.moves_last_hour = sum(counts.values())
            if not self._count_again:
                return

    async def _traffic_from_store(self) -> TrafficSnapshot | None:
        """The most recent stored minute of traffic per (prefix, provider), if recent."""
        try:
            rows = await self.store.traffic(Query(since=self.clock() - WARM_START_LOOKBACK_S))
        except Exception as exc:
            log.error("stored traffic unreadable; starting cold", error=repr(exc))
            return None
        snapshot = last_minute(rows, self.provider_names)
        if snapshot is not None:
            log.info(
                "warm start from stored traffic",
                prefixes=len(snapshot.prefixes),
                minute=snapshot.time,
            )
        return snapshot

    async def _save(self) -> None:
        if self.standby:
            return  # the active owns the shared state
        state = ControllerState(
            pins=dict(self.operator.pins),
            exclusions=frozenset(self.operator.exclusions),
            paused=self.operator.paused,
            dry_run=self.injector.dry_run,
            injections=self.injections(),
            decision=self.decision_state,
            saved_at=self.clock(),
        )
        try:
            await self.store.save_state(state)
        except Exception as exc:
            log.error("state save failed", error=repr(exc))

    async def _restore(self) -> None:
        try:
            saved = await self.store.load_state()
        except Exception as exc:
            log.error("state restore failed; starting clean", error=repr(exc))
            return
        self.operator = Operator.from_state(saved)
        if saved.dry_run is not None:
            # Nothing is announced yet at start, so switching costs nothing here.
            await self.injector.set_dry_run(saved.dry_run)
        # Hold-downs and counters survive a restart; announcements do not: the
        # routers dropped them with the session, and the first round decides anew.
        self.decision_state = saved.decision
        log.info(
            "state restored",
            pins=len(self.operator.pins),
            exclusions=len(self.operator.exclusions),
            paused=self.operator.paused,
            active=len(saved.decision.active),
        )

    # -- leadership (HA) -------------------------------------------------------------

    @property
    def standby(self) -> bool:
        """HA: this instance does not hold the lease, so it announces nothing."""
        return self.leadership is not None and self.leadership.role != ACTIVE

    async def take_over(self, reason: str) -> None:
        """Just became the active: the shared state (operator actions, decide/'s memory)
        becomes ours, and the improvements in force are announced at once."""
        t0 = time.perf_counter()
        try:
            saved = await self.store.load_state()
        except Exception as exc:
            log.error("shared state unreadable at takeover; deciding anew", error=repr(exc))
            saved = ControllerState()
        self._adopt(saved)
        if saved.dry_run is not None and saved.dry_run != self.injector.dry_run:
            await self.injector.set_dry_run(saved.dry_run)
        age = None if saved.saved_at is None else self.clock() - saved.saved_at
        desired = []
        if age is not None and age <= self.resume_max_age_s and not self.operator.paused:
            desired = resumable(saved.injections, self.rib.snapshot())
        async with self._inject_lock:
            if self.standby:
                return
            await self.injector.set_desired(desired)
        took: dict[str, Any] = {
            "time": self.clock(),
            "reason": reason,
            "saved": len(saved.injections),
            "announced": len(desired),
            "state_age_s": None if age is None else round(age, 3),
            "ms": round((time.perf_counter() - t0) * 1000, 1),
        }
        if self.telemetry is not None:
            took["billing_samples_adopted"] = await self.telemetry.take_over()
        self.takeovers.append(took)
        del self.takeovers[:-20]
        log.warning(
            "took over as active",
            announced=len(desired),
            saved=len(saved.injections),
            state_age_s=took["state_age_s"],
            ms=took["ms"],
        )
        self._urgent.set()  # re-check them in a round now

    async def step_down(self, reason: str) -> None:
        """Lost (or could not renew) the lease: withdraw every route at once. Does not
        wait for a round in progress, which may hang on the database."""
        async with self._inject_lock:
            count = len(self.injector.announced)
            await self.injector.set_desired([])
        log.warning("stepped down to standby; every route withdrawn", reason=reason,
                    withdrawn=count)  # fmt: skip

    def _drop_sessions(self) -> None:
        """HA's last resort, from the leadership's watchdog thread while the event loop is
        held up: kill the speaker's process so that its BGP sessions drop and the routers
        withdraw every route now (the speaker's supervisor starts it again, as a standby's).
        """
        pid = self._speaker_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            log.error("bgp sessions dropped: the speaker was killed", pid=pid)
        else:
            log.error("cannot drop the bgp sessions: the speaker has no process")

    def _speaker_pid(self) -> int | None:
        """The speaker's process, when it runs one (ExaBGP's, gobgpd's; a fake has none)."""
        pid = getattr(self.speaker, "pid", None)  # a property; a backend may lack it
        if callable(pid):
            pid = pid()
        return pid if isinstance(pid, int) and pid > 0 else None

    def _adopt(self, saved: ControllerState) -> None:
        self.operator = Operator.from_state(saved)
        self.decision_state = saved.decision

    async def _follow_shared_state(self) -> dict[str, str]:
        """A standby's round: the active's operator state and decide/'s memory, for the
        view; returns the improvements the active has in force."""
        try:
            saved = await self.store.load_state()
        except Exception as exc:
            log.debug("shared state unreadable", error=repr(exc))
            return {}
        self._adopt(saved)
        return dict(saved.injections)

    # -- operator actions ------------------------------------------------------------

    @property
    def warnings(self) -> list[str]:
        """Problems found at run time that the operator must fix (shown in status)."""
        return self.routes.warnings

    @property
    def warm_start_active(self) -> bool:
        """Is the traffic view still the stored minute rather than live flows?"""
        return self._warm_traffic is not None

    def pin(self, prefix: str, provider: str) -> None:
        """Routes ``prefix`` to ``provider`` from the next round on (never without a route)."""
        self.operator.pins[prefix] = provider
        self._save_soon()

    def unpin(self, prefix: str) -> None:
        self.operator.pins.pop(prefix, None)
        self._save_soon()

    def exclude(self, prefix: str) -> None:
        """Leaves ``prefix`` to BGP from the next round on."""
        self.operator.exclusions.add(prefix)
        self._save_soon()

    def include(self, prefix: str) -> None:
        self.operator.exclusions.discard(prefix)
        self._save_soon()

    def set_paused(self, paused: bool) -> None:
        """Paused: no round changes anything; what is announced stays."""
        self.operator.paused = paused
        self._save_soon()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Runs ``coro`` on the controller's loop (from that loop), keeping the task
        referenced until it ends; ``stop()`` waits for it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _save_soon(self) -> None:
        """Persists the operator's state on the controller's loop, from any thread."""
        if self._loop is not None:
            # The coroutine is made on the loop, so that none is left unawaited if the
            # loop is already closed.
            self._loop.call_soon_threadsafe(lambda: self.spawn(self._save()))

    async def reconfigure(
        self,
        *,
        policy: PolicyConfig | None = None,
        settings: ControllerConfig | None = None,
        providers: Sequence[ProviderConfig] | None = None,
        maintenance: MaintenanceConfig | None = None,
    ) -> None:
        """A reloaded configuration's sections, between two rounds: the next round
        decides with them. Nothing announced is touched here; what still holds stays."""
        async with self._lock:
            if policy is not None:
                self.policy = policy
            if settings is not None:
                self.settings = settings
            if providers is not None:
                # Same providers in the same order (a reload that adds or removes one is
                # refused): capacities, commits and costs change.
                self.providers = tuple(providers)
            if maintenance is not None:
                self.maintenance.configure(maintenance)

    async def set_dry_run(self, on: bool) -> None:
        """Dry-run on withdraws every injected route; off announces what is desired now."""
        async with self._lock:
            if on != self.injector.dry_run:
                await self.injector.set_dry_run(on)
                await self._save()
