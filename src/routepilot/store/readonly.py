"""Opening the configured database for the CLI's tools, beside a running daemon."""

from __future__ import annotations

from routepilot.store.base import Store, StoreError
from routepilot.store.config import StoreConfig


def open_for_reading(config: StoreConfig) -> Store:
    """Reads while the daemon writes: SQLite's WAL readers, PostgreSQL's read-only pool."""
    if config.kind == "postgresql":
        from routepilot.store.postgresql import PostgresStore

        return PostgresStore.open_readonly(config)
    from routepilot.store.sqlite import SqliteStore

    return SqliteStore.open_readonly(config)


def refuse_if_led(store: Store) -> None:
    """Refuses to write beside a live HA active (PostgreSQL): it would overwrite us."""
    holder = getattr(store, "lease_holder", None)
    if holder is None:
        return
    live = holder()
    if live:
        raise StoreError(
            f"{live} holds the HA lease: stop every routepilot instance on this database first"
        )
