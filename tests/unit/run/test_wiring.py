"""run/wiring.py: every stage built from its own section, none given the whole Config."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import BaseModel

from routepilot.config import Config, load_text
from routepilot.probe.component import Prober
from routepilot.rib.speaker.base import Nlri, PathAttributes, PathsLearned
from routepilot.rib.speaker.exabgp import ExaBGPSpeaker
from routepilot.rib.speaker.fake import FakeSpeaker
from routepilot.run.wiring import (
    Daemon,
    StartupError,
    build_controller,
    build_stages,
    open_stages,
)
from routepilot.store import AsyncStore, MemoryStore

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
        assert isinstance(stages.prober, Prober) and stages.prober.config is cfg.probe
        controller = build_controller(cfg, stages)
        assert controller.settings is cfg.controller and controller.policy is cfg.policy
        assert _configs_held(controller, set()) == []
    finally:
        stages.store.store.close()


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
