"""run/wiring.py: every stage built from its own section, none given the whole Config."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from routepilot.config import Config, load_text
from routepilot.probe.component import Prober
from routepilot.probe.worker import ProberProcess
from routepilot.rib.speaker.base import Nlri, PathAttributes, PathsLearned
from routepilot.rib.speaker.exabgp import ExaBGPSpeaker
from routepilot.rib.speaker.fake import FakeSpeaker
from routepilot.run.wiring import (
    Daemon,
    StartupError,
    build_controller,
    build_stages,
    open_stages,
    real_prober,
)
from routepilot.store import AsyncStore, MemoryStore
from routepilot.view import SeriesQuery

CONFIG = """
routers: [{name: edge, address: 100.66.1.1, asn: 65000}]
providers:
  - {name: isp1, asn: 65001, next_hops: [100.64.1.2], capacity_mbps: 100,
     probe: {source: 100.64.9.1}}
  - {name: isp2, asn: 65002, next_hops: [100.64.2.2], capacity_mbps: 100,
     probe: {source: 100.64.9.2}}
flows: {enabled: true, netflow_port: 0, ipfix_port: 0, sflow_port: 0}
probe: {enabled: true}
inject: {local_preference: 777, communities: [no-export]}
rib: {default_local_pref: 90}
api: {write_token: "s3cret-write-token"}
controller: {cycle_s: 0.05, startup_grace_s: 0}
"""


def config(tmp_path: Path, text: str = CONFIG) -> Config:
    return load_text(text + f"store: {{path: {tmp_path / 'rp.db'}}}\n", Config)


def _configs_held(obj: object, seen: set[int], depth: int = 0) -> list[str]:
    """Names of attributes (followed a few levels down) that hold a whole Config."""
    if depth > 3 or id(obj) in seen or isinstance(obj, BaseModel | str | bytes | int | float):
        return []
    seen.add(id(obj))
    found = []
    for name, value in getattr(obj, "__dict__", {}).items():
        if isinstance(value, Config):
            found.append(f"{type(obj).__name__}.{name}")
        else:
            found += _configs_held(value, seen, depth + 1)
    return found


def test_production_stages_are_built_from_their_own_sections(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    stages = open_stages(cfg)
    try:
        assert isinstance(stages.speaker, ExaBGPSpeaker)  # through make_speaker
        assert stages.speaker.config is cfg.rib.speaker
        assert stages.rib.routers == ("edge",) and stages.rib.providers == ("isp1", "isp2")
        # Our own injected routes, sent back by a router, are recognised by inject's
        # LOCAL_PREF and communities, and rib's default LOCAL_PREF fills in a missing one.
        own = PathAttributes(
            "100.64.1.2", as_path=(65001,), local_pref=777, communities=("65535:65281",)
        )
        theirs = PathAttributes("100.64.2.2", as_path=(65002,))
        stages.rib.handle_many(
            [
                PathsLearned("edge", own, (Nlri("198.18.0.0/24"),)),
                PathsLearned("edge", theirs, (Nlri("198.18.0.0/24"),)),
            ]
        )
        assert stages.rib.metrics.own_paths_ignored == 1
        routes = stages.rib.snapshot()
        assert routes.providers[routes.bgp_best[0]] == "isp2"
        assert stages.injector.config is cfg.inject
        assert stages.collector is not None and stages.collector.config is cfg.flows
        # probe.process (the default): the prober runs in a worker process of its own.
        assert isinstance(stages.prober, ProberProcess) and stages.prober.config is cfg.probe
        controller = build_controller(cfg, stages)
        assert controller.settings is cfg.controller and controller.policy is cfg.policy
        assert _configs_held(controller, set()) == []
    finally:
        stages.store.store.close()


def test_probe_process_false_keeps_the_prober_in_the_daemon(tmp_path: Path) -> None:
    cfg = config(
        tmp_path, CONFIG.replace("probe: {enabled: true}", "probe: {enabled: true, process: false}")
    )
    stages = build_stages(
        cfg,
        store=AsyncStore(MemoryStore()),
        speaker=FakeSpeaker(["edge"]),
        prober_factory=real_prober(cfg),
    )
    assert type(stages.prober) is Prober and stages.prober.config is cfg.probe


def test_disabled_stages_are_not_built(tmp_path: Path) -> None:
    cfg = config(tmp_path, CONFIG.replace("enabled: true", "enabled: false"))
    stages = build_stages(cfg, store=AsyncStore(MemoryStore()), speaker=FakeSpeaker(["edge"]))
    assert stages.collector is None and stages.prober is None


def test_an_unusable_database_is_a_startup_error(tmp_path: Path) -> None:
    (tmp_path / "rp.db").write_bytes(b"not a database" * 100)
    with pytest.raises(StartupError, match="rp.db"):
        open_stages(config(tmp_path))


def test_daemon_serves_the_view_and_stops_everything(tmp_path: Path) -> None:
    cfg = config(tmp_path, CONFIG.replace("enabled: true", "enabled: false"))

    async def body() -> None:
        speaker = FakeSpeaker(["edge"])
        stages = build_stages(cfg, store=AsyncStore(MemoryStore()), speaker=speaker)
        daemon = Daemon(cfg, build_controller(cfg, stages))
        await daemon.start()
        try:
            assert daemon.view is not None
            assert daemon.view.status()["sessions"] == {"edge": "down"}
            shown = daemon.view.config()
            assert shown["api"]["write_token"] == "***"
            assert shown["inject"]["local_preference"] == 777
        finally:
            await daemon.stop()
        assert speaker.running is False

    asyncio.run(body())


def test_the_daemon_drives_its_prober_in_the_worker_process(tmp_path: Path) -> None:
    """Rounds, the outage watch, a reload and the API's minute in progress go through the
    worker's pipe; stopping the daemon ends the worker. Probing is off inside the worker:
    a real child and pipe, no socket (the lab tests probe for real)."""
    text = CONFIG.replace(
        "flows: {enabled: true", "diagnose: {enabled: false}\nflows: {enabled: false"
    )
    cfg = config(tmp_path, text.replace("controller: {", "controller: {outage_check_s: 0.05, "))
    quiet = cfg.probe.model_copy(update={"enabled": False})
    made: list[ProberProcess] = []

    def factory(sink: object) -> ProberProcess:
        made.append(ProberProcess(quiet, cfg.providers, sink=sink))  # type: ignore[arg-type]
        return made[0]

    async def body() -> None:
        stages = build_stages(
            cfg, store=AsyncStore(MemoryStore()), speaker=FakeSpeaker(["edge"]),
            prober_factory=factory,
        )  # fmt: skip
        controller = build_controller(cfg, stages)
        daemon = Daemon(cfg, controller)
        await daemon.start()
        worker = made[0]
        try:
            assert worker.pid is not None
            deadline = time.monotonic() + 10
            while controller.last_inputs is None:  # a round's inputs, the worker's snapshot
                assert time.monotonic() < deadline, "no round"
                await asyncio.sleep(0.02)
            assert controller.last_inputs[2].providers == ("isp1", "isp2")
            await asyncio.sleep(0.3)  # more rounds, and the outage watch's questions
            assert controller.cycle_stats.errors == 0
            assert daemon.view is not None
            series = await asyncio.to_thread(
                daemon.view.measurements, SeriesQuery(since=0.0, until=time.time())
            )
            assert series == []
            raised = cfg.probe.model_copy(update={"max_rate": 123.0})
            await daemon.apply_config(cfg.model_copy(update={"probe": raised}), "test")
            assert worker.config.max_rate == 123.0
        finally:
            t0 = time.monotonic()
            await daemon.stop()
            assert time.monotonic() - t0 < 3.0
        assert worker.pid is None

    asyncio.run(body())


def test_a_controller_that_cannot_start_is_a_startup_error(tmp_path: Path) -> None:
    cfg = config(tmp_path, CONFIG.replace("enabled: true", "enabled: false"))

    class Refusing(FakeSpeaker):
        async def start(self) -> None:
            raise PermissionError("operation not permitted")

    async def body() -> None:
        stages = build_stages(cfg, store=AsyncStore(MemoryStore()), speaker=Refusing(["edge"]))
        with pytest.raises(StartupError, match="cannot start: operation not permitted"):
            await Daemon(cfg, build_controller(cfg, stages)).start()

    asyncio.run(body())


# -- telemetry ---------------------------------------------------------------------------


def _status_over_http(daemon: Daemon, registry: object) -> dict:
    """/api/v1/status as a client gets it: validated by the API's response model."""
    from fastapi.testclient import TestClient

    from routepilot.api.app import create_app
    from routepilot.api.config import ApiConfig

    assert daemon.view is not None
    app = create_app(daemon.view, ApiConfig(), registry, static_dir=Path("/nonexistent"))  # type: ignore[arg-type]
    with TestClient(app) as client:
        r = client.get("/api/v1/status")
        assert r.status_code == 200, r.text
        metrics = client.get("/metrics").text
    return {"status": r.json(), "metrics": metrics}


def test_telemetry_snapshot_reaches_status_and_metrics(tmp_path: Path) -> None:
    from routepilot.metrics import Registry
    from routepilot.run.metrics import register_daemon
    from routepilot.telemetry.fake import FakeTelemetry

    cfg = config(tmp_path, CONFIG.replace("enabled: true", "enabled: false"))
    fake = FakeTelemetry(time=1_700_000_000.0)
    fake.set_rate("isp1", 40e6, 75e6)
    fake.set_rate("isp2", 1e6, 2e6)
    fake.metrics.requests["edge"] += 3
    fake.metrics.errors["edge", "timeout"] += 1

    async def body() -> dict:
        stages = build_stages(
            cfg, store=AsyncStore(MemoryStore()), speaker=FakeSpeaker(["edge"]), telemetry=fake
        )
        controller = build_controller(cfg, stages)
        daemon = Daemon(cfg, controller)
        await daemon.start()
        try:
            assert fake.started
            await controller.cycle()
            registry = Registry()
            register_daemon(registry, controller)
            return await asyncio.to_thread(_status_over_http, daemon, registry)
        finally:
            await daemon.stop()
            assert not fake.started

    got = asyncio.run(body())
    tel = got["status"]["telemetry"]
    assert tel["link_source"] == "snmp"
    assert tel["providers"]["isp1"] == {
        "in_bps": 40e6, "out_bps": 75e6, "known": True, "billing": None,
    }  # fmt: skip
    assert [lk["provider"] for lk in tel["links"]] == ["isp1", "isp2"]
    assert 'routepilot_telemetry_requests_total{agent="edge"} 3.0' in got["metrics"]
    assert 'routepilot_telemetry_errors_total{agent="edge",reason="timeout"} 1.0' in got["metrics"]


def test_without_telemetry_status_says_flows(tmp_path: Path) -> None:
    cfg = config(tmp_path, CONFIG.replace("enabled: true", "enabled: false"))
    stages = build_stages(cfg, store=AsyncStore(MemoryStore()), speaker=FakeSpeaker(["edge"]))
    assert stages.telemetry is None

    async def body() -> dict:
        daemon = Daemon(cfg, build_controller(cfg, stages))
        await daemon.start()
        try:
            assert daemon.view is not None
            return daemon.view.status()
        finally:
            await daemon.stop()

    assert asyncio.run(body())["telemetry"]["link_source"] == "flows"


TELEMETRY = """
telemetry:
  enabled: true
  interval_s: 1
  agents: [{name: edge, address: 127.0.0.1, community_env: RP_TEST_COMMUNITY,
            timeout_s: 0.2, retries: 0}]
  links: [{provider: isp1, agent: edge, if_name: eth1}]
  billing: {sample_s: 1, mode: greater}
"""


def test_snmp_poller_is_wired_and_its_billing_period_survives_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real poller, built from config.telemetry, polls an in-memory agent whose
    counters move with the clock; its closed samples are in the SQLite store after a
    stop, and a daemon started again on that file has them back before its first poll."""
    import time

    from routepilot.store import SqliteStore, StoreConfig
    from routepilot.telemetry.fake import FakeAgent, FakeInterface
    from routepilot.telemetry.poller import Telemetry

    monkeypatch.setenv("RP_TEST_COMMUNITY", "s3cret-community")
    text = CONFIG.replace("enabled: true", "enabled: false") + TELEMETRY
    text = text.replace("next_hops: [100.64.1.2],", "next_hops: [100.64.1.2], commit_mbps: 50,")
    cfg = config(tmp_path, text)
    assert cfg.providers[0].commit_mbps == 50
    rate_in, rate_out = 8e6, 24e6

    class LiveAgent(FakeAgent):
        """Counters that move at a steady rate with the real clock."""

        def __init__(self) -> None:
            super().__init__({7: FakeInterface("eth1")}, uptime_cs=500_000)
            self.last = time.monotonic()

        async def get(self, oids: list[str]):  # type: ignore[no-untyped-def]
            # Whole hundredths, as sysUpTime counts: counters and uptime move together.
            ticks = int((time.monotonic() - self.last) * 100)
            self.last += ticks / 100
            self.advance(ticks / 100, {7: (rate_in, rate_out)})
            return await super().get(oids)

    agent = LiveAgent()

    def open_sqlite() -> AsyncStore:
        return AsyncStore(SqliteStore.open(StoreConfig(path=str(tmp_path / "rp.db"))))

    async def wait_for(cond, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "condition not met in time"
            await asyncio.sleep(0.05)

    async def first_run() -> tuple[list, dict]:
        stages = build_stages(
            cfg, store=open_sqlite(), speaker=FakeSpeaker(["edge"]),
            snmp_client_factory=lambda _agent: agent,
        )  # fmt: skip
        assert stages.telemetry is not None and isinstance(stages.telemetry.source, Telemetry)
        poller = stages.telemetry.source
        assert poller.config is cfg.telemetry and poller.commits_mbps["isp1"] == 50
        daemon = Daemon(cfg, build_controller(cfg, stages))
        await daemon.start()
        try:
            await wait_for(lambda: len(poller.ledger.samples.get("isp1", [])) >= 2)
            assert daemon.view is not None
            await wait_for(lambda: daemon.view.status()["telemetry"]["providers"]["isp1"]["known"])  # type: ignore[union-attr]
            status = daemon.view.status()
        finally:
            await daemon.stop()
        return list(poller.ledger.samples["isp1"]), status

    samples, status = asyncio.run(first_run())
    tel = status["telemetry"]
    assert tel["link_source"] == "snmp" and tel["warnings"] == []
    isp1 = tel["providers"]["isp1"]
    # Agent time and counters move together: the rate is the set one, to the octet.
    assert isp1["in_bps"] == pytest.approx(rate_in, rel=1e-5)
    assert isp1["out_bps"] == pytest.approx(rate_out, rel=1e-5)
    assert isp1["billing"]["mode"] == "greater" and isp1["billing"]["commit_bps"] == 50e6
    assert isp1["billing"]["samples"] >= 2
    assert tel["links"][0]["if_index"] == 7 and tel["links"][0]["status"] == "ok"
    assert "s3cret-community" not in repr(status)

    stored = SqliteStore.open(StoreConfig(path=str(tmp_path / "rp.db")))
    try:
        rows = stored.billing_rows()
    finally:
        stored.close()
    assert [r["start"] for r in rows if r["kind"] == "sample"] == [s.start for s in samples]

    async def second_run() -> list:
        agent.failure = None
        stages = build_stages(
            cfg, store=open_sqlite(), speaker=FakeSpeaker(["edge"]),
            snmp_client_factory=lambda _agent: agent,
        )  # fmt: skip
        assert stages.telemetry is not None
        controller = build_controller(cfg, stages)
        await controller.start()
        try:
            poller = stages.telemetry.source
            assert isinstance(poller, Telemetry)
            return list(poller.ledger.samples.get("isp1", []))
        finally:
            await controller.stop()

    restored = asyncio.run(second_run())
    assert restored[: len(samples)] == samples


def test_the_daemons_api_keeps_users_and_the_audit_in_its_store(tmp_path: Path) -> None:
    """Through the daemon's own API on a socket: a user added with the write token acts,
    both writes are in the store's audit log, and removing the user stops the token."""
    import httpx

    from routepilot.api.server import bind
    from routepilot.store.base import AuditQuery

    cfg = config(tmp_path, CONFIG.replace("enabled: true", "enabled: false"))
    memory = MemoryStore()

    async def body() -> None:
        stages = build_stages(cfg, store=AsyncStore(memory), speaker=FakeSpeaker(["edge"]))
        sock = bind("127.0.0.1", 0)
        port = sock.getsockname()[1]
        daemon = Daemon(cfg, build_controller(cfg, stages), sock)
        await daemon.start()
        admin = {"Authorization": "Bearer s3cret-write-token"}
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
                r = await c.post("/api/v1/users", json={"name": "otto", "role": "operator"},
                                 headers=admin)  # fmt: skip
                assert r.status_code == 201, r.text
                otto = {"Authorization": f"Bearer {r.json()['token']}"}
                assert (await c.post("/api/v1/control/pause", headers=otto)).status_code == 200
                assert (await c.delete("/api/v1/users/otto", headers=admin)).status_code == 204
                r = await c.post("/api/v1/control/resume", headers=otto)
                assert r.status_code == 401
        finally:
            await daemon.stop()
        got = [(a.user, a.action, a.status) for a in reversed(memory.audit(AuditQuery()))]
        assert got == [
            ("api.write_token", "add_user", 201), ("otto", "pause", 200),
            ("api.write_token", "remove_user", 204), (None, "resume", 401),
        ]  # fmt: skip
        assert memory.users() == [] and memory.token_rows == {}

    asyncio.run(body())
