"""The prober as a pipeline component: start()/stop(), inputs in, snapshot out.

Inputs: which prefixes matter and their current exit (:meth:`Prober.update`
from the traffic and routes snapshots, or :meth:`Prober.set_paths` directly),
and flow destinations to learn targets from (:meth:`Prober.observe_destinations`).
Output: :meth:`Prober.snapshot` for decide/, per-minute rollups to the sink,
counters in :attr:`Prober.metrics`.

The sender wakes every ``tick_s``, asks the scheduler what is due and sends
it; answers are read by event-loop callbacks on the sockets, which the kernel
has already stamped, so a busy loop delays the bookkeeping, not the timing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable

import numpy as np

from routepilot.config.models import ProviderConfig
from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.log import get_logger
from routepilot.probe import wire
from routepilot.probe._fastpath import Settler
from routepilot.probe.config import ProbeConfig
from routepilot.probe.confirm import Confirmations
from routepilot.probe.engine import KernelTransport, Probe, ProbeEngine, Transport
from routepilot.probe.metrics import ProbeMetrics
from routepilot.probe.qualify import SpreadRule
from routepilot.probe.rollup import MinuteAccumulator, ProbeRollup, RollupSink
from routepilot.probe.scheduler import Job, Scheduler, SchedulerSettings
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.probe.sockets import SocketOptions, Steering, family_of
from routepilot.probe.stats import PathStats, summarize_many
from routepilot.probe.targets import SPREAD_EVERY, TargetManager
from routepilot.rib.snapshot import RoutesSnapshot

log = get_logger(__name__)

BUSY_EXIT, EXIT, ALTERNATIVE = 0, 1, 2
_REPLY = wire.REPLY


def scheduler_settings(config: ProbeConfig) -> SchedulerSettings:
    """The scheduler's settings from the ``probe`` section, at start and at every reload."""
    return SchedulerSettings(
        max_rate=config.max_rate,
        max_burst=config.max_burst,
        per_target_rate=config.per_target_rate,
        per_target_burst=config.per_target_burst,
        train_size=config.train_size,
        train_spacing_s=config.train_spacing_s,
        jitter=config.jitter,
        class_weights=config.class_weights,
        intervals=(config.interval_s, config.exit_interval_s, config.alternative_interval_s),
        retry_factor=config.retry_factor,
        long_train_factor=config.retry_train_factor,
    )


def steering_of(provider: ProviderConfig) -> Steering:
    p = provider.probe
    return Steering(p.source, p.source6, p.mark, p.interface)


class Prober:
    """Measures every (prefix, provider) path it is given; see the module docstring."""

    def __init__(
        self,
        config: ProbeConfig,
        providers: list[ProviderConfig] | list[tuple[str, Steering]],
        *,
        sink: RollupSink | None = None,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        pairs = [p if isinstance(p, tuple) else (p.name, steering_of(p)) for p in providers]
        self.provider_names = tuple(name for name, _ in pairs)
        self.kinds = tuple(dict.fromkeys([config.kind, *config.fallback_kinds]))
        self.steerings = [s for _, s in pairs]
        self.sink = sink
        self.clock = clock
        self.metrics = ProbeMetrics()
        self.rng = rng or random.Random()
        opts = SocketOptions(config.tcp_port, config.udp_port, config.payload_bytes)
        self.transport = transport or KernelTransport(opts, self.rng)
        self.engine = ProbeEngine(
            self.transport,
            pairs,
            config.timeout_s,
            self.metrics,
            clock_ns=time.time_ns if clock is time.time else lambda: int(self.clock() * 1e9),
        )
        self.scheduler = Scheduler(
            scheduler_settings(config),
            clock(),
            self.rng,
        )
        self.targets = TargetManager(
            config.targets_per_prefix,
            allowed_ranges=config.allowed_ranges,
            fallback=config.targets,
            retry_s=config.retry_unprobeable_s,
            host_offsets=config.host_offsets,
            kinds=self.kinds,
            qualify=config.qualify,
            qualify_samples=config.qualify_samples,
            qualify_loss=config.qualify_loss,
            spread=SpreadRule(config.retry_spread_ms, config.retry_spread_ratio),
        )
        self.stats: dict[tuple[str, int], PathStats] = {}
        self.minutes = MinuteAccumulator(config.kind, config.rollup_s)
        self._tasks: list[asyncio.Task] = []
        self._warned_demand = 0.0
        self._failing: set[tuple[str, int]] = set()
        """Paths whose last ``outage_losses`` probes or more were all lost, kept as results
        arrive so that the daemon's outage watch costs nothing per path."""
        self._canon: dict[str, str] = {}
        self._loss_times: dict[tuple[str, int], deque[float]] = {}
        """Per path, when its last ``retry_losses`` lost probes were reported (retry probing)."""
        self._retry_until: dict[str, float] = {}
        """Prefixes under retry probing, and until when."""
        self._spread_until: dict[str, float] = {}
        """Prefixes under retry on a wide RTT spread (long trains), and until when."""
        self.confirming = Confirmations()
        self._vip: frozenset[str] = frozenset()
        self._settle = Settler(self, SPREAD_EVERY, _REPLY)
        """Every probe's ``done``: :meth:`_done`, its common reply settled in C."""

    def reconfigure(self, config: ProbeConfig) -> None:
        """A reloaded ``probe`` section: rates, intervals, how many prefixes and targets,
        from the next tick. Kinds, ports, timeout and the window need a restart."""
        self.config = config
        self.scheduler.reconfigure(scheduler_settings(config))
        self.targets.k = config.targets_per_prefix
        self.targets.set_retry_s(config.retry_unprobeable_s)
        self.targets.qualify, self.targets.qualify_loss = config.qualify, config.qualify_loss
        self.targets.spread = SpreadRule(config.retry_spread_ms, config.retry_spread_ratio)

    # --- inputs -----------------------------------------------------------------------------

    def set_paths(self, paths: Iterable[tuple[str, str, int]]) -> None:
        """The paths to measure: (prefix, provider name, class 0/1/2); others are dropped."""
        now = self.clock()
        index = {n: i for i, n in enumerate(self.provider_names)}
        wanted: dict[tuple[str, int], int] = {}
        for raw, provider, cls in paths:
            if provider not in index:
                raise KeyError(f"unknown provider {provider!r}")
            prefix = self._canonical(raw)
            p = index[provider]
            if not self._steerable(p, family_of(prefix.split("/")[0])):
                continue
            wanted[prefix, p] = min(cls, wanted.get((prefix, p), cls))
        self.targets.set_prefixes({prefix for prefix, _ in wanted})
        for key in list(self.scheduler.jobs):
            if key not in wanted:
                self.scheduler.remove_job(*key)
                self.targets.forget_path(*key)
                self.stats.pop(key, None)
                self._failing.discard(key)
                self._loss_times.pop(key, None)
        vip_s = self.config.vip_interval_s
        for (prefix, p), cls in wanted.items():
            interval = min(vip_s, self.scheduler.s.intervals[cls]) if prefix in self._vip else None
            job = self.scheduler.set_job(prefix, p, cls, now, interval)
            self.targets.add_path(prefix, p)
            if (prefix, p) not in self.stats:
                self.stats[prefix, p] = PathStats(self.config.window_s)
            job.stats = self.stats[prefix, p]
        demand = self.scheduler.demand()
        if demand > self.config.max_rate and demand > 1.2 * self._warned_demand:
            self._warned_demand = demand
            log.warning(
                "probe demand exceeds the rate cap; intervals stretch, busy exits first",
                demand_pps=round(demand),
                max_rate=self.config.max_rate,
            )

    def _canonical(self, prefix: str) -> str:
        """One spelling per prefix (``2001:db8:1001:0::/48`` is ``2001:db8:1001::/48``)."""
        c = self._canon.get(prefix)
        if c is None:
            c = str(ipaddress.ip_network(prefix, strict=False))
            if len(self._canon) > 1_000_000:
                self._canon.clear()
            self._canon[prefix] = c
        return c

    def _steerable(self, p: int, family: int) -> bool:
        """Whether probes of this family can be steered through provider ``p``."""
        s = self.steerings[p]
        return bool(s.source_for(family) or s.mark or s.interface or not (s.source or s.source6))

    def update(
        self,
        traffic: TrafficSnapshot,
        routes: RoutesSnapshot | None = None,
        exits: dict[str, str] | None = None,
        vip: Iterable[str] = (),
    ) -> None:
        """Derives the paths from the traffic and routes snapshots (see :func:`paths_from`);
        ``vip`` prefixes are measured through every provider with a route at
        ``vip_interval_s``, with or without traffic."""
        self.set_vip(vip)
        self.set_paths(paths_from(self.config, self.provider_names, traffic, routes, exits, vip))

    def set_vip(self, prefixes: Iterable[str]) -> None:
        """Prefixes measured at ``vip_interval_s`` from the next :meth:`set_paths` on (policy
        rules, incidents, flow hints), replacing the previous ones."""
        self._vip = frozenset(self._canonical(p) for p in prefixes)

    def hint(self, prefixes: dict[str, float], now: float) -> None:
        """Flow hints (prefix -> until): those prefixes' paths are probed first until then
        (see :meth:`Scheduler.hint`); what is measured and decided does not change."""
        self.scheduler.hint(prefixes, now)

    def observe_destinations(self, addresses: Iterable[str]) -> None:
        """Destination addresses seen in flows: candidates for targets in their prefix."""
        self.targets.observe(addresses)

    # --- the sender -------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> int:
        """Sends every probe due now (within the caps) and expires lost ones; returns sent."""
        now = self.clock() if now is None else now
        self.engine.expire(int(now * 1e9))
        targets = self.targets
        due = self.scheduler.due(now, lambda job: targets.pick(job.prefix, now))
        n = self.engine.send_many(
            [
                (job.provider, kind, address, (job, verifying, now, target))
                for job, address, verifying, kind, target in due
            ],
            self._settle,
        )
        self.metrics.rate_limited = self.scheduler.rate_limited
        self.metrics.politeness_deferred = self.scheduler.politeness_deferred
        return n

    def _done(self, probe: Probe, status: int, rtt_ns: int, responder: str, ttl: int) -> None:
        """A probe's result: its target's record, its path's statistics, the failing paths,
        retry probing and the minute's rollup. The common reply is settled in C by
        :attr:`_settle` instead (same effects, same order; see ``Settler`` in
        probe/_fastpath.c); this is every other result, and its definition."""
        job: Job
        job, verifying, sent_at, _target = probe.tag
        if job.removed:
            # The path is no longer measured: its late answer neither feeds nor judges the
            # prefix's targets (forget_path dropped this provider from them).
            return
        now = self.clock()
        answered = status == _REPLY
        rtt_ms = rtt_ns / 1e6 if answered else math.nan
        prefix, provider = job.prefix, job.provider
        wide = self.targets.result(
            prefix, probe.target, answered, verifying, now, probe.kind, provider, rtt_ms
        )
        stats = job.stats
        if verifying or stats is None:
            return
        run = stats.add(sent_at, rtt_ms, now)  # the path's losses in a row
        # Runs once per probe: the sets and confirmations are only touched when they can change.
        failing = self._failing
        if run >= self.config.outage_losses:
            failing.add((prefix, provider))
        elif failing:
            failing.discard((prefix, provider))
        if not answered and self.config.retry_losses:
            self._lost_on((prefix, provider), now)
        elif wide:
            self._spread_on(prefix, now)
        if self.confirming.open:
            self.confirming.result(prefix, provider, sent_at)
        self.minutes.add(now, prefix, self.provider_names[provider], rtt_ms)

    def _lost_on(self, key: tuple[str, int], now: float) -> None:
        """Retry probing: ``retry_losses`` losses on a path within ``retry_hold_s`` boost every
        path of its prefix (see :class:`ProbeConfig`); a further loss extends the boost."""
        cfg = self.config
        times = self._loss_times.get(key)
        if times is None:
            times = self._loss_times[key] = deque(maxlen=cfg.retry_losses)
        times.append(now)
        if len(times) < cfg.retry_losses or now - times[0] > cfg.retry_hold_s:
            return
        self._boost(key[0], now)

    def _spread_on(self, prefix: str, now: float) -> None:
        """Retry on spread: a wide RTT spread on one target boosts every path of its prefix
        (as a loss does) with trains ``retry_train_factor`` times as long, and opens its
        confirmation (probe/confirm.py) unless it was under retry on spread already."""
        first = self._spread_until.get(prefix, 0.0) <= now
        jobs = self._boost(prefix, now)
        if not jobs:
            return
        until = self._spread_until[prefix] = self._retry_until[prefix]
        for job in jobs:
            self.scheduler.lengthen(job, until, now)
        if first:
            if len(self._spread_until) > 2 * self.config.retry_max_prefixes:
                for stale in [k for k, t in self._spread_until.items() if t <= now]:
                    del self._spread_until[stale]
            self.metrics.spread_retries += 1
            need = self.scheduler.train_size(jobs[0], now)
            self.confirming.start(prefix, [j.provider for j in jobs], now, until, need)

    def _boost(self, prefix: str, now: float) -> list[Job]:
        """Retry probing of every path of ``prefix`` for ``retry_hold_s`` from now; returns
        those paths, none when ``retry_max_prefixes`` are under it already."""
        cfg = self.config
        active = self._retry_until
        if prefix not in active or active[prefix] <= now:
            if len(active) >= cfg.retry_max_prefixes:
                for stale in [k for k, until in active.items() if until <= now]:
                    del active[stale]
                if len(active) >= cfg.retry_max_prefixes:
                    self.metrics.retries_skipped += 1
                    return []
            self.metrics.retries += 1
        until = active[prefix] = now + cfg.retry_hold_s
        all_jobs = self.scheduler.jobs
        jobs = [j for p in range(len(self.provider_names)) if (j := all_jobs.get((prefix, p)))]
        for job in jobs:
            self.scheduler.boost(job, until, now)
        return jobs

    def retrying(self, now: float | None = None) -> list[str]:
        """Prefixes under retry probing now."""
        now = self.clock() if now is None else now
        return sorted(p for p, until in self._retry_until.items() if until > now)

    # --- outputs ----------------------------------------------------------------------------

    def failing_paths(self) -> list[tuple[str, str]]:
        """(prefix, provider) paths in an outage's run of losses now; cheap, for a watch that
        runs far more often than snapshots are taken."""
        return [(prefix, self.provider_names[p]) for prefix, p in self._failing]

    def snapshot(self, now: float | None = None) -> MeasurementSnapshot:
        now = self.clock() if now is None else now
        prefixes = tuple(sorted({prefix for prefix, _ in self.stats}))
        providers = self.provider_names
        shape = (len(prefixes), len(providers))
        nan = lambda: np.full(shape, np.nan)  # noqa: E731
        med, p90, mn, jit, loss, low, high, last = (nan() for _ in range(8))
        samples = np.zeros(shape, dtype=np.int64)
        consec = np.zeros(shape, dtype=np.int64)
        row = {p: i for i, p in enumerate(prefixes)}
        down = np.zeros(len(providers), dtype=np.int64)
        measured = np.zeros(len(providers), dtype=np.int64)
        keys = list(self.stats)
        paths = [self.stats[k] for k in keys]
        if keys:
            rows = np.fromiter((row[prefix] for prefix, _ in keys), dtype=np.int64, count=len(keys))
            cols = np.fromiter((k for _, k in keys), dtype=np.int64, count=len(keys))
            many = summarize_many(paths, now)
            for name, arr in (
                ("rtt_median_ms", med), ("rtt_p90_ms", p90), ("rtt_min_ms", mn),
                ("jitter_ms", jit), ("loss", loss), ("loss_low", low), ("loss_high", high),
            ):  # fmt: skip
                arr[rows, cols] = many[name]
            samples[rows, cols] = many["samples"]
            for (_, k), r, st in zip(keys, rows, paths, strict=True):
                consec[r, k] = st.consecutive_losses
                last[r, k] = st.last_answer
                if st.sent_total:
                    measured[k] += 1
                    down[k] += st.consecutive_losses >= self.config.outage_losses
        healthy = {
            name: bool(measured[k] == 0 or down[k] * 2 < measured[k])
            for k, name in enumerate(providers)
        }
        return MeasurementSnapshot(
            time=now,
            prefixes=prefixes,
            providers=providers,
            rtt_median_ms=med,
            rtt_p90_ms=p90,
            rtt_min_ms=mn,
            jitter_ms=jit,
            loss=loss,
            loss_low=low,
            loss_high=high,
            samples=samples,
            consecutive_losses=consec,
            last_answer=last,
            unprobeable=self.targets.unprobeable(),
            provider_healthy=healthy,
            outage_losses=self.config.outage_losses,
            targets={p: tuple(self.targets.active(p)) for p in prefixes},
            confirming=self.confirming.pending(now, self.scheduler.jobs),
        )

    async def snapshot_async(self, now: float | None = None) -> MeasurementSnapshot:
        """:meth:`snapshot`, awaited: the worker process's takes a round trip."""
        return self.snapshot(now)

    async def failing_paths_async(self) -> list[tuple[str, str]]:
        """:meth:`failing_paths`, awaited: the worker process's takes a round trip."""
        return self.failing_paths()

    def metrics_dict(self) -> dict:
        self.metrics.retrying = len(self.retrying())
        return self.metrics.as_dict()

    def refresh_metrics(self) -> ProbeMetrics:
        self.metrics.retrying = len(self.retrying())
        return self.metrics

    def recent_rtts(self) -> dict[tuple[str, str], list[float]]:
        """Every RTT (ms, NaN when lost) in the window, per (prefix, provider): for benchmarks."""
        return {
            (prefix, self.provider_names[k]): list(st.rtts)
            for (prefix, k), st in self.stats.items()
        }

    def roll_minutes(self, now: float | None = None) -> int:
        """Hands finished minutes to the sink; returns the rows written."""
        now = self.clock() if now is None else now
        jitter = self._jitter() if self.minutes.turns(now) else {}
        return self._write_rollups(self.minutes.roll(now, jitter))

    def minute_so_far(self, prefix: str | None = None) -> list[ProbeRollup]:
        """The rows of the minute in progress, not yet handed to the sink; one prefix's
        only when given (an API chart of one prefix summarises its paths alone)."""
        return self.minutes.peek(self._jitter(), prefix)

    def flush_minutes(self, now: float | None = None) -> int:
        """Hands every minute to the sink, the current one too (at stop); returns the rows."""
        now = self.clock() if now is None else now
        return self._write_rollups(self.minutes.flush(int(now // 60) * 60, self._jitter()))

    def _jitter(self) -> dict[tuple[str, str], float]:
        return {
            (prefix, self.provider_names[k]): st.jitter for (prefix, k), st in self.stats.items()
        }

    def _write_rollups(self, rows: list[ProbeRollup]) -> int:
        if not rows or self.sink is None:
            return 0
        try:
            self.sink.write_probe_rollups(rows)
        except Exception as exc:  # The sink is another stage's code: never let it kill probing.
            self.metrics.rollup_errors += 1
            log.error("probe rollup write failed", rows=len(rows), error=str(exc))
            return 0
        self.metrics.rollups_written += len(rows)
        return len(rows)

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Opens every socket (so a setup error surfaces here) and starts sending.

        With ``enabled: false`` nothing is opened or sent: routepilot probes nothing
        until configured to."""
        if self._tasks:
            return
        if not self.config.enabled:
            log.info("probing disabled (probe.enabled is false)")
            return
        self.engine.loop = asyncio.get_running_loop()
        for p in range(len(self.provider_names)):
            for fam in (family_of("0.0.0.0"), family_of("::")):
                if self._steerable(p, fam):
                    for kind in self.kinds:
                        self.engine.socket_for(p, kind, fam)
        self.minutes.roll(self.clock(), {})
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="probe-send"),
            asyncio.create_task(self._minute_loop(), name="probe-rollup"),
        ]
        log.info(
            "prober started",
            providers=len(self.provider_names),
            kind=self.config.kind,
            max_rate=self.config.max_rate,
        )

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
        self._tasks = []
        self.engine.drain_all()
        self.flush_minutes()
        self.engine.close()
        self.engine.loop = None
        log.info("prober stopped", sent=self.metrics.total("sent"))

    async def _send_loop(self) -> None:
        tick = self.config.tick_s
        while True:
            try:
                self.tick()
            except Exception:  # A bug must cost one tick, not the prober.
                log.error("probe tick failed", exc_info=True)
                await asyncio.sleep(1.0)
            await asyncio.sleep(self._idle(tick))

    def _idle(self, tick: float) -> float:
        """How long the sender may sleep: until the next job or deadline, at least one tick,
        at most 50 ms (so new paths start promptly), instead of waking every tick for nothing."""
        now = self.clock()
        wake = now + 0.05
        due = self.scheduler.next_due()
        if due is not None:
            wake = min(wake, due)
        deadline = self.engine.next_deadline_ns()
        if deadline is not None:
            wake = min(wake, deadline / 1e9)
        return max(tick, wake - now)

    async def _minute_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.roll_minutes()
            self.metrics.targets_verified = self.targets.verified
            self.metrics.targets_replaced = self.targets.replaced
            self.metrics.targets_disqualified = dict(self.targets.disqualified)
            self.metrics.out_of_scope = self.targets.out_of_scope


def paths_from(
    config: ProbeConfig,
    names: tuple[str, ...],
    traffic: TrafficSnapshot,
    routes: RoutesSnapshot | None = None,
    exits: dict[str, str] | None = None,
    vip: Iterable[str] = (),
) -> list[tuple[str, str, int]]:
    """The paths to measure for the busiest prefixes: their exit, and every provider with a route.

    ``exits`` (prefix → provider) overrides the current exit (routepilot's own choice);
    otherwise it is BGP's best path, or where most of the traffic leaves. The exits of the
    ``busy_prefixes`` busiest prefixes get class 0, other exits class 1, alternatives class 2.
    ``vip`` prefixes (policy rules) and the routed prefixes that contain a configured
    target (``config.targets``) are measured too, with or without traffic: through every
    provider with a route, VIP paths in class 0.
    """
    rindex = {n: i for i, n in enumerate(routes.providers)} if routes else {}
    totals = traffic.total_bps() if traffic.prefixes else np.zeros(0)
    order = np.argsort(-totals, kind="stable")[: config.max_prefixes].tolist()
    # Only the busiest prefixes are looked up: the routes' index is kept across rounds,
    # where a dict of the whole table cost a second a round on a full table.
    busiest = [traffic.prefixes[i] for i in order]
    found = routes.lookup().rows(busiest).tolist() if routes is not None else [-1] * len(order)
    paths = []
    for rank, i in enumerate(order):
        prefix = busiest[rank]
        exit_name = (exits or {}).get(prefix)
        r = found[rank] if found[rank] >= 0 else None
        if exit_name is None and routes is not None and r is not None and routes.bgp_best[r] >= 0:
            exit_name = routes.providers[routes.bgp_best[r]]
        if exit_name is None and traffic.bps.shape[1]:
            exit_name = traffic.providers[int(np.argmax(traffic.bps[i]))]
        for name in names:
            if (
                routes is not None
                and r is not None
                and name in rindex
                and not routes.has_route[r, rindex[name]]
            ):
                continue
            if name == exit_name:
                cls = BUSY_EXIT if rank < config.busy_prefixes else EXIT
            else:
                cls = ALTERNATIVE
            paths.append((prefix, name, cls))
    if routes is not None and (vip or config.targets):
        paths += _untrafficked(config, names, traffic, routes, exits or {}, vip)
    return paths


def _untrafficked(
    config: ProbeConfig,
    names: tuple[str, ...],
    traffic: TrafficSnapshot,
    routes: RoutesSnapshot,
    exits: dict[str, str],
    vip: Iterable[str],
) -> list[tuple[str, str, int]]:
    """Paths of VIP prefixes and of the routed prefixes that hold a configured target."""
    seen = set(traffic.prefixes)
    index = routes.lookup()
    vip_set = set(vip)
    vips = list(vip_set)
    rows = dict(zip(vips, index.rows(vips).tolist(), strict=True))
    wanted = [p for p in vips if rows[p] >= 0]
    for t in config.targets:
        # The longest routed prefix that holds the target: a few lookups, not a scan.
        host = ipaddress.ip_network(t)
        supernets = [str(host.supernet(new_prefix=n)) for n in range(host.prefixlen, -1, -1)]
        found = index.rows(supernets).tolist()
        hits = [(p, r) for p, r in zip(supernets, found, strict=True) if r >= 0]
        if hits:
            wanted.append(hits[0][0])
            rows[hits[0][0]] = hits[0][1]
    paths = []
    for prefix in dict.fromkeys(wanted):
        r = rows[prefix]
        best = int(routes.bgp_best[r])
        exit_name = exits.get(prefix) or (routes.providers[best] if best >= 0 else None)
        for k, name in enumerate(routes.providers):
            if name not in names or not routes.has_route[r, k]:
                continue
            if prefix in vip_set:
                cls = BUSY_EXIT
            elif prefix in seen:
                continue  # measured already, with its traffic
            else:
                cls = EXIT if name == exit_name else ALTERNATIVE
            paths.append((prefix, name, cls))
    return paths
