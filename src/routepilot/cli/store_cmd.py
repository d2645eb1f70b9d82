"""`routepilot store migrate`: move an installation's database to PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError

from routepilot.cli.common import fail, print_json

if TYPE_CHECKING:
    from routepilot.store import StoreConfig

app = typer.Typer(help="The database: move it between backends.", no_args_is_help=True)


def _destination(target: str, password_file: Path | None, password_env: str | None) -> StoreConfig:
    from routepilot.store import StoreConfig

    kind, sep, where = target.partition(":")
    if not sep or kind not in ("postgresql", "sqlite") or not where:
        fail(f"--to {target!r}: expected postgresql:DSN (or sqlite:PATH)")
    try:
        if kind == "sqlite":
            return StoreConfig(kind="sqlite", path=where)
        return StoreConfig(
            kind="postgresql",
            dsn=where,
            password_file=str(password_file) if password_file else None,
            password_env=password_env,
        )
    except ValidationError as exc:
        fail(f"--to: {exc.errors()[0]['msg']}")


@app.command("migrate")
def migrate(
    source: str = typer.Option(..., "--from", help="The existing database: sqlite:PATH."),
    target: str = typer.Option(
        ..., "--to", help="The new, empty database: postgresql:DSN (the DSN without password)."
    ),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="File holding the PostgreSQL password."
    ),
    password_env: str | None = typer.Option(
        None, "--password-env", help="Environment variable holding the PostgreSQL password."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the rows copied as JSON."),
) -> None:
    """Copy every row and the controller state from SQLite into a new database.

    Stop the daemon first (the copy takes its lock); then set `store.kind: postgresql`
    and `store.dsn` in the configuration and start it again.
    """
    from routepilot.store import StoreError, open_store
    from routepilot.store.migrate import migrate_sqlite

    kind, sep, path = source.partition(":")
    if not sep or kind != "sqlite" or not path:
        fail(f"--from {source!r}: expected sqlite:PATH")
    config = _destination(target, password_file, password_env)
    label = f"postgresql {config.dsn}" if config.kind == "postgresql" else config.path

    def progress(table: str, rows: int) -> None:
        if not as_json:
            typer.echo(f"{table}: {rows:,} rows copied")

    try:
        dest = open_store(config)
        try:
            counts = migrate_sqlite(path, dest, label, progress)
        finally:
            dest.close()
    except StoreError as exc:
        fail(str(exc))
    if as_json:
        print_json({"from": source, "to": target, "rows": counts})
    else:
        typer.echo(f"controller state copied; {path} -> {label}: done")
