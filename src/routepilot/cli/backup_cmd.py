"""`routepilot backup FILE` and `routepilot restore FILE`: the operator's state (pins,
exclusions, pause, dry-run, decide/'s memory …) out of and back into the configured
database, SQLite or PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

import typer

from routepilot.cli.common import fail, print_json
from routepilot.config import Config, ConfigError, load_file

ConfigOpt = typer.Option(..., "--config", "-c", help="Configuration file: its store section.")


def _config(path: Path) -> Config:
    try:
        return load_file(path, Config)
    except ConfigError as exc:
        fail(str(exc))


def backup(
    file: Path = typer.Argument(..., help="The backup file to write (JSON)."),
    config_path: Path = ConfigOpt,
    as_json: bool = typer.Option(False, "--json", help="Print what was saved as JSON."),
) -> None:
    """Save the operator's state from the database (the daemon may be running)."""
    from routepilot.store import StoreError
    from routepilot.store.backup import SECTIONS, write_file
    from routepilot.store.backup import backup as make
    from routepilot.store.readonly import open_for_reading

    cfg = _config(config_path)
    try:
        store = open_for_reading(cfg.store)
        try:
            document = make(store, cfg.store.kind)
        finally:
            store.close()
        write_file(file, document)
    except (StoreError, OSError) as exc:
        fail(str(exc))
    summary = {s.name: s.describe(document["sections"][s.name]) for s in SECTIONS}
    if as_json:
        print_json({"file": str(file), "backend": cfg.store.kind, "sections": summary})
        return
    for name, text in summary.items():
        typer.echo(f"{name}: {text}")
    typer.echo(f"saved to {file}")


def restore(
    file: Path = typer.Argument(..., help="A file written by `routepilot backup`."),
    config_path: Path = ConfigOpt,
) -> None:
    """Replace the operator's state in the database by a backup's. Stop the daemons first:
    a running one would overwrite it (SQLite: its lock refuses us; PostgreSQL with HA: a
    live lease refuses us)."""
    from routepilot.store import StoreError, open_store
    from routepilot.store.backup import read_file
    from routepilot.store.backup import restore as apply
    from routepilot.store.readonly import refuse_if_led

    cfg = _config(config_path)
    try:
        document = read_file(file)
        store = open_store(cfg.store)
        try:
            refuse_if_led(store)
            done = apply(store, document)
        finally:
            store.close()
    except (StoreError, ValueError) as exc:
        fail(f"{file}: {exc}" if isinstance(exc, ValueError) else str(exc))
    for line in done:
        typer.echo(line)
    typer.echo(f"restored from {file}; nothing is announced until the daemon decides")


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
