"""Backup and restore on PostgreSQL: the same documents as SQLite's, and no restore
under a live HA lease."""

from __future__ import annotations

from pathlib import Path

import yaml
from tests.unit.store.test_backup import STATE, check_round_trip
from typer.testing import CliRunner

from routepilot.cli.main import app
from routepilot.ha import PgLease
from routepilot.store import SqliteStore, StoreConfig
from routepilot.store.postgresql import PostgresStore


def test_round_trip_with_sqlite(pg_config: StoreConfig, tmp_path: Path) -> None:
    pg = PostgresStore.open(pg_config)
    sqlite = SqliteStore.open(StoreConfig(path=str(tmp_path / "a.db")))
    try:
        check_round_trip(pg, sqlite)
        check_round_trip(sqlite, pg)
    finally:
        pg.close()
        sqlite.close()


def test_cli_refuses_restore_under_a_live_lease(pg_config: StoreConfig, tmp_path: Path) -> None:
    pg = PostgresStore.open(pg_config)
    pg.save_state(STATE)
    pg.close()
    path = tmp_path / "rp.yaml"
    path.write_text(yaml.safe_dump({"store": pg_config.model_dump(mode="json")}))
    runner = CliRunner()
    out = runner.invoke(app, ["backup", str(tmp_path / "b.json"), "-c", str(path)])
    assert out.exit_code == 0, out.output
    lease = PgLease(pg_config, 2.0)
    try:
        assert lease.acquire("ctl1", 60.0, "").held
        out = runner.invoke(app, ["restore", str(tmp_path / "b.json"), "-c", str(path)])
        assert out.exit_code != 0
        assert "ctl1 holds the HA lease: stop every routepilot instance" in out.output
        lease.release("ctl1", 1)
    finally:
        lease.close()
    out = runner.invoke(app, ["restore", str(tmp_path / "b.json"), "-c", str(path)])
    assert out.exit_code == 0, out.output
    assert "controller: 1 pins" in out.output
