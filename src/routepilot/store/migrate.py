"""Moving an installation's database to another store: ``routepilot store migrate``.

The source is an SQLite file; the destination is any ``Store`` (PostgreSQL in
practice), written only through the protocol, so a backend added later is a
destination for free. The source is opened as the daemon opens it, which takes
its writer lock (so the move refuses to run beside a running daemon, whose rows
would arrive after the copy) and brings an older file to the current schema.
Rows are streamed table by table in batches, oldest first, so a large file
never sits in memory whole.

The journal keeps its order but its ids are the destination's: ids pruned away
in the source leave no gaps in the destination.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from routepilot.store import accounts
from routepilot.store.base import (
    JOURNAL_COLUMNS,
    ControllerState,
    JournalEntry,
    ProbeRollup,
    ProviderRow,
    Query,
    Store,
    StoreError,
    TrafficRow,
    UtilizationSample,
)
from routepilot.store.config import StoreConfig
from routepilot.store.sqlite import SqliteStore

BATCH = 20_000


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def _probe(r: tuple[Any, ...]) -> ProbeRollup:
    return ProbeRollup(*r[:6], *(_nan(x) for x in r[6:]))


def _entry(r: tuple[Any, ...]) -> JournalEntry:
    values = dict(zip(JOURNAL_COLUMNS, r, strict=True))
    values["dry_run"] = bool(values["dry_run"])
    return JournalEntry(**values)


@dataclass(frozen=True)
class _Table:
    name: str
    select: str
    row: Callable[[tuple[Any, ...]], Any]
    write: Callable[[Store, Sequence[Any]], object]


_TABLES = (
    _Table(
        "traffic",
        "SELECT time, window_s, prefix, provider, bytes, packets FROM traffic ORDER BY rowid",
        lambda r: TrafficRow(*r),
        lambda s, rows: s.write_traffic(rows),
    ),
    _Table(
        "provider_traffic",
        "SELECT time, window_s, provider, bytes, packets, bps FROM provider_traffic ORDER BY rowid",
        lambda r: ProviderRow(*r),
        lambda s, rows: s.write_provider_traffic(rows),
    ),
    _Table(
        "probes",
        "SELECT minute, prefix, provider, kind, sent, answered, rtt_min_ms, rtt_median_ms, "
        "rtt_p90_ms, rtt_max_ms, jitter_ms, loss FROM probes ORDER BY rowid",
        _probe,
        lambda s, rows: s.write_probe_rollups(rows),
    ),
    _Table(
        "utilization",
        "SELECT time, provider, rate_bps, capacity_bps, commit_bps FROM utilization ORDER BY rowid",
        lambda r: UtilizationSample(*r),
        lambda s, rows: s.write_utilization(rows),
    ),
    _Table(
        "decisions",
        f"SELECT {', '.join(JOURNAL_COLUMNS)} FROM decisions ORDER BY id",
        _entry,
        lambda s, rows: s.append_decisions(rows),
    ),
)

TABLES = tuple(t.name for t in _TABLES)
"""What is copied, in order; then the controller state."""


def ensure_empty(dest: Store, label: str) -> None:
    """Refuses a destination that holds anything: a second copy would double every row."""
    probes: dict[str, Callable[[], Sequence[object]]] = {
        "traffic": lambda: dest.traffic(Query(limit=1)),
        "provider_traffic": lambda: dest.provider_traffic(Query(limit=1)),
        "probes": lambda: dest.probe_rollups(Query(limit=1)),
        "utilization": lambda: dest.utilization(Query(limit=1)),
        "decisions": lambda: dest.decisions(Query(limit=1)),
        "traces": lambda: dest.traces(),
    }
    full = [name for name, look in probes.items() if look()]
    if dest.load_state() != ControllerState():
        full.append("controller state")
    if full:
        raise StoreError(
            f"{label}: the destination already holds data ({', '.join(full)}); "
            "migrate into a new, empty database"
        )


def _batches(conn: sqlite3.Connection, table: _Table) -> Iterator[list[Any]]:
    cur = conn.execute(table.select)
    while rows := cur.fetchmany(BATCH):
        yield [table.row(r) for r in rows]


def _copy_accounts(reader: sqlite3.Connection, dest: Store) -> dict[str, int]:
    """Users, their token hashes and the audit log, so that nobody has to log in anew and
    the trail goes on (audit ids are the destination's, in the source's order)."""
    users = [accounts.to_user(r) for r in reader.execute(
        f"SELECT {accounts.USER_COLUMNS} FROM users ORDER BY name")]  # fmt: skip
    for u in users:
        dest.save_user(u)
    tokens = [accounts.to_token(r) for r in reader.execute(
        f"SELECT {accounts.TOKEN_COLUMNS} FROM api_tokens ORDER BY created, id")]  # fmt: skip
    for t in tokens:
        dest.add_token(t)
    n = 0
    for row in reader.execute(f"SELECT id, {accounts.AUDIT_COLUMNS} FROM audit ORDER BY id"):
        dest.append_audit(replace(accounts.to_audit(row), id=None))
        n += 1
    return {"users": len(users), "api_tokens": len(tokens), "audit": n}


def migrate_sqlite(
    path: str,
    dest: Store,
    dest_label: str,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Copies the SQLite database at ``path`` into the empty ``dest``; returns the rows
    copied per table (and ``state``: 1). Raises StoreError, naming what to do."""
    if not Path(path).is_file():
        raise StoreError(f"{path}: no such database file")
    source = SqliteStore.open(StoreConfig(path=path))
    try:
        ensure_empty(dest, dest_label)
        counts: dict[str, int] = {}
        reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            # One read transaction: every table from the same instant.
            reader.execute("BEGIN")
            for table in _TABLES:
                n = 0
                for rows in _batches(reader, table):
                    table.write(dest, rows)
                    n += len(rows)
                counts[table.name] = n
                if progress is not None:
                    progress(table.name, n)
            counts.update(_copy_accounts(reader, dest))
        except sqlite3.Error as e:
            raise StoreError(f"{path}: cannot read the database: {e}") from e
        finally:
            reader.close()
        dest.save_state(source.load_state())
        counts["state"] = 1
        rates = source.sampler_rates()
        dest.write_sampler_rates(rates)
        counts["sampler_rates"] = len(rates)
        billing = source.billing_rows()  # the open billing period, so it survives the move
        dest.write_billing_rows(billing)
        counts["billing_rows"] = len(billing)
        windows = source.windows()  # maintenance windows on demand, still to be honoured
        for w in windows:
            dest.add_window(w)
        counts["maintenance_windows"] = len(windows)
        incidents = source.incidents(None, 2**62)  # diagnose/'s, open and closed
        for inc in incidents:
            dest.save_incident(inc)
        counts["incidents"] = len(incidents)
        # diagnose/'s kept traceroutes, oldest first so that the newest stay newest; the
        # source holds only the newest few per (prefix, provider): keep every one.
        traces = source.traces()
        for trace in reversed(traces):
            dest.save_trace(trace, len(traces))
        counts["traces"] = len(traces)
        return counts
    finally:
        source.close()
