"""routepilot store stage: time series, the decisions journal, restart state.

``open_store(config)`` gives the configured store (SQLite, or PostgreSQL in
``store/postgresql.py``); ``MemoryStore`` is the fake for tests; ``AsyncStore``
runs any of them on a worker thread for asyncio code.
"""

from routepilot.store.aio import AsyncStore, ThreadedSink
from routepilot.store.base import (
    AuditQuery,
    AuditRecord,
    ControlEvent,
    ControllerState,
    JournalEntry,
    Query,
    Store,
    StoreError,
    TokenRecord,
    UserRecord,
    UtilizationSample,
)
from routepilot.store.config import StoreConfig
from routepilot.store.memory import MemoryStore
from routepilot.store.sqlite import SqliteStore


def open_store(config: StoreConfig) -> Store:
    """Opens the configured database for writing (the daemon); raises StoreError."""
    if config.kind == "postgresql":
        # Imported here so an SQLite installation never loads the PostgreSQL driver.
        from routepilot.store.postgresql import PostgresStore

        return PostgresStore.open(config)
    return SqliteStore.open(config)


__all__ = [
    "AsyncStore",
    "ControlEvent",
    "AuditQuery",
    "AuditRecord",
    "ControllerState",
    "JournalEntry",
    "MemoryStore",
    "Query",
    "SqliteStore",
    "Store",
    "StoreConfig",
    "StoreError",
    "ThreadedSink",
    "TokenRecord",
    "UserRecord",
    "UtilizationSample",
    "open_store",
]
