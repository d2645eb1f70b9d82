"""Changes without a restart (run/reload.py, the daemon) and the maintenance book
(run/maintenance.py): applied whole or refused whole, journaled, windows kept."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import yaml
from tests.unit.run.test_wiring import CONFIG, config

from routepilot.config import Config
from routepilot.rib.speaker.fake import FakeSpeaker
from routepilot.run.reload import ReloadRefused, changed_keys, restart_only, sections
from routepilot.run.wiring import Daemon, build_controller, build_stages
from routepilot.store import AsyncStore, MemoryStore, Query, SqliteStore, StoreConfig
from routepilot.view import ActionError

pytestmark = pytest.mark.unit

OFF = CONFIG.replace("enabled: true", "enabled: false")


def test_changed_keys_and_what_needs_a_restart() -> None:
    old = {"policy": {"a": 1, "rules": []}, "providers": [{"name": "x", "capacity_mbps": 1}]}
    new = {"policy": {"a": 2, "rules": [{"prefix": "p"}]},
           "providers": [{"name": "y", "capacity_mbps": 5}]}  # fmt: skip
    changed = changed_keys(old, new)
    assert changed == [
        "policy.a", "policy.rules", "policy.rules[*]", "policy.rules[0].prefix",
        "providers[0].capacity_mbps", "providers[0].name",
    ]  # fmt: skip
    assert restart_only(changed) == ["providers[0].name"]
    assert sections(changed) == ["policy", "providers"]
    more = changed_keys(old, {**old, "providers": old["providers"] * 2})
    assert restart_only(more) == ["providers[*]", "providers[1].name"]
    assert restart_only(["rib.speaker.backend", "api.port", "policy.rib"]) == [
        "rib.speaker.backend", "api.port",
    ]  # fmt: skip
    # The prober's rollup periods are set at its start.
    assert restart_only(["probe.rollup_s", "probe.interval_s"]) == ["probe.rollup_s"]


def _write(path: Path, cfg: Config, **changes: dict) -> None:
    data = cfg.model_dump(mode="json")
    for section, values in changes.items():
        data[section].update(values)
    path.write_text(yaml.safe_dump(data))


def test_reload_applies_live_sections_and_refuses_the_rest_whole(tmp_path: Path) -> None:
    cfg = config(tmp_path, OFF)
    path = tmp_path / "rp.yaml"
    _write(path, cfg)

    async def body() -> None:
        stages = build_stages(cfg, store=AsyncStore(MemoryStore()), speaker=FakeSpeaker(["edge"]))
        controller = build_controller(cfg, stages)
        daemon = Daemon(cfg, controller, config_path=path)
        await daemon.start()
        try:
            assert daemon.view is not None
            # An invalid file: refused with the file's line, nothing changes.
            path.write_text(path.read_text().replace("latency_threshold_ms: 10.0",
                                                     "latency_threshold_ms: -3"))  # fmt: skip
            with pytest.raises(ActionError) as exc:
                await daemon.view.reload()
            assert exc.value.status == 400
            assert f"{path}:" in str(exc.value) and "policy.latency_threshold_ms" in str(exc.value)
            assert controller.policy.latency_threshold_ms == 10.0
            # A restart-only key beside a live one: refused by name, neither applies.
            _write(path, cfg, policy={"latency_threshold_ms": 4.0}, api={"port": 9999})
            with pytest.raises(ActionError) as exc:
                await daemon.view.reload()
            assert exc.value.status == 409 and "api.port" in str(exc.value)
            assert controller.policy.latency_threshold_ms == 10.0
            # Live keys only: applied from the next round, the view shows them.
            _write(
                path, cfg,
                policy={"latency_threshold_ms": 4.0},
                controller={"cycle_s": 0.2},
                maintenance={"windows": [{"name": "tue", "provider": "isp2",
                                          "cron": "0 2 * * 2", "duration_s": 3600}]},
            )  # fmt: skip
            result = await daemon.view.reload()
            assert result["applied"] and "policy.latency_threshold_ms" in result["changed"]
            assert controller.policy.latency_threshold_ms == 4.0
            assert controller.settings.cycle_s == 0.2
            assert daemon.view.config()["policy"]["latency_threshold_ms"] == 4.0
            assert [w["name"] for w in daemon.view.maintenance()] == ["tue"]
            # PUT takes what GET shows (tokens masked) back.
            shown = daemon.view.config()
            shown["policy"]["latency_threshold_ms"] = 7.0
            assert (await daemon.view.put_config(shown))["changed"] == [
                "policy.latency_threshold_ms"
            ]
            assert controller.policy.latency_threshold_ms == 7.0
            kinds = [e["kind"] for e in daemon.view.events()]
            assert kinds == ["config_applied", "config_applied", "config_refused",
                             "config_refused"]  # fmt: skip
        finally:
            await daemon.stop()

    asyncio.run(body())


def test_windows_on_demand_survive_a_restart(tmp_path: Path, caplog) -> None:
    # At info level, as the daemon logs: every field must be one a LogRecord accepts.
    caplog.set_level(logging.INFO, logger="routepilot")
    cfg = config(tmp_path, OFF)

    def stages():  # type: ignore[no-untyped-def]
        store = AsyncStore(SqliteStore.open(StoreConfig(path=str(tmp_path / "rp.db"))))
        return build_stages(cfg, store=store, speaker=FakeSpeaker(["edge"]))

    async def first() -> int:
        controller = build_controller(cfg, stages())
        await controller.start()
        try:
            w = await controller.maintenance.start("isp1", duration_s=600, drain=True,
                                                   reason="fibre")  # fmt: skip
            assert controller.maintenance.in_force(controller.clock()).draining == {"isp1"}
            assert "maintenance window in force" in caplog.text
            with pytest.raises(ActionError, match="unknown provider"):
                await controller.maintenance.start("isp9", duration_s=60)
            with pytest.raises(ActionError, match="at most"):
                await controller.maintenance.start("isp1", duration_s=30 * 86400)
            return int(w["id"])
        finally:
            await controller.stop()

    async def second(window_id: int) -> None:
        controller = build_controller(cfg, stages())
        await controller.start()
        try:
            now = controller.clock()
            assert controller.maintenance.in_force(now).draining == {"isp1"}
            (w,) = controller.maintenance.list()
            assert w["id"] == window_id and w["reason"] == "fibre" and w["state"] == "active"
            ended = await controller.maintenance.end(window_id)
            assert ended["state"] == "ended"
            assert not controller.maintenance.in_force(controller.clock())
            with pytest.raises(ActionError, match="no maintenance window 99"):
                await controller.maintenance.end(99)
            events = await controller.store.events(Query())
            assert [e.kind for e in events] == ["maintenance_end", "maintenance_start"]
        finally:
            await controller.stop()

    window_id = asyncio.run(first())
    asyncio.run(second(window_id))


def test_reload_refused_carries_a_status() -> None:
    assert ReloadRefused("x", 409).status == 409
