"""The daemon's wiring with in-memory collaborators (tests/lab runs the real thing)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

import numpy as np
import pytest
from tests.samples import parse

from routepilot.alerts.manager import Alert, AlertManager
from routepilot.api.view import ActionError
from routepilot.config import Config, load_text
from routepilot.config.alerts import AlertsConfig
from routepilot.explain import summary
from routepilot.flows.aggregate import BatchKeys
from routepilot.flows.config import SynHintsConfig
from routepilot.flows.destinations import DestinationSampler
from routepilot.flows.metrics import FlowMetrics
from routepilot.flows.records import FlowBatch
from routepilot.flows.snapshot import SamplerRate, TrafficRow, TrafficSnapshot
from routepilot.flows.synhints import SynHints
from routepilot.inject.fake import FakeInjector
from routepilot.probe.metrics import ProbeMetrics
from routepilot.probe.scheduler import Scheduler, SchedulerSettings
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.rib.speaker.base import EndOfRib, Nlri, PathAttributes
from routepilot.rib.speaker.fake import FakeSpeaker
from routepilot.run import controller as controller_module
from routepilot.run.controller import Controller
from routepilot.run.view import DaemonView
from routepilot.run.wiring import build_controller, build_stages
from routepilot.store import AsyncStore, MemoryStore, Query, SqliteStore, StoreConfig

CONFIG = """
routers: [{name: edge, address: 100.66.1.1, asn: 65000}]
providers:
  - {name: isp1, asn: 65001, next_hops: [100.64.1.2], capacity_mbps: 100}
  - {name: isp2, asn: 65002, next_hops: [100.64.2.2], capacity_mbps: 100}
  - {name: isp3, asn: 65003, next_hops: [100.64.3.2], capacity_mbps: 100}
flows: {enabled: false}
inject: {dry_run: false}
api: {write_token: "s3cret-write-token"}
policy: {latency_rounds: 1, hold_down_s: 0}
controller: {cycle_s: 0.05, startup_grace_s: 0}
"""
PREFIXES = ("198.18.0.0/24", "198.18.1.0/24")
PROVIDERS = ("isp1", "isp2", "isp3")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class StubPipeline:
    """Traffic without datagrams: decide/ gets a fixed snapshot."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.metrics = FlowMetrics()
        self.destinations = DestinationSampler()
        self.hints = SynHints(SynHintsConfig(), PROVIDERS, self.metrics)
        self.routes: tuple[str, ...] = ()
        self.restored: list[SamplerRate] = []
        self.is_whole = True
        """Has every flow been reported since the first record (flows.active_timeout_s)?"""

    def process(self, now: float) -> int:
        return 0

    def restore_rates(self, rows: list[SamplerRate]) -> None:
        self.restored = list(rows)

    def set_routes(self, prefixes) -> None:  # type: ignore[no-untyped-def]
        self.routes = prefixes

    def snapshot(self, now: float) -> TrafficSnapshot:
        bps = np.array([[5e6, 0, 0], [1e6, 0, 0]])
        return TrafficSnapshot(
            now,
            10.0,
            PREFIXES,
            PROVIDERS,
            bps,
            bps / 1000,
            provider_bps={"isp1": 6e6, "isp2": 0.0, "isp3": 0.0},
            whole=self.is_whole,
        )


class StubProber:
    """Measurements chosen by the test: ``rtt[prefix][provider]``."""

    def __init__(self) -> None:
        self.rtt = {p: {"isp1": 10.0, "isp2": 11.0, "isp3": 12.0} for p in PREFIXES}
        self.jitter = {p: {"isp1": 0.5, "isp2": 0.5, "isp3": 0.5} for p in PREFIXES}
        self.started = False
        self.metrics = ProbeMetrics()
        self.failing: list[tuple[str, str]] = []
        self.scheduler = Scheduler(SchedulerSettings(), 0.0)
        self.vip: list[str] = []
        self.confirming: frozenset[str] = frozenset()

    def failing_paths(self) -> list[tuple[str, str]]:
        return self.failing

    async def failing_paths_async(self) -> list[tuple[str, str]]:
        return self.failing

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    def update(self, traffic, routes, exits, vip=()) -> None:  # type: ignore[no-untyped-def]
        self.vip = list(vip)

    def hint(self, prefixes: dict[str, float], now: float) -> None:
        self.scheduler.hint(prefixes, now)

    def observe_destinations(self, addresses) -> int:  # type: ignore[no-untyped-def]
        self.observed = list(addresses)
        return len(self.observed)

    async def snapshot_async(self, now: float) -> MeasurementSnapshot:
        return self.snapshot(now)

    def snapshot(self, now: float) -> MeasurementSnapshot:
        rtt = np.array([[self.rtt[p][k] for k in PROVIDERS] for p in PREFIXES])
        jitter = np.array([[self.jitter[p][k] for k in PROVIDERS] for p in PREFIXES])
        zero = np.zeros_like(rtt)
        n = np.full(rtt.shape, 100, dtype=np.int64)
        return MeasurementSnapshot(
            now,
            PREFIXES,
            PROVIDERS,
            rtt,
            rtt,
            rtt,
            jitter,
            zero,
            zero,
            zero + 0.03,
            n,
            np.zeros(rtt.shape, dtype=np.int64),
            np.full(rtt.shape, now),
            confirming=self.confirming,
        )


CONFIGURED = load_text(CONFIG, Config)


def make(tmp_path: Path | None = None, clock: Clock | None = None, config: Config = CONFIGURED):  # type: ignore[no-untyped-def]
    clock = clock or Clock()
    speaker = FakeSpeaker(["edge"])
    store = (
        MemoryStore()
        if tmp_path is None
        else SqliteStore.open(StoreConfig(path=str(tmp_path / "rp.db")))
    )
    prober = StubProber()
    stages = build_stages(
        config,
        store=AsyncStore(store),
        speaker=speaker,
        prober_factory=lambda sink: prober,
        clock=clock,
    )
    stages.pipeline = StubPipeline(clock)
    c = build_controller(config, stages, clock=clock)
    return c, speaker, prober, clock


def view(c: Controller) -> DaemonView:
    """The API's view of ``c``, as run/wiring.py builds it."""
    return DaemonView(c, asyncio.get_running_loop(), CONFIGURED.model_dump(mode="json"))


async def until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Waits for ``condition()`` to hold, failing the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"condition not met within {timeout} s"
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def started(tmp_path: Path | None = None, config: Config = CONFIGURED):  # type: ignore[no-untyped-def]
    """A started controller (with its fake speaker, stub prober and clock), stopped after."""
    c, speaker, prober, clock = make(tmp_path, config=config)
    await c.start()
    try:
        yield c, speaker, prober, clock
    finally:
        await c.stop()


async def _routers_up(c: Controller, speaker: FakeSpeaker) -> None:
    speaker.session("edge", True)
    for i, nh in enumerate(("100.64.1.2", "100.64.2.2", "100.64.3.2"), start=1):
        # Add-path: one path id per provider, as the router sends them.
        speaker.learn(
            "edge",
            PathAttributes(nh, as_path=(65000 + i,) * i, local_pref=100),
            [Nlri(p, i) for p in PREFIXES],
        )
    # One End-of-RIB per negotiated family, as a router sends them.
    speaker.end_of_rib("edge", "ipv4 unicast")
    speaker.end_of_rib("edge", "ipv6 unicast")
    await until(lambda: c.rib.synced("edge"))


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_latency_move_is_announced_with_safe_attributes() -> None:
    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            await c.cycle()
            assert speaker.rib_out["edge"] == {}  # BGP's choice is best: nothing injected
            prober.rtt["198.18.0.0/24"]["isp1"] = 60.0  # the default gets slow
            clock.now += 1
            await c.cycle()
            route = speaker.rib_out["edge"]["198.18.0.0/24"]
            assert route.next_hop == "100.64.2.2"
            assert route.local_pref == CONFIGURED.inject.local_preference
            assert set(route.communities) >= {"no-export", "no-advertise"}
            assert "198.18.1.0/24" not in speaker.rib_out["edge"]
            v = view(c)
            moves = v.decisions()
            assert moves[0]["prefix"] == "198.18.0.0/24" and moves[0]["reason"] == "latency"
            assert v.prefix("198.18.0.0/24")["exit"] == "isp2"
        assert speaker.rib_out["edge"] == {}  # graceful stop withdraws everything

    run(body())


def test_an_open_as_incident_moves_a_prefix_off_the_provider_crossing_it() -> None:
    """The diagnosis's map (run/wiring.py hands ``Diagnosis.crossing`` over) reaches
    decide/: the prefix leaves isp1, whose path crosses the incident's AS, measured well
    or not, and the live explanation names the AS."""

    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            await c.cycle()
            assert speaker.rib_out["edge"] == {}
            open_incident = {"198.18.0.0/24": {"isp1": 64601, "isp2": 64601}}
            c.as_incidents = lambda: open_incident
            clock.now += 1
            await c.cycle()
            route = speaker.rib_out["edge"]["198.18.0.0/24"]
            assert route.next_hop == "100.64.3.2"  # isp3: its path avoids AS64601
            assert "198.18.1.0/24" not in speaker.rib_out["edge"]
            v = view(c)
            assert v.decisions()[0]["reason"] == "as_incident"
            explanation = v.prefix("198.18.0.0/24")["explanation"]
            assert explanation["incident_asn"] == 64601

    run(body())


def syn_attempts(c: Controller, prefix_row: int, provider_slot: int, n: int) -> None:
    """``n`` unanswered TCP SYNs from ``n`` sources to a prefix through a provider, as the
    flow pipeline hands them to its hint counter."""
    batch = FlowBatch.empty(n)
    batch.family[:], batch.proto[:], batch.tcp_flags[:], batch.sampling[:] = 4, 6, 0x02, 1
    batch.src[:] = np.arange(n)
    codes = np.full(n, prefix_row, dtype=np.uint64)
    slots = np.full(n, provider_slot, dtype=np.int64)
    keys = BatchKeys(codes, slots)
    c.pipeline.hints.add(batch, keys, slots, c.clock(), lambda code: PREFIXES[code])


def test_a_syn_hint_is_measured_everywhere_first_and_moves_nothing() -> None:
    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            await c.cycle()
            syn_attempts(c, 1, 0, 40)  # 198.18.1.0/24 through isp1, its default
            clock.now += 1
            result = await c.cycle()
            assert prober.vip == ["198.18.1.0/24"]
            assert prober.scheduler.hinted == {"198.18.1.0/24": clock.now - 1 + 300}
            assert result is not None and result.moves() == []
            assert speaker.rib_out["edge"] == {}
            v = view(c)
            assert v.decisions() == []
            (hint,) = v.prefix("198.18.1.0/24")["syn_hints"]
            assert (hint["provider"], hint["unanswered"], hint["sources"]) == ("isp1", 40, 3)

    run(body())


def test_a_confirming_prefix_says_so_and_moves_once_its_long_trains_are_back() -> None:
    """The engineer's question "why has it not moved yet?" has its answer on the prefix."""

    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            await c.cycle()
            v = view(c)
            assert v.prefix("198.18.0.0/24")["confirming"] is False
            prober.confirming = frozenset({"198.18.0.0/24"})
            prober.rtt["198.18.0.0/24"]["isp1"] = 60.0  # slow, but being re-measured
            clock.now += 1
            await c.cycle()
            assert speaker.rib_out["edge"] == {}
            assert v.prefix("198.18.0.0/24")["confirming"] is True
            assert v.prefix("198.18.1.0/24")["confirming"] is False
            prober.confirming = frozenset()
            clock.now += 1
            await c.cycle()
            assert speaker.rib_out["edge"]["198.18.0.0/24"].next_hop == "100.64.2.2"
            assert v.prefix("198.18.0.0/24")["confirming"] is False

    run(body())


VOICE = load_text(
    CONFIG.replace(
        "policy: {latency_rounds: 1, hold_down_s: 0}",
        "policy: {latency_rounds: 1, hold_down_s: 0, rules: [{name: voice, "
        "prefix: 198.18.1.0/24, action: vip, jitter_threshold_ms: 5}]}",
    ),
    Config,
)
"""CONFIG with a jitter rule on the second prefix (docs/policy.md)."""


def test_the_journal_keeps_the_incident_as_and_the_jitter_and_says_them(
    tmp_path: Path,
) -> None:
    """An as_incident move and a jitter move, journaled in SQLite and read back through the
    view (as GET /api/v1/decisions does): the AS and the jitter of both paths are in the
    entries, and the sentences say them as the live explanation does."""

    async def body() -> None:
        async with started(tmp_path, VOICE) as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            await c.cycle()
            assert speaker.rib_out["edge"] == {}
            c.as_incidents = lambda: {"198.18.0.0/24": {"isp1": 64601, "isp2": 64601}}
            prober.jitter["198.18.1.0/24"]["isp1"] = 12.5  # the voice prefix's default
            prober.jitter["198.18.1.0/24"]["isp2"] = 0.75
            clock.now += 1
            await c.cycle()
            routes = speaker.rib_out["edge"]
            assert routes["198.18.0.0/24"].next_hop == "100.64.3.2"  # avoids AS64601
            assert routes["198.18.1.0/24"].next_hop == "100.64.2.2"  # 11.75 ms smoother
            v = view(c)
            await until(lambda: len(v.decisions()) == 2)
            moves = {d["prefix"]: d for d in v.decisions()}
            incident, jitter = moves["198.18.0.0/24"], moves["198.18.1.0/24"]
            assert (incident["reason"], incident["incident_asn"]) == ("as_incident", 64601)
            assert (jitter["reason"], jitter["incident_asn"]) == ("jitter", None)
            assert (jitter["old_jitter_ms"], jitter["new_jitter_ms"]) == (12.5, 0.75)
            # Every move keeps the jitter its paths measured, as it keeps RTT and loss.
            assert (incident["old_jitter_ms"], incident["new_jitter_ms"]) == (0.5, 0.5)
            assert summary(incident).startswith(
                "moved off isp1 to isp3: isp1's path crosses AS64601, where an incident is "
                "open, and isp3's avoids it"
            )
            assert summary(jitter).startswith(
                "moved off isp1: its jitter was 12.5 ms against 0.750 ms through isp2, at an "
                "RTT of 11.0 ms against 10.0 ms"
            )
            # The journal says what the prefix's live explanation says.
            live = v.prefix("198.18.0.0/24")["explanation"]
            assert summary(live) == summary(incident)
        # After a restart, the journal still says them.
        reopened = SqliteStore.open(StoreConfig(path=str(tmp_path / "rp.db")))
        try:
            kept = {e.prefix: e for e in reopened.decisions(Query())}
        finally:
            reopened.close()
        assert kept["198.18.0.0/24"].incident_asn == 64601
        assert (kept["198.18.1.0/24"].old_jitter_ms, kept["198.18.1.0/24"].new_jitter_ms) == (
            12.5, 0.75,
        )  # fmt: skip

    run(body())


def test_pause_freezes_and_dry_run_withdraws_but_journals() -> None:
    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            v = view(c)
            v.pause()
            prober.rtt["198.18.0.0/24"]["isp1"] = 60.0
            clock.now += 1
            assert await c.cycle() is None
            assert speaker.rib_out["edge"] == {}
            v.resume()
            await c.cycle()
            assert "198.18.0.0/24" in speaker.rib_out["edge"]
            await c.set_dry_run(True)
            assert speaker.rib_out["edge"] == {}
            prober.rtt["198.18.1.0/24"]["isp1"] = 80.0
            clock.now += 1
            await c.cycle()
            assert speaker.rib_out["edge"] == {}
            assert any(m["dry_run"] and m["prefix"] == "198.18.1.0/24" for m in v.decisions())
            await c.set_dry_run(False)
            assert set(speaker.rib_out["edge"]) == set(PREFIXES)

    run(body())


def test_session_flap_resyncs_to_what_is_desired_now() -> None:
    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            prober.rtt["198.18.0.0/24"]["isp1"] = 60.0
            await c.cycle()
            assert "198.18.0.0/24" in speaker.rib_out["edge"]
            speaker.crash()  # the speaker restarted: its Adj-RIB-Out is gone
            await until(lambda: not c.rib.session_up["edge"] and not c.injector.announced)
            await _routers_up(c, speaker)
            await until(lambda: "198.18.0.0/24" in speaker.rib_out["edge"])

    run(body())


def test_provider_without_paths_is_reported(tmp_path: Path) -> None:
    async def body() -> None:
        async with started() as (c, speaker, _, _):
            speaker.session("edge", True)
            speaker.learn("edge", PathAttributes("100.64.1.2", as_path=(65001,)), PREFIXES)
            speaker.end_of_rib("edge", "ipv4 unicast")
            speaker.end_of_rib("edge", "ipv6 unicast")

            def reported() -> bool:
                degraded = view(c).status()["degraded"]
                return any("isp2 has no path" in d and "100.64.2.2" in d for d in degraded)

            await until(reported)

    run(body())


def test_operator_state_survives_restart(tmp_path: Path) -> None:
    async def first() -> None:
        c, speaker, _, _ = make(tmp_path)
        await c.start()
        v = view(c)
        v.pin("198.18.1.0/24", "isp3")
        v.exclude("198.18.0.0/24")
        await c.stop()

    async def second() -> None:
        async with started(tmp_path) as (c, speaker, _, _):
            assert c.operator.pins == {"198.18.1.0/24": "isp3"}
            assert c.operator.exclusions == {"198.18.0.0/24"}
            await _routers_up(c, speaker)
            await c.cycle()
            assert speaker.rib_out["edge"]["198.18.1.0/24"].next_hop == "100.64.3.2"

    run(first())
    run(second())


def test_sampler_rates_reach_the_store_and_come_back_after_a_restart(tmp_path: Path) -> None:
    """The daemon's flows pipeline keeps announced sampling rates through the store's
    sink, and a restarted controller hands them back to its pipeline at start."""
    rate = SamplerRate("100.66.1.1", 9, 9, 2, 2182, 1.0)

    async def first() -> None:
        c, _, _, _ = make(tmp_path)
        real = build_stages(CONFIGURED, store=c.store, speaker=FakeSpeaker(["edge"]))
        await c.start()
        assert real.pipeline.rates is not None
        real.pipeline.rates.write_sampler_rates([rate])
        await c.stop()  # the store's one thread finishes its queue before closing

    async def second() -> None:
        async with started(tmp_path) as (c, _, _, _):
            assert c.pipeline.restored == [rate]

    run(first())
    run(second())


def test_view_actions_reject_bad_input() -> None:
    async def body() -> None:
        async with started() as (c, _, _, _):
            v = view(c)
            with pytest.raises(ActionError) as exc:
                v.pin("198.18.0.0/24", "isp9")
            assert exc.value.status == 404
            with pytest.raises(ActionError) as exc:
                v.pin("not-a-prefix", "isp1")
            assert exc.value.status == 400
            with pytest.raises(ActionError) as exc:
                v.prefix("198.18.77.0/24")
            assert exc.value.status == 404
            shown = v.config()
            assert shown["api"]["write_token"] == "***"
            assert "s3cret-write-token" not in repr(shown)

    run(body())


def test_metrics_page_has_each_family_typed_once() -> None:
    from routepilot.api.metrics import ViewMetrics
    from routepilot.metrics import Registry, render
    from routepilot.run.metrics import register_daemon

    async def body() -> None:
        async with started() as (c, speaker, _, _):
            await _routers_up(c, speaker)
            await c.cycle()
            registry = Registry()
            register_daemon(registry, c)
            registry.register(ViewMetrics(view(c)))
            text = render(registry)[0].decode()
        assert text.count("# TYPE routepilot_decision_rounds_total counter") == 1
        assert "routepilot_decision_cycle" not in text  # not counted twice under two names
        types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
        assert len(types) == len(set(types))
        samples = parse(text)
        assert samples[("routepilot_decision_rounds_total", ())] >= 1
        assert samples[("routepilot_bgp_session_up", (("router", "edge"),))] == 1
        assert "routepilot_rib_" in text and "routepilot_inject_" in text
        assert "routepilot_store_rows_written_total" in text

    run(body())


def test_outage_watch_wakes_a_round_only_for_a_current_exit() -> None:
    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            await c.cycle()
            prober.failing = [("198.18.0.0/24", "isp3")]  # an alternative: no hurry
            assert not c._outage_check(prober.failing_paths())
            prober.failing = [("198.18.0.0/24", "isp1")]  # BGP's choice, the current exit
            assert c._outage_check(prober.failing_paths())
            assert c.outage_wakeups == 1

    run(body())


def test_a_stop_just_as_the_outage_watch_wakes_a_round_ends_the_loop() -> None:
    """SIGTERM must withdraw and exit even if an exit failed at that very moment: the
    decision loop once swallowed that cancellation (asyncio.wait_for on Python 3.11)."""

    async def body() -> None:
        c, speaker, prober, clock = make(None)
        await c.start()
        await _routers_up(c, speaker)
        await c.cycle()
        prober.failing = [("198.18.0.0/24", "isp1")]
        assert c._outage_check(prober.failing_paths())
        stopping = asyncio.create_task(c.stop())
        done, _ = await asyncio.wait({stopping}, timeout=30)  # a hang, not a timing
        assert stopping in done, "stop() still waits for the decision loop"
        assert speaker.rib_out["edge"] == {}

    run(body())


def test_an_exit_that_keeps_failing_wakes_one_round_not_one_per_look() -> None:
    """Where no round can move it, rounds come at the cycle's pace again; when it recovers
    and fails anew, or another exit fails, the watch wakes a round at once."""

    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            await c.cycle()
            prober.failing = [("198.18.0.0/24", "isp1")]
            looks = [c._outage_check(prober.failing_paths()) for _ in range(8)]
            assert looks == [True] + [False] * 7
            prober.failing.append(("198.18.1.0/24", "isp1"))
            assert c._outage_check(prober.failing_paths())
            prober.failing = []
            assert not c._outage_check(prober.failing_paths())
            prober.failing = [("198.18.0.0/24", "isp1")]
            assert c._outage_check(prober.failing_paths())
            assert c.outage_wakeups == 3

    run(body())


def test_config_shows_the_dry_run_mode_in_force_after_a_switch() -> None:
    async def body() -> None:
        async with started() as (c, speaker, _, _):
            v = view(c)
            assert v.config()["inject"]["dry_run"] is False
            v.set_dry_run(True)
            await until(lambda: c.injector.dry_run)
            assert v.config()["inject"]["dry_run"] is True
            assert v.status()["dry_run"] is True
            await c.set_dry_run(False)
            assert v.config()["inject"]["dry_run"] is False
        assert CONFIGURED.inject.dry_run is False  # the configuration itself is never rewritten

    run(body())


def test_a_failed_withdraw_at_shutdown_is_counted() -> None:
    async def body() -> None:
        c, speaker, prober, clock = make()
        c.injector = FakeInjector(
            [(p.name, p.next_hops) for p in CONFIGURED.providers], CONFIGURED.inject
        )
        await c.start()
        await _routers_up(c, speaker)
        prober.rtt["198.18.0.0/24"]["isp1"] = 60.0
        await c.cycle()
        assert "198.18.0.0/24" in c.injector.announced
        c.injector.error = ConnectionError("speaker gone")
        await c.stop()
        assert c.shutdown_withdraw_failures == 1
        assert not prober.started  # the rest of the shutdown still ran

    run(body())


def test_policy_and_announcement_settings_reach_the_routers() -> None:
    """The allowlist, a rule and the announcement settings in force (as a reload would
    leave them) apply at the next round, and the view names what constrained a prefix."""
    from routepilot.config.policy import RuleConfig

    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            c.injector.config = c.injector.config.model_copy(
                update={
                    "allowlist": ["198.18.0.0/24"],
                    "local_preference_by_reason": {"latency": 450},
                    "large_communities": ["65000:1:2"],
                    "as_path": "learned",
                }
            )
            for p in PREFIXES:
                prober.rtt[p]["isp1"] = 60.0  # the default gets slow for both
            clock.now += 1
            await c.cycle()
            out = speaker.rib_out["edge"]
            assert list(out) == ["198.18.0.0/24"]  # the other is outside the allowlist
            route = out["198.18.0.0/24"]
            assert route.next_hop == "100.64.2.2" and route.local_pref == 450
            assert route.as_path == (65002, 65002) and route.large_communities == ("65000:1:2",)
            v = view(c)
            assert v.prefix("198.18.1.0/24")["policy"]["inside_allowlist"] is False
            assert v.prefix("198.18.1.0/24")["reason"] == "policy"
            # The origin AS is the last of BGP's default path (isp1's here).
            c.policy = c.policy.model_copy(
                update={"rules": [RuleConfig(origin_asn=65001, action="deny", providers=["isp2"])]}
            )
            clock.now += 1
            await c.cycle()
            route = speaker.rib_out["edge"]["198.18.0.0/24"]
            assert route.next_hop == "100.64.3.2" and route.local_pref == 500
            assert v.prefix("198.18.0.0/24")["policy"]["rule"] == "rules[0]"


def test_a_session_down_with_tcp_md5_on_says_what_to_check(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        async with started() as (c, speaker, _, _):
            settings = CONFIGURED.model_dump(mode="json")
            settings["routers"][0]["md5_password_env"] = "RP_TEST_MD5"
            v = DaemonView(c, asyncio.get_running_loop(), settings)
            c.speaker.metrics.tcp_md5_drops.update({"failure": 0, "not_found": 3})
            (hint,) = [d for d in v.status()["degraded"] if "TCP-MD5" in d]
            assert hint.startswith("bgp session to edge down with TCP-MD5 on")
            assert "check the password on both sides (3 segments dropped" in hint
            await _routers_up(c, speaker)
            assert not [d for d in v.status()["degraded"] if "TCP-MD5" in d]
            # Without a password configured, a session down says nothing about TCP-MD5.
            speaker.session("edge", False)
            await until(lambda: not c.rib.session_up["edge"])
            assert not [d for d in view(c).status()["degraded"] if "TCP-MD5" in d]


def test_nothing_decides_or_alerts_on_a_table_still_arriving() -> None:
    """#18: a router without End-of-RIB (GoBGP, FRR without graceful restart) whose
    table comes slowly: no decision and no provider outage until it is whole."""
    from routepilot.alerts.manager import AlertManager
    from routepilot.api.config import AlertsConfig

    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            v, alerts = view(c), AlertManager(AlertsConfig())
            assert v.status()["routes"]["state"] == "waiting"
            speaker.session("edge", True)
            await until(lambda: c.rib.session_up["edge"])
            # Seconds pass before the first UPDATE: an empty table is not synced.
            clock.now += 6
            assert v.status()["routes"] == {
                "state": "arriving", "routers": {"edge": "arriving"}, "paths": 0, "prefixes": 0,
            }  # fmt: skip
            assert await c.cycle() is None
            prober.rtt["198.18.0.0/24"]["isp1"] = 60.0  # a move waits to be made
            speaker.learn(
                "edge",
                PathAttributes("100.64.1.2", as_path=(65001,)),
                [Nlri(p, 1) for p in PREFIXES],
            )
            await until(lambda: c.rib.table.paths == 2)
            clock.now += 1
            # isp2 and isp3 have no path yet: they are not out, and nothing moves to them.
            assert await c.cycle() is None
            assert alerts.observe(v.status(), v.providers()) == []
            for i, nh in ((2, "100.64.2.2"), (3, "100.64.3.2")):
                speaker.learn(
                    "edge",
                    PathAttributes(nh, as_path=(65000 + i,) * i),
                    [Nlri(p, i) for p in PREFIXES],
                )
            await until(lambda: c.rib.table.paths == 6)
            clock.now += 2.9
            assert await c.cycle() is None and c.cycle_stats.count == 0
            # The rate fell to nothing for the quiet time: the table is whole.
            clock.now += 0.2
            assert v.status()["routes"]["state"] == "synced"
            assert await c.cycle() is not None
            assert speaker.rib_out["edge"]["198.18.0.0/24"].next_hop == "100.64.2.2"
            assert alerts.observe(v.status(), v.providers()) == []

    run(body())


def test_a_router_silent_past_the_first_path_wait_degrades_and_tells_no_provider_out() -> None:
    """#18: gobgpd under load sent nothing for more than 30 s after its session came up,
    and every provider was alerted out ("its routes are gone") until its table came. A
    silent router is one degraded condition naming it, no provider outage, no warning
    about next-hops, and no decision; its first path ends it."""
    from routepilot.alerts.manager import AlertManager
    from routepilot.api.config import AlertsConfig

    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            v, alerts = view(c), AlertManager(AlertsConfig(raise_after=1, clear_after=1))
            speaker.session("edge", True)
            await until(lambda: c.rib.session_up["edge"])
            clock.now += 31
            status = v.status()
            assert status["routes"]["state"] == "silent"
            assert status["routes"]["routers"] == {"edge": "silent"}
            hint = next(d for d in status["degraded"] if d.startswith("router edge"))
            assert "has sent no route in 31 s since its session came up" in hint
            raised = alerts.observe(status, v.providers())
            assert [(a.kind, a.state) for a in raised] == [("controller_degraded", "firing")]
            assert "router edge has sent no route" in raised[0].summary
            assert await c.cycle() is None and c.cycle_stats.count == 0
            c.routes.check_next_hops()
            assert c.routes.warnings == []
            for i, nh in ((1, "100.64.1.2"), (2, "100.64.2.2"), (3, "100.64.3.2")):
                speaker.learn(
                    "edge",
                    PathAttributes(nh, as_path=(65000 + i,) * i),
                    [Nlri(p, i) for p in PREFIXES],
                )
            await until(lambda: c.rib.table.paths == 6)
            # Sending: no longer silent, a table arriving, still no provider outage.
            assert v.status()["routes"]["state"] == "arriving"
            cleared = alerts.observe(v.status(), v.providers())
            assert [(a.kind, a.state) for a in cleared] == [("controller_degraded", "resolved")]
            clock.now += 3.1
            assert v.status()["routes"]["state"] == "synced"
            assert await c.cycle() is not None
            assert alerts.observe(v.status(), v.providers()) == []

    run(body())


def test_the_stored_minute_stands_in_until_the_live_view_is_whole() -> None:
    """After a restart the first records hold some flows and not others: decide/ and the
    view see the last stored minute until every flow has been reported once, then the
    live flows, and the status stops saying flows are not back."""

    async def body() -> None:
        c, speaker, _, clock = make()
        minute = (clock.now // 60 - 1) * 60
        stored = [
            TrafficRow(minute, 60.0, "198.18.1.0/24", "isp2", 60e6 * 60 / 8, 6e4),
            TrafficRow(minute, 60.0, "198.18.0.0/24", "isp2", 30e6 * 60 / 8, 3e4),
        ]
        c.store.store.write_traffic(stored)
        c.pipeline.is_whole = False
        await c.start()
        try:
            await _routers_up(c, speaker)
            v = view(c)
            await c.cycle()
            assert c.last_inputs is not None
            warm = c.last_inputs[0]
            assert warm.prefixes == ("198.18.1.0/24", "198.18.0.0/24")
            assert warm.provider_bps["isp2"] == pytest.approx(90e6)
            assert "flows not back yet" in " ".join(v.status()["degraded"])
            clock.now += 10
            c.pipeline.is_whole = True
            await c.cycle()
            live = c.last_inputs[0]
            assert live.provider_bps == {"isp1": 6e6, "isp2": 0.0, "isp3": 0.0}
            assert not c.warm_start_active
            assert "flows not back yet" not in " ".join(v.status()["degraded"])
        finally:
            await c.stop()

    run(body())


def test_a_round_decides_on_a_worker_thread_and_applies_its_result(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """decide() runs off the event loop: the API, flows and the RIB feed go on meanwhile
    (a full table's round held the loop 0.2-0.4 s, #18)."""
    real = controller_module.decide
    threads: list[int] = []

    def spy(*args):  # type: ignore[no-untyped-def]
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(controller_module, "decide", spy)

    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            prober.rtt["198.18.0.0/24"]["isp1"] = 60.0
            clock.now += 1
            await c.cycle()
            assert threads and threading.get_ident() not in threads
            assert speaker.rib_out["edge"]["198.18.0.0/24"].next_hop == "100.64.2.2"
            assert "198.18.0.0/24" in c.decision_state.active

    run(body())


def test_a_stop_during_decide_waits_for_it_and_applies_nothing(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """stop() cancels a round inside decide(): the thread is let finish, and what it
    decided is neither kept nor announced."""
    real = controller_module.decide
    entered, release = threading.Event(), threading.Event()
    returned: list = []

    def held(*args):  # type: ignore[no-untyped-def]
        result = real(*args)
        entered.set()
        assert release.wait(10), "never released"  # a hang guard, not a timing
        returned.append(result)
        return result

    async def body() -> None:
        c, speaker, prober, clock = make(None)
        await c.start()
        await _routers_up(c, speaker)
        prober.rtt["198.18.0.0/24"]["isp1"] = 60.0  # the next round moves it
        clock.now += 1
        monkeypatch.setattr(controller_module, "decide", held)
        # The decision loop's own round, inside decide().
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
        stopping = asyncio.create_task(c.stop())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not stopping.done()  # it waits for the round, which waits for decide()
        release.set()
        await stopping
        assert returned and "198.18.0.0/24" in returned[0].state.active  # decided...
        assert "198.18.0.0/24" not in c.decision_state.active  # ...and not kept
        assert not [x for x in speaker.calls if x[0] == "announce" and x[2]]

    run(body())


def test_the_rounds_inputs_leave_the_event_loop_turns_between_their_stages() -> None:
    """Traffic, routes and measurements are taken in turns of their own: on a full table
    they were a third of a second of the loop in one turn, which the API waited out."""

    async def body() -> None:
        async with started() as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            turns = 0
            done = False

            async def other() -> None:
                nonlocal turns
                while not done:
                    turns += 1
                    await asyncio.sleep(0)

            task = asyncio.create_task(other())
            await asyncio.sleep(0)  # it has started
            before = turns
            traffic, routes, meas = await c.snapshots(clock(), c.injections())
            done = True
            await task
            assert turns - before >= 3  # one after each of the three stages
            assert routes.prefixes and meas.providers

    run(body())


SLOW = load_text(CONFIG.replace("cycle_s: 0.05", "cycle_s: 300"), Config)
"""Rounds only when a test runs one (the loop's first, at start, aside)."""


def outages(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.key, a.state) for a in alerts if a.kind == "provider_outage"]


def test_no_provider_is_called_out_for_routes_that_came_after_the_round_read_them() -> None:
    """The alerts looked once the table was whole while the last round had read its routes
    before any came, and called every provider out, "its routes are gone" (the lab's false
    alert, #18). They wait for a round that read a whole table; a provider missing from
    one is out."""

    async def body() -> None:
        async with started(config=SLOW) as (c, speaker, prober, clock):
            await until(lambda: c.last_inputs is not None)
            await c.cycle()  # before the session: no route read
            alerts = AlertManager(AlertsConfig())
            await _routers_up(c, speaker)
            assert c.routes.state() == "synced"
            assert outages(alerts.observe(*view(c).alert_view())) == []
            await c.cycle()
            assert outages(alerts.observe(*view(c).alert_view())) == []
            speaker.unlearn("edge", [Nlri(p, 2) for p in PREFIXES])  # isp2's paths go
            await until(lambda: c.rib.table.paths == 4)
            await c.cycle()
            assert outages(alerts.observe(*view(c).alert_view())) == [("isp2", "firing")]

    run(body())


def test_a_round_whose_routes_were_read_from_a_table_still_arriving_decides_nothing() -> None:
    """The table may become whole in the turns the round's inputs leave the event loop
    after the routes are read: the round is judged on the routes it read, a part of the
    table, which looks like the other providers' routes gone."""

    async def body() -> None:
        async with started(config=SLOW) as (c, speaker, prober, clock):
            await until(lambda: c.last_inputs is not None)
            speaker.session("edge", True)
            for i, nh in enumerate(("100.64.1.2", "100.64.2.2", "100.64.3.2"), start=1):
                attrs = PathAttributes(nh, as_path=(65000 + i,) * i, local_pref=100)
                speaker.learn("edge", attrs, [Nlri(p, i) for p in PREFIXES])
            speaker.end_of_rib("edge", "ipv4 unicast")  # the IPv6 table still to come
            await until(lambda: c.rib.table.paths == 6)
            assert c.routes.state() == "arriving"
            update = prober.update

            def table_whole_meanwhile(*args, **kwargs) -> None:  # type: ignore[no-untyped-def]
                c.rib.handle(EndOfRib("edge", "ipv6 unicast"))
                update(*args, **kwargs)

            prober.update = table_whole_meanwhile  # type: ignore[method-assign]
            assert await c.cycle() is None
            assert c.routes.state() == "synced" and c.cycle_stats.count == 0
            prober.update = update  # type: ignore[method-assign]
            assert await c.cycle() is not None  # read whole this time

    run(body())


def test_while_a_table_arrives_the_rounds_read_the_routes_again_only_now_and_then(
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    """A full table arriving made every round read the whole RIB again in one turn of the
    loop, for routes no round decides on: they are read again at most every
    ARRIVING_ROUTES_S then (2 s here, within the quiet time that calls a router without
    End-of-RIB synced), and every round once the table is whole."""
    monkeypatch.setattr(controller_module, "ARRIVING_ROUTES_S", 2.0)

    async def body() -> None:
        async with started(config=SLOW) as (c, speaker, prober, clock):
            await until(lambda: c.last_inputs is not None)
            speaker.session("edge", True)
            attrs = PathAttributes("100.64.1.2", as_path=(65001,), local_pref=100)
            speaker.learn("edge", attrs, [Nlri(PREFIXES[0], 1)])
            await until(lambda: c.rib.table.paths == 1)
            assert c.routes.state() == "arriving"
            await c.cycle()
            first = c.last_inputs[1]
            assert first.prefixes == (PREFIXES[0],) and first.state == "arriving"

            speaker.learn("edge", attrs, [Nlri(PREFIXES[1], 1)])
            await until(lambda: c.rib.table.paths == 2)
            clock.now += 1.5
            await c.cycle()
            assert c.routes.state() == "arriving"
            assert c.last_inputs[1] is first  # not read again yet

            clock.now += 0.5
            await c.cycle()
            assert c.routes.state() == "arriving"
            assert c.last_inputs[1].prefixes == tuple(PREFIXES[:2])  # read again

            speaker.learn("edge", attrs._replace(next_hop="100.64.2.2"), [Nlri(PREFIXES[0], 2)])
            speaker.end_of_rib("edge", "ipv4 unicast")
            speaker.end_of_rib("edge", "ipv6 unicast")
            await until(lambda: c.routes.state() == "synced" and c.rib.table.paths == 3)
            await c.cycle()  # whole: read at once, whatever the time
            routes = c.last_inputs[1]
            assert routes.state == "synced" and routes.provider_up["isp2"]

    run(body())


def test_a_paused_daemon_is_not_stalled_and_a_hung_round_is() -> None:
    """Paused, rounds go on and decide nothing: that is not "decision rounds stalled",
    which would raise a controller_degraded alert some seconds after every pause. A round
    that never ends is stalled."""

    async def body() -> None:
        async with started() as (c, speaker, _, clock):
            v, alerts = view(c), AlertManager(AlertsConfig(raise_after=1, clear_after=1))
            await _routers_up(c, speaker)
            assert await c.cycle() is not None
            c.set_paused(True)
            decided = c.cycle_stats.count
            for _ in range(30):  # 30 rounds: three times the stall threshold
                clock.now += c.settings.cycle_s
                assert await c.cycle() is None
            assert c.cycle_stats.count == decided
            status = v.status()
            assert status["paused"] and not [d for d in status["degraded"] if "stalled" in d]
            assert alerts.observe(status, v.providers()) == []
            async with c._lock:  # a round that never ends holds the round's lock
                clock.now += 11 * c.settings.cycle_s
                (stalled,) = [d for d in v.status()["degraded"] if "stalled" in d]
            assert stalled == "decision rounds stalled: none began in 1 s"

    run(body())


def test_status_counts_the_hours_moves_without_waiting_for_the_store(tmp_path: Path) -> None:
    """moves_last_hour is counted by the store off the event loop: status gives the last
    count without asking the store, even while the store's one worker is held by a long
    write, and the count catches up once the worker is free; a restart counts again."""

    async def first() -> None:
        async with started(tmp_path) as (c, speaker, prober, clock):
            await _routers_up(c, speaker)
            v = view(c)

            def not_on_the_loop(*_: object, **__: object) -> None:
                raise AssertionError("status waited for the store")

            v.store.decision_counts = not_on_the_loop  # type: ignore[method-assign]
            await c.cycle()
            assert v.status()["counts"]["moves_last_hour"] == 0
            prober.rtt["198.18.0.0/24"]["isp1"] = 60.0
            clock.now += 1
            await c.cycle()
            await until(lambda: v.status()["counts"]["moves_last_hour"] == 1)
            # The store's worker held for a while (a minute's writes, a slow database):
            # status answers at once, with the last count.
            held, release = threading.Event(), threading.Event()

            def hold() -> None:
                held.set()
                release.wait(10)

            writing = asyncio.ensure_future(c.store._run(hold))
            await asyncio.to_thread(held.wait, 5)
            prober.rtt["198.18.1.0/24"]["isp1"] = 60.0
            clock.now += 1
            assert v.status()["counts"]["moves_last_hour"] == 1
            round_ = asyncio.ensure_future(c.cycle())
            # The round has decided its move; its journal write waits for the worker.
            await until(lambda: [m.prefix for m in c.last_result.moves()] == ["198.18.1.0/24"])
            assert v.status()["counts"]["moves_last_hour"] == 1
            release.set()
            await writing
            await round_
            await until(lambda: v.status()["counts"]["moves_last_hour"] == 2)

    async def second() -> None:
        async with started(tmp_path) as (c, _, _, _):
            await until(lambda: view(c).status()["counts"]["moves_last_hour"] == 2)

    run(first())
    run(second())
