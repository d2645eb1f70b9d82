"""`routepilot backup` / `restore`: the operator's state out of one database and into
another, the same on every backend (PostgreSQL: tests/integration/store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from routepilot.cli.main import app
from routepilot.decide import Active, DecisionState, Reason
from routepilot.store import ControllerState, MemoryStore, SqliteStore, StoreConfig
from routepilot.store.backup import SECTIONS, Section, backup, restore

STATE = ControllerState(
    pins={"198.18.1.0/24": "isp2"},
    exclusions=frozenset({"198.18.9.0/24"}),
    paused=True,
    dry_run=False,
    injections={"198.18.3.0/24": "isp1"},
    decision=DecisionState(active={"198.18.3.0/24": Active("isp1", Reason.LATENCY, 100.0, 0)}),
    saved_at=123.0,
)


def check_round_trip(source, dest) -> None:  # type: ignore[no-untyped-def]
    source.save_state(STATE)
    document = json.loads(json.dumps(backup(source, "test")))
    assert restore(dest, document) == [
        "controller: 1 pins, 1 exclusions, 1 improvements in decide's memory"
    ]
    got = dest.load_state()
    assert (got.pins, got.exclusions, got.paused, got.dry_run) == (
        STATE.pins, STATE.exclusions, STATE.paused, STATE.dry_run,
    )  # fmt: skip
    assert got.decision.active == STATE.decision.active
    # Nothing announced, no saved time: a takeover re-announces nothing from a backup.
    assert got.injections == {} and got.saved_at is None


def test_round_trip_between_backends(tmp_path: Path) -> None:
    sqlite = SqliteStore.open(StoreConfig(path=str(tmp_path / "a.db")))
    try:
        check_round_trip(sqlite, MemoryStore())
        check_round_trip(MemoryStore(), sqlite)
    finally:
        sqlite.close()


def test_refuses_unknown_sections_and_bad_content_before_writing() -> None:
    store = MemoryStore()
    store.save_state(STATE)
    document = backup(store, "memory")
    with pytest.raises(ValueError, match=r"does not know \(users\)"):
        restore(MemoryStore(), {**document, "sections": {**document["sections"], "users": []}})
    with pytest.raises(ValueError, match="not a routepilot backup"):
        restore(MemoryStore(), {"sections": {}})
    bad = {**document, "sections": {"controller": {"pins": {"198.18.1.0/24": 7}}}}
    dest = MemoryStore()
    with pytest.raises(ValueError, match="pins must map"):
        restore(dest, bad)
    assert dest.load_state() == ControllerState()


def test_a_new_section_is_one_entry() -> None:
    """Another kind of operator state plugs in as a Section (maintenance windows here)."""
    kept: dict[str, object] = {}
    windows = Section(
        "maintenance",
        lambda store: [{"provider": "isp1", "start": 1.0, "end": 2.0}],
        lambda data: list(data),
        lambda store, value: kept.update(windows=value),
        lambda data: f"{len(data)} windows",
    )
    sections = (*SECTIONS, windows)
    document = backup(MemoryStore(), "memory", sections)
    assert restore(MemoryStore(), document, sections)[-1] == "maintenance: 1 windows"
    assert kept == {"windows": [{"provider": "isp1", "start": 1.0, "end": 2.0}]}


def test_cli_backup_and_restore_on_sqlite(tmp_path: Path) -> None:
    def config(name: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"store": {"path": str(tmp_path / f"{name}.db")}}))
        return path

    source = SqliteStore.open(StoreConfig(path=str(tmp_path / "old.db")))
    source.save_state(STATE)
    source.close()
    runner = CliRunner()
    out = runner.invoke(app, ["backup", str(tmp_path / "b.json"), "-c", str(config("old"))])
    assert out.exit_code == 0, out.output
    assert "controller: 1 pins, 1 exclusions" in out.output
    SqliteStore.open(StoreConfig(path=str(tmp_path / "new.db"))).close()
    out = runner.invoke(app, ["restore", str(tmp_path / "b.json"), "-c", str(config("new"))])
    assert out.exit_code == 0, out.output
    dest = SqliteStore.open(StoreConfig(path=str(tmp_path / "new.db")))
    assert dest.load_state().pins == STATE.pins
    dest.close()
    (tmp_path / "junk.json").write_text("{")
    out = runner.invoke(app, ["restore", str(tmp_path / "junk.json"), "-c", str(config("new"))])
    assert out.exit_code != 0 and "not JSON" in out.output
