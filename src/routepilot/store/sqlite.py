"""The SQLite Store: WAL, batched inserts, indexes, retention, migrations, one writer.

One process writes (the daemon, which holds an advisory lock on ``PATH.lock``
so that a second daemon on the same file fails at start with a clear message);
any number read at the same time (``SqliteStore.open_readonly``: the API of
another process, reports, the CLI), which WAL allows without blocking the
writer. Every write is one transaction with ``executemany``; 100k rows take
a fraction of a second.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from routepilot.flows.snapshot import SamplerRate
from routepilot.store.base import (
    JOURNAL_COLUMNS,
    ControlEvent,
    ControllerState,
    JournalEntry,
    ProbePoint,
    ProbeRollup,
    ProviderRow,
    Query,
    StoreError,
    TrafficRow,
    UtilizationSample,
    Window,
)
from routepilot.store.codec import (
    TRACES_BEYOND,
    billing_row_from_json,
    billing_row_to_json,
    state_from_json,
    state_to_json,
    trace_query,
    trace_row,
)
from routepilot.store.config import StoreConfig
from routepilot.store.metrics import StoreMetrics
from routepilot.store.schema import MIGRATIONS, VERSION
from routepilot.store.sqlite_accounts import SqliteAccounts

_T = TypeVar("_T")

DAY = 86400.0


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def _none(x: float | None) -> float | None:
    return None if x is None or x != x else x


class SqliteStore(SqliteAccounts):
    """The embedded default store. Thread-safe: one connection behind a lock."""

    def __init__(
        self, conn: sqlite3.Connection, path: str, config: StoreConfig, lock_fd: int | None
    ) -> None:
        self._conn = conn
        self._path = path
        self._config = config
        self._lock_fd = lock_fd
        self._mutex = threading.Lock()
        self.readonly = lock_fd is None
        self.metrics = StoreMetrics(path)

    # --- opening -------------------------------------------------------------------

    @classmethod
    def open(cls, config: StoreConfig) -> SqliteStore:
        """Opens (creating and migrating if needed) the database for writing."""
        path = config.path
        if path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"{path}: cannot create its directory: {e.strerror or e}") from e
        lock_fd = _take_lock(path)
        try:
            conn = _connect(path, config, readonly=False)
            _prepare(conn, path)
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        return cls(conn, path, config, lock_fd if lock_fd is not None else -1)

    @classmethod
    def open_readonly(cls, config: StoreConfig) -> SqliteStore:
        """Opens an existing database for reading, beside a running writer."""
        if not Path(config.path).exists():
            raise StoreError(f"{config.path}: no such database (has routepilot run yet?)")
        conn = _connect(config.path, config, readonly=True)
        version = _guard(config.path, lambda: conn.execute("PRAGMA user_version").fetchone()[0])
        if version != VERSION:
            conn.close()
            raise StoreError(
                f"{config.path}: schema version {version}, this routepilot reads {VERSION}; "
                "start the daemon once to migrate it"
            )
        return cls(conn, config.path, config, None)

    @classmethod
    def open_beside(cls, config: StoreConfig) -> SqliteStore:
        """Opens an existing, current database for writing beside a running daemon, without
        its lock: for short, rare writes made on the host (``routepilot users``), which
        SQLite's own locking (WAL, the busy timeout) keeps apart from the daemon's."""
        if not Path(config.path).exists():
            raise StoreError(f"{config.path}: no such database (has routepilot run yet?)")
        conn = _connect(config.path, config, readonly=False)
        version = _guard(config.path, lambda: conn.execute("PRAGMA user_version").fetchone()[0])
        if version != VERSION:
            conn.close()
            raise StoreError(
                f"{config.path}: schema version {version}, this routepilot reads {VERSION}; "
                "start the daemon once to migrate it"
            )
        return cls(conn, config.path, config, -1)

    def close(self) -> None:
        with self._mutex:
            self._conn.close()
            if self._lock_fd is not None and self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = None

    # --- writes --------------------------------------------------------------------

    def _timed(self, fn: Callable[[], _T]) -> _T:
        """Runs a write under the lock, counting its time and its failure."""
        t0 = time.perf_counter()
        try:
            with self._mutex:
                return _guard(self._path, fn)
        except StoreError:
            self.metrics.write_errors += 1
            raise
        finally:
            self.metrics.write_seconds += time.perf_counter() - t0

    def _write(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> int:
        rows = list(rows)
        if not rows:
            return 0
        self._timed(lambda: self._executemany(sql, rows))
        self.metrics.rows_written += len(rows)
        return len(rows)

    def _executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._conn:
            self._conn.executemany(sql, rows)

    def write_traffic(self, rows: Sequence[TrafficRow]) -> None:
        self._write(
            "INSERT INTO traffic VALUES (?, ?, ?, ?, ?, ?)",
            ((r.time, r.window_s, r.prefix, r.provider, r.bytes, r.packets) for r in rows),
        )

    def write_sampler_rates(self, rows: Sequence[SamplerRate]) -> None:
        """flows/' SamplerRateSink (read back with :meth:`sampler_rates`): the last rate
        per (exporter, version, domain, sampler)."""
        self._write(
            "INSERT OR REPLACE INTO sampler_rates VALUES (?, ?, ?, ?, ?, ?)",
            ((r.exporter, r.version, r.domain, r.sampler, r.rate, r.time) for r in rows),
        )

    def sampler_rates(self) -> list[SamplerRate]:
        rows = self._select(
            "SELECT exporter, version, domain, sampler, rate, time FROM sampler_rates "
            "ORDER BY exporter, version, domain, sampler",
            [],
        )
        return [SamplerRate(*r) for r in rows]

    def write_billing_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        values = [(i, billing_row_to_json(r)) for i, r in enumerate(rows)]

        def run() -> None:
            with self._conn:
                self._conn.execute("DELETE FROM billing_ledger")
                self._conn.executemany("INSERT INTO billing_ledger VALUES (?, ?)", values)

        self._timed(run)
        self.metrics.rows_written += len(values)

    def billing_rows(self) -> list[dict[str, Any]]:
        rows = self._select("SELECT row FROM billing_ledger ORDER BY seq", [])
        return [billing_row_from_json(text) for (text,) in rows]

    def write_provider_traffic(self, rows: Sequence[ProviderRow]) -> None:
        self._write(
            "INSERT INTO provider_traffic VALUES (?, ?, ?, ?, ?, ?)",
            ((r.time, r.window_s, r.provider, r.bytes, r.packets, r.bps) for r in rows),
        )

    def write_probe_rollups(self, rows: Sequence[ProbeRollup]) -> None:
        self._write(
            "INSERT INTO probes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    r.minute,
                    r.prefix,
                    r.provider,
                    r.kind,
                    r.sent,
                    r.answered,
                    _none(r.rtt_min_ms),
                    _none(r.rtt_median_ms),
                    _none(r.rtt_p90_ms),
                    _none(r.rtt_max_ms),
                    _none(r.jitter_ms),
                    _none(r.loss),
                )  # fmt: skip
                for r in rows
            ),
        )

    def write_utilization(self, rows: Sequence[UtilizationSample]) -> None:
        self._write(
            "INSERT INTO utilization VALUES (?, ?, ?, ?, ?)",
            ((r.time, r.provider, r.rate_bps, r.capacity_bps, r.commit_bps) for r in rows),
        )

    def append_decisions(self, entries: Sequence[JournalEntry]) -> list[int]:
        cols = ", ".join(JOURNAL_COLUMNS)
        marks = ", ".join("?" for _ in JOURNAL_COLUMNS)
        sql = f"INSERT INTO decisions ({cols}) VALUES ({marks})"

        def run() -> list[int]:
            ids = []
            with self._conn:
                for e in entries:
                    values = [getattr(e, c) for c in JOURNAL_COLUMNS]
                    values[JOURNAL_COLUMNS.index("dry_run")] = int(e.dry_run)
                    row_id = self._conn.execute(sql, values).lastrowid
                    # sqlite3 sets lastrowid on every successful INSERT.
                    assert row_id is not None
                    ids.append(row_id)
            return ids

        ids = self._timed(run)
        self.metrics.rows_written += len(ids)
        return ids

    def record_outcome(
        self, entry_id: int, time: float, rtt_ms: float | None, loss: float | None
    ) -> None:
        def run() -> int:
            with self._conn:
                return self._conn.execute(
                    "UPDATE decisions SET after_time = ?, after_rtt_ms = ?, after_loss = ? "
                    "WHERE id = ?",
                    (time, _none(rtt_ms), _none(loss), entry_id),
                ).rowcount

        if self._timed(run) == 0:
            raise KeyError(f"no journal entry {entry_id}")

    def save_state(self, state: ControllerState) -> None:
        settings = {
            "paused": "1" if state.paused else "0",
            "dry_run": "" if state.dry_run is None else ("1" if state.dry_run else "0"),
            "decision_state": state_to_json(state.decision),
            "saved_at": "" if state.saved_at is None else repr(state.saved_at),
        }

        def run() -> None:
            with self._conn:
                c = self._conn
                for table in ("pins", "exclusions", "injections"):
                    c.execute(f"DELETE FROM {table}")
                c.executemany("INSERT INTO pins VALUES (?, ?)", state.pins.items())
                c.executemany("INSERT INTO exclusions VALUES (?)", ((p,) for p in state.exclusions))
                c.executemany("INSERT INTO injections VALUES (?, ?)", state.injections.items())
                c.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)", settings.items())

        self._timed(run)

    def load_state(self) -> ControllerState:
        def run() -> ControllerState:
            c = self._conn
            settings = dict(c.execute("SELECT key, value FROM settings"))
            dry = settings.get("dry_run", "")
            saved = settings.get("saved_at", "")
            return ControllerState(
                pins=dict(c.execute("SELECT prefix, provider FROM pins")),
                exclusions=frozenset(p for (p,) in c.execute("SELECT prefix FROM exclusions")),
                paused=settings.get("paused") == "1",
                dry_run=None if dry == "" else dry == "1",
                injections=dict(c.execute("SELECT prefix, provider FROM injections")),
                decision=state_from_json(settings.get("decision_state", "{}")),
                saved_at=float(saved) if saved else None,
            )

        with self._mutex:
            return _guard(self._path, run)

    # --- maintenance windows and the control journal ------------------------------

    def add_window(self, window: Window) -> int:
        def run() -> int:
            with self._conn:
                row_id = self._conn.execute(
                    'INSERT INTO maintenance_windows (provider, start, "end", drain, reason, '
                    "created) VALUES (?, ?, ?, ?, ?, ?)",
                    (window.provider, window.start, window.end, int(window.drain),
                     window.reason, window.created),
                ).lastrowid  # fmt: skip
            assert row_id is not None
            return row_id

        window_id = self._timed(run)
        self.metrics.rows_written += 1
        return window_id

    def windows(self, ending_after: float | None = None) -> list[Window]:
        where, params = ("", []) if ending_after is None else (' WHERE "end" > ?', [ending_after])
        rows = self._select(
            f'SELECT provider, start, "end", drain, reason, id, created FROM maintenance_windows'
            f"{where} ORDER BY start, id",
            params,
        )
        return [_window(r) for r in rows]

    def save_incident(self, incident: Mapping[str, Any]) -> None:
        row = _incident_row(incident)

        def run() -> None:
            with self._conn:
                self._conn.execute(_INCIDENT_UPSERT.replace("%s", "?"), row)

        self._timed(run)
        self.metrics.rows_written += 1

    def incidents(self, since: float | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        where, params = ("", []) if since is None else (
            " WHERE closed IS NULL OR closed >= ?", [since])  # fmt: skip
        rows = self._select(
            f"SELECT body FROM incidents{where} ORDER BY id DESC LIMIT ?", [*params, int(limit)]
        )
        return [json.loads(body) for (body,) in rows]

    def save_trace(self, trace: Mapping[str, Any], keep: int) -> None:
        row = trace_row(trace)

        def run() -> None:
            with self._conn:
                self._conn.execute(
                    "INSERT INTO traces (time, prefix, provider, body) VALUES (?, ?, ?, ?)", row
                )
                self._conn.execute(TRACES_BEYOND.replace("%s", "?"), (*row[1:3], *row[1:3], keep))

        self._timed(run)
        self.metrics.rows_written += 1

    def traces(
        self, prefix: str | None = None, provider: str | None = None
    ) -> list[dict[str, Any]]:
        sql, params = trace_query(prefix, provider)
        rows = self._select(sql.replace("%s", "?"), params)
        return [json.loads(body) for (body,) in rows]

    def end_window(self, window_id: int, at: float) -> Window | None:
        def run() -> None:
            with self._conn:
                self._conn.execute(
                    'UPDATE maintenance_windows SET "end" = min("end", ?) WHERE id = ?',
                    (at, window_id),
                )

        self._timed(run)
        rows = self._select(
            'SELECT provider, start, "end", drain, reason, id, created FROM maintenance_windows '
            "WHERE id = ?",
            [window_id],
        )
        return _window(rows[0]) if rows else None

    def append_event(self, event: ControlEvent) -> int:
        def run() -> int:
            with self._conn:
                row_id = self._conn.execute(
                    "INSERT INTO control_events (time, kind, detail) VALUES (?, ?, ?)",
                    (event.time, event.kind, event.detail),
                ).lastrowid
            assert row_id is not None
            return row_id

        event_id = self._timed(run)
        self.metrics.rows_written += 1
        return event_id

    def events(self, q: Query) -> list[ControlEvent]:
        where, params = _Where(q, "time").build()
        rows = self._select(
            f"SELECT time, kind, detail, id FROM control_events{where} "
            f"ORDER BY time DESC, id DESC{_limit(q, params)}",
            params,
        )
        return [ControlEvent(*r) for r in rows]

    # --- queries -------------------------------------------------------------------

    def _select(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._mutex:
            return _guard(self._path, lambda: self._conn.execute(sql, params).fetchall())

    def traffic(self, q: Query) -> list[TrafficRow]:
        where, params = _Where(q, "time").prefix().provider("provider").build()
        rows = self._select(
            f"SELECT time, window_s, prefix, provider, bytes, packets FROM traffic{where} "
            f"ORDER BY time{_limit(q, params)}",
            params,
        )
        return [TrafficRow(*r) for r in rows]

    def provider_traffic(self, q: Query) -> list[ProviderRow]:
        where, params = _Where(q, "time").provider("provider").window().build()
        rows = self._select(
            "SELECT time, window_s, provider, bytes, packets, bps FROM provider_traffic"
            f"{where} ORDER BY time{_limit(q, params)}",
            params,
        )
        return [ProviderRow(*r) for r in rows]

    def probe_rollups(self, q: Query) -> list[ProbeRollup]:
        where, params = _Where(q, "minute").prefix().provider("provider").build()
        rows = self._select(
            f"SELECT * FROM probes{where} ORDER BY minute{_limit(q, params)}", params
        )
        return [ProbeRollup(*r[:6], *(_nan(x) for x in r[6:])) for r in rows]

    def utilization(self, q: Query) -> list[UtilizationSample]:
        where, params = _Where(q, "time").provider("provider").build()
        rows = self._select(
            f"SELECT * FROM utilization{where} ORDER BY time{_limit(q, params)}", params
        )
        return [UtilizationSample(*r) for r in rows]

    def decisions(self, q: Query) -> list[JournalEntry]:
        where, params = _Where(q, "time").prefix().provider(*_MOVE_ENDS).reason().build()
        cols = ", ".join(("id", *JOURNAL_COLUMNS))
        rows = self._select(
            f"SELECT {cols} FROM decisions{where} ORDER BY time DESC, id DESC{_limit(q, params)}",
            params,
        )
        out = []
        for r in rows:
            values = dict(zip(("id", *JOURNAL_COLUMNS), r, strict=True))
            values["dry_run"] = bool(values["dry_run"])
            out.append(JournalEntry(**values))
        return out

    def decision_counts(self, q: Query) -> dict[str, int]:
        where, params = _Where(q, "time").prefix().provider(*_MOVE_ENDS).build()
        rows = self._select(
            f"SELECT reason, COUNT(*) FROM decisions{where} GROUP BY reason", params
        )
        return dict(rows)

    def probe_series(self, q: Query, step_s: float) -> list[ProbePoint]:
        where, params = _Where(q, "minute").prefix().provider("provider").build()
        step = float(step_s)
        sql = (
            "SELECT CAST(minute / ? AS INTEGER) * ? AS bucket, provider, "
            "SUM(CASE WHEN rtt_median_ms IS NOT NULL THEN rtt_median_ms * answered END), "
            "SUM(CASE WHEN rtt_median_ms IS NOT NULL THEN answered END), "
            "MAX(rtt_p90_ms), SUM(sent), SUM(answered) "
            f"FROM probes{where} GROUP BY bucket, provider ORDER BY bucket, provider"
        )
        params = [step, step, *params]
        sql += _limit(q, params)
        out = []
        for bucket, provider, rtt_sum, rtt_n, p90, sent, answered in self._select(sql, params):
            out.append(
                ProbePoint(
                    time=float(bucket),
                    provider=provider,
                    prefix=q.prefix,
                    rtt_ms=rtt_sum / rtt_n if rtt_n else math.nan,
                    rtt_p90_ms=_nan(p90),
                    loss=1 - answered / sent if sent else math.nan,
                    sent=int(sent or 0),
                )
            )
        return out

    # --- housekeeping --------------------------------------------------------------

    def prune(self, now: float) -> dict[str, int]:
        cut = now - self._config.retention_days * DAY
        bill_cut = now - self._config.billing_retention_days * DAY
        statements = {
            "traffic": ("DELETE FROM traffic WHERE time < ?", (cut,)),
            "provider_traffic": (
                "DELETE FROM provider_traffic WHERE time < CASE WHEN window_s >= 300 "
                "THEN ? ELSE ? END",
                (bill_cut, cut),
            ),
            "probes": ("DELETE FROM probes WHERE minute < ?", (cut,)),
            "utilization": ("DELETE FROM utilization WHERE time < ?", (cut,)),
            "decisions": ("DELETE FROM decisions WHERE time < ?", (cut,)),
            "traces": ("DELETE FROM traces WHERE time < ?", (cut,)),
        }

        def run() -> dict[str, int]:
            with self._conn:
                counts = {
                    name: self._conn.execute(sql, args).rowcount
                    for name, (sql, args) in statements.items()
                }
            # Hand the WAL back to the main file so it does not grow without bound.
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return counts

        counts = self._timed(run)
        self.metrics.pruned_rows += sum(counts.values())
        return counts


_MOVE_ENDS = ("from_provider", "to_provider")
"""A journal entry concerns both providers of its move."""


def _window(row: tuple[Any, ...]) -> Window:
    provider, start, end, drain, reason, window_id, created = row
    return Window(provider, start, end, bool(drain), reason, window_id, None, created)


class _Where:
    """A WHERE clause built from the filters a table has, one method per filter;
    each adds its condition only when the query sets that field."""

    def __init__(self, q: Query, time_column: str) -> None:
        self._q = q
        self._clauses: list[str] = []
        self._params: list[Any] = []
        if q.since is not None:
            self._add(f"{time_column} >= ?", q.since)
        if q.until is not None:
            self._add(f"{time_column} < ?", q.until)

    def _add(self, clause: str, *params: Any) -> None:
        self._clauses.append(clause)
        self._params += params

    def prefix(self) -> _Where:
        if self._q.prefix is not None:
            self._add("prefix = ?", self._q.prefix)
        return self

    def provider(self, *columns: str) -> _Where:
        """Rows where any of ``columns`` names the query's provider."""
        if self._q.provider is not None:
            either = " OR ".join(f"{c} = ?" for c in columns)
            self._add(f"({either})", *([self._q.provider] * len(columns)))
        return self

    def reason(self) -> _Where:
        if self._q.reason is not None:
            self._add("reason = ?", self._q.reason)
        return self

    def window(self) -> _Where:
        if self._q.window_s is not None:
            self._add("window_s = ?", self._q.window_s)
        return self

    def build(self) -> tuple[str, list[Any]]:
        where = " WHERE " + " AND ".join(self._clauses) if self._clauses else ""
        return where, self._params


def _limit(q: Query, params: list[Any]) -> str:
    if q.limit is None:
        return ""
    params.append(int(q.limit))
    return " LIMIT ?"


def _take_lock(path: str) -> int | None:
    if path == ":memory:":
        return None
    lock_path = f"{path}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise StoreError(f"{lock_path}: cannot create the lock file: {e.strerror}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(
            f"{path}: another routepilot process is using this database "
            f"(lock held on {lock_path}); stop it or use another store.path"
        ) from None
    return fd


def _connect(path: str, config: StoreConfig, *, readonly: bool) -> sqlite3.Connection:
    try:
        if readonly:
            conn = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, timeout=config.busy_timeout_s,
                check_same_thread=False,
            )  # fmt: skip
        else:
            conn = sqlite3.connect(
                path, timeout=config.busy_timeout_s, check_same_thread=False,
                isolation_level="DEFERRED",
            )  # fmt: skip
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot open the database: {e}") from e
    return conn


def _prepare(conn: sqlite3.Connection, path: str) -> None:
    def run() -> None:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if path != ":memory:" and mode.lower() != "wal":
            raise StoreError(f"{path}: could not switch the database to WAL mode ({mode})")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > VERSION:
            raise StoreError(
                f"{path}: schema version {version} is newer than this routepilot "
                f"knows ({VERSION}); upgrade routepilot or use another store.path"
            )
        if version == 0:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
            if tables:
                raise StoreError(
                    f"{path}: an SQLite database of another program (it has "
                    f"{', '.join(sorted(tables)[:5])}); use another store.path"
                )
        if version < VERSION:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                for script in MIGRATIONS[version:]:
                    for stmt in script.split(";"):
                        if stmt.strip():
                            conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {VERSION}")

    try:
        _guard(path, run)
    except BaseException:
        conn.close()
        raise


def _guard(path: str, fn: Callable[[], _T]) -> _T:
    """Runs ``fn``, turning SQLite's failures into a StoreError that says what to do."""
    try:
        return fn()
    except StoreError:
        raise
    except sqlite3.OperationalError as e:
        text = str(e)
        if "locked" in text or "busy" in text:
            raise StoreError(
                f"{path}: the database is locked by another process and stayed locked "
                f"past the busy timeout ({text}); is another program holding a write "
                "transaction open?"
            ) from e
        if "readonly" in text or "read-only" in text:
            raise StoreError(f"{path}: the database is read-only here ({text})") from e
        raise StoreError(f"{path}: database error: {text}") from e
    except sqlite3.DatabaseError as e:
        raise StoreError(
            f"{path}: the file is not a usable SQLite database or is corrupt ({e}); "
            "move it aside (routepilot starts a new one) or restore a backup"
        ) from e


_INCIDENT_UPSERT = (
    "INSERT INTO incidents (id, kind, opened, closed, updated, body) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, "
    "opened = excluded.opened, closed = excluded.closed, updated = excluded.updated, "
    "body = excluded.body"
)


def _incident_row(incident: Mapping[str, Any]) -> tuple[Any, ...]:
    """An incident (``Incident.as_dict()``) as a row: its columns, and the whole as JSON."""
    return (
        int(incident["id"]),
        str(incident["cause"]["kind"]),
        float(incident["opened"]),
        None if incident.get("closed") is None else float(incident["closed"]),
        float(incident.get("updated") or incident["opened"]),
        json.dumps(incident, sort_keys=True),
    )
