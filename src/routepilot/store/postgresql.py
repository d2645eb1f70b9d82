"""The PostgreSQL Store: a server database for HA and, later, many sites.

It keeps the ``Store`` contract of the SQLite store (same tables, same query
rules, same retention) on psycopg 3 with a connection pool, so the daemon's
worker thread and any reader share a few connections. Time series go in with
``COPY … FROM STDIN`` (100k rows in one round of streaming, not 100k
statements). Unlike SQLite, any number of processes may write: leadership, not
a lock file, decides who does (issue 14's later parts).

Adding a table (the pattern the SQLite store follows too): a migration in
``store/pg_schema.py``, a write method that calls ``self._copy(TABLE, COLUMNS,
TYPES, rows)`` (or ``self._timed`` with a function of one connection for anything
else), and a query method that builds its WHERE with ``_where`` and reads with
``self._select``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
import psycopg_pool

from routepilot.flows.snapshot import SamplerRate
from routepilot.store.base import (
    JOURNAL_COLUMNS,
    ControlEvent,
    ControllerState,
    Fence,
    FencedWrite,
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
from routepilot.store.pg_accounts import PgAccounts
from routepilot.store.pg_connect import connect_kwargs, guard
from routepilot.store.pg_fence import LEASE_NAME, claim_epoch
from routepilot.store.pg_schema import check_version, migrate

_T = TypeVar("_T")
Conn = psycopg.Connection[Any]

DAY = 86400.0
TRAFFIC_COLUMNS = "time, window_s, prefix, provider, bytes, packets"
TRAFFIC_TYPES = ("float8", "float8", "text", "text", "float8", "float8")
PROVIDER_COLUMNS = "time, window_s, provider, bytes, packets, bps"
PROVIDER_TYPES = ("float8", "float8", "text", "float8", "float8", "float8")
PROBE_COLUMNS = (
    "minute, prefix, provider, kind, sent, answered, rtt_min_ms, rtt_median_ms, rtt_p90_ms, "
    "rtt_max_ms, jitter_ms, loss"
)
PROBE_TYPES = ("int8", "text", "text", "text", "int4", "int4", *("float8",) * 6)
UTILIZATION_COLUMNS = "time, provider, rate_bps, capacity_bps, commit_bps"
UTILIZATION_TYPES = ("float8", "text", "float8", "float8", "float8")


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def _none(x: float | None) -> float | None:
    # NaN is stored as NULL, as SQLite does: MAX() and the probe averages skip it.
    return None if x is None or x != x else x


class PostgresStore(PgAccounts):
    """The server store. Thread-safe: every call borrows a pooled connection."""

    def __init__(self, pool: psycopg_pool.ConnectionPool, config: StoreConfig, readonly: bool):
        self._pool = pool
        self._config = config
        self._label = f"postgresql {config.dsn}"
        self.readonly = readonly
        self.metrics = StoreMetrics(None)
        self.fence: Fence | None = None
        """Leadership, when HA is on: every write transaction then carries its epoch
        (store/pg_fence.py); None: writes are not fenced."""

    # --- opening -------------------------------------------------------------------

    @classmethod
    def open(cls, config: StoreConfig) -> PostgresStore:
        """Connects, creates or migrates the schema if needed, and opens the pool."""
        return cls._open(config, readonly=False)

    @classmethod
    def open_readonly(cls, config: StoreConfig) -> PostgresStore:
        """Opens for reading only (reports, CLI): every transaction is read-only, and a
        schema at another version is refused instead of migrated."""
        return cls._open(config, readonly=True)

    @classmethod
    def _open(cls, config: StoreConfig, readonly: bool) -> PostgresStore:
        label = f"postgresql {config.dsn}"
        kwargs = connect_kwargs(config)
        first = guard(label, lambda: psycopg.connect(config.dsn, **kwargs))
        try:
            if readonly:
                guard(label, lambda: check_version(first, label))
            else:
                guard(label, lambda: migrate(first, label))
        finally:
            first.close()
        lock_ms = int(config.busy_timeout_s * 1000)

        def configure(conn: Conn) -> None:
            # Session settings; committed so the pool sees an idle connection.
            conn.execute(f"SET lock_timeout = {lock_ms}")
            if readonly:
                conn.execute("SET default_transaction_read_only = on")
            conn.commit()

        pool = psycopg_pool.ConnectionPool(
            config.dsn,
            kwargs=kwargs,
            min_size=1,
            max_size=config.pool_size,
            timeout=config.connect_timeout_s,
            configure=configure,
            check=psycopg_pool.ConnectionPool.check_connection,
            name="routepilot-store",
            open=False,
        )
        try:
            pool.open(wait=True, timeout=config.connect_timeout_s)
        except psycopg_pool.PoolTimeout as e:
            pool.close()
            raise StoreError(
                f"{label}: could not open {config.pool_size} pooled connection(s) within "
                f"{config.connect_timeout_s:g}s"
            ) from e
        return cls(pool, config, readonly)

    def close(self) -> None:
        self._pool.close()

    # --- writes --------------------------------------------------------------------

    def _timed(self, fn: Callable[[Conn], _T]) -> _T:
        """Runs ``fn`` in one transaction on a pooled connection, counting its time and
        its failure."""
        run = self._fenced(fn)  # a standby's write stops here, not counted as a failure
        t0 = time.perf_counter()
        try:
            return self._run(run)
        except StoreError:
            self.metrics.write_errors += 1
            raise
        finally:
            self.metrics.write_seconds += time.perf_counter() - t0

    def _fenced(self, fn: Callable[[Conn], _T]) -> Callable[[Conn], _T]:
        """``fn`` preceded, in its transaction, by the epoch this instance holds; a
        standby's write is refused here without a round trip."""
        fence = self.fence
        if fence is None:
            return fn
        epoch = fence.write_epoch()
        if epoch is None:
            raise FencedWrite(
                f"{self._label}: this instance is a standby; only the active "
                f"({fence.holder() or 'none yet'}) writes"
            )

        def run(conn: Conn) -> _T:
            claim_epoch(conn, epoch)
            return fn(conn)

        return run

    def _run(self, fn: Callable[[Conn], _T]) -> _T:
        def borrow() -> _T:
            # The context commits when fn returns and rolls back when it raises.
            with self._pool.connection() as conn:
                return fn(conn)

        return guard(self._label, borrow, self._config.connect_timeout_s)

    def _copy(
        self, table: str, columns: str, types: Sequence[str], rows: Iterable[tuple[Any, ...]]
    ) -> int:
        """Appends rows to a table in one binary COPY, in one transaction.

        Binary rather than text: the same server time, but about a third of the
        client's CPU (measured in bench/store), and the client is the daemon.
        """
        rows = list(rows)
        if not rows:
            return 0
        sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"

        def run(conn: Conn) -> None:
            with conn.cursor() as cur, cur.copy(sql) as copy:
                copy.set_types(list(types))
                for row in rows:
                    copy.write_row(row)

        self._timed(run)
        self.metrics.rows_written += len(rows)
        return len(rows)

    def write_traffic(self, rows: Sequence[TrafficRow]) -> None:
        self._copy(
            "traffic",
            TRAFFIC_COLUMNS,
            TRAFFIC_TYPES,
            ((r.time, r.window_s, r.prefix, r.provider, r.bytes, r.packets) for r in rows),
        )

    def write_provider_traffic(self, rows: Sequence[ProviderRow]) -> None:
        self._copy(
            "provider_traffic",
            PROVIDER_COLUMNS,
            PROVIDER_TYPES,
            ((r.time, r.window_s, r.provider, r.bytes, r.packets, r.bps) for r in rows),
        )

    def write_probe_rollups(self, rows: Sequence[ProbeRollup]) -> None:
        self._copy(
            "probes",
            PROBE_COLUMNS,
            PROBE_TYPES,
            (
                (
                    int(r.minute),
                    r.prefix,
                    r.provider,
                    r.kind,
                    int(r.sent),
                    int(r.answered),
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
        self._copy(
            "utilization",
            UTILIZATION_COLUMNS,
            UTILIZATION_TYPES,
            ((r.time, r.provider, r.rate_bps, r.capacity_bps, r.commit_bps) for r in rows),
        )

    def append_decisions(self, entries: Sequence[JournalEntry]) -> list[int]:
        if not entries:
            return []
        cols = ", ".join(JOURNAL_COLUMNS)
        marks = ", ".join("%s" for _ in JOURNAL_COLUMNS)
        sql = f"INSERT INTO decisions ({cols}) VALUES ({marks}) RETURNING id"
        values = [
            [
                _none(v) if isinstance(v, float) else v
                for v in (getattr(e, c) for c in JOURNAL_COLUMNS)
            ]
            for e in entries
        ]

        def run(conn: Conn) -> list[int]:
            ids: list[int] = []
            with conn.cursor() as cur:
                # One round trip (pipelined); the ids come back in the entries' order.
                cur.executemany(sql, values, returning=True)
                while True:
                    row = cur.fetchone()
                    assert row is not None
                    ids.append(int(row[0]))
                    if not cur.nextset():
                        break
            return ids

        ids = self._timed(run)
        self.metrics.rows_written += len(ids)
        return ids

    def record_outcome(
        self, entry_id: int, time: float, rtt_ms: float | None, loss: float | None
    ) -> None:
        def run(conn: Conn) -> int:
            return conn.execute(
                "UPDATE decisions SET after_time = %s, after_rtt_ms = %s, after_loss = %s "
                "WHERE id = %s",
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

        def run(conn: Conn) -> None:
            with conn.cursor() as cur:
                cur.execute("DELETE FROM pins; DELETE FROM exclusions; DELETE FROM injections")
                cur.executemany("INSERT INTO pins VALUES (%s, %s)", list(state.pins.items()))
                cur.executemany(
                    "INSERT INTO exclusions VALUES (%s)", [(p,) for p in state.exclusions]
                )
                cur.executemany(
                    "INSERT INTO injections VALUES (%s, %s)", list(state.injections.items())
                )
                cur.executemany(
                    "INSERT INTO settings VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    list(settings.items()),
                )

        self._timed(run)

    def write_sampler_rates(self, rows: Sequence[SamplerRate]) -> None:
        """flows/' SamplerRateSink (read back with :meth:`sampler_rates`): the last rate
        per (exporter, version, domain, sampler)."""
        values = [(r.exporter, r.version, r.domain, r.sampler, r.rate, r.time) for r in rows]
        if not values:
            return

        def run(conn: Conn) -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO sampler_rates VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (exporter, version, domain, sampler) "
                    "DO UPDATE SET rate = EXCLUDED.rate, time = EXCLUDED.time",
                    values,
                )

        self._timed(run)

    def sampler_rates(self) -> list[SamplerRate]:
        rows = self._select(
            "SELECT exporter, version, domain, sampler, rate, time FROM sampler_rates "
            'ORDER BY exporter COLLATE "C", version, domain, sampler',
            [],
        )
        return [SamplerRate(*r) for r in rows]

    def write_billing_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        values = [(i, billing_row_to_json(r)) for i, r in enumerate(rows)]

        def run(conn: Conn) -> None:
            conn.execute("DELETE FROM billing_ledger")
            if values:
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO billing_ledger VALUES (%s, %s)", values)

        self._timed(run)
        self.metrics.rows_written += len(values)

    def billing_rows(self) -> list[dict[str, Any]]:
        rows = self._select("SELECT row FROM billing_ledger ORDER BY seq", [])
        return [billing_row_from_json(text) for (text,) in rows]

    def load_state(self) -> ControllerState:
        def run(conn: Conn) -> ControllerState:
            settings = dict(conn.execute("SELECT key, value FROM settings").fetchall())
            dry = settings.get("dry_run", "")
            saved = settings.get("saved_at", "")
            pins = conn.execute("SELECT prefix, provider FROM pins").fetchall()
            exclusions = conn.execute("SELECT prefix FROM exclusions").fetchall()
            injections = conn.execute("SELECT prefix, provider FROM injections").fetchall()
            return ControllerState(
                pins=dict(pins),
                exclusions=frozenset(p for (p,) in exclusions),
                paused=settings.get("paused") == "1",
                dry_run=None if dry == "" else dry == "1",
                injections=dict(injections),
                decision=state_from_json(settings.get("decision_state", "{}")),
                saved_at=float(saved) if saved else None,
            )

        return self._run(run)

    def lease_holder(self) -> str | None:
        """The HA active holding a live lease on this database, if any (store/pg_fence.py)."""
        row = self._run(
            lambda conn: conn.execute(
                "SELECT holder FROM ha_lease WHERE name = %s AND expires_at > clock_timestamp()",
                (LEASE_NAME,),
            ).fetchone()
        )
        return str(row[0]) if row else None

    # --- queries -------------------------------------------------------------------

    # -- maintenance windows and the control journal --------------------------------

    def add_window(self, window: Window) -> int:
        def run(conn: Conn) -> int:
            row = conn.execute(
                'INSERT INTO maintenance_windows (provider, start, "end", drain, reason, '
                "created) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (window.provider, window.start, window.end, window.drain, window.reason,
                 window.created),
            ).fetchone()  # fmt: skip
            assert row is not None
            return int(row[0])

        window_id = self._timed(run)
        self.metrics.rows_written += 1
        return window_id

    def windows(self, ending_after: float | None = None) -> list[Window]:
        where, params = ("", []) if ending_after is None else (' WHERE "end" > %s', [ending_after])
        rows = self._select(
            f'SELECT provider, start, "end", drain, reason, id, created FROM maintenance_windows'
            f"{where} ORDER BY start, id",
            params,
        )
        return [_window(r) for r in rows]

    def save_incident(self, incident: Mapping[str, Any]) -> None:
        row = _incident_row(incident)

        def run(conn: Conn) -> None:
            conn.execute(_INCIDENT_UPSERT, row)

        self._timed(run)
        self.metrics.rows_written += 1

    def incidents(self, since: float | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        where, params = ("", []) if since is None else (
            " WHERE closed IS NULL OR closed >= %s", [since])  # fmt: skip
        rows = self._select(
            f"SELECT body FROM incidents{where} ORDER BY id DESC LIMIT %s", [*params, int(limit)]
        )
        return [json.loads(body) for (body,) in rows]

    def save_trace(self, trace: Mapping[str, Any], keep: int) -> None:
        row = trace_row(trace)

        def run(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO traces (time, prefix, provider, body) VALUES (%s, %s, %s, %s)", row
            )
            conn.execute(TRACES_BEYOND, (*row[1:3], *row[1:3], keep))

        self._timed(run)
        self.metrics.rows_written += 1

    def traces(
        self, prefix: str | None = None, provider: str | None = None
    ) -> list[dict[str, Any]]:
        rows = self._select(*trace_query(prefix, provider))
        return [json.loads(body) for (body,) in rows]

    def end_window(self, window_id: int, at: float) -> Window | None:
        def run(conn: Conn) -> tuple[Any, ...] | None:
            return conn.execute(
                'UPDATE maintenance_windows SET "end" = least("end", %s) WHERE id = %s '
                'RETURNING provider, start, "end", drain, reason, id, created',
                (at, window_id),
            ).fetchone()

        row = self._timed(run)
        return _window(row) if row else None

    def append_event(self, event: ControlEvent) -> int:
        def run(conn: Conn) -> int:
            row = conn.execute(
                "INSERT INTO control_events (time, kind, detail) VALUES (%s, %s, %s) RETURNING id",
                (event.time, event.kind, event.detail),
            ).fetchone()
            assert row is not None
            return int(row[0])

        event_id = self._timed(run)
        self.metrics.rows_written += 1
        return event_id

    def events(self, q: Query) -> list[ControlEvent]:
        where, params = _where(q, "time")
        rows = self._select(
            f"SELECT time, kind, detail, id FROM control_events{where} "
            f"ORDER BY time DESC, id DESC{_limit(q, params)}",
            params,
        )
        return [ControlEvent(*r) for r in rows]

    def _select(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._run(lambda conn: conn.execute(sql, params).fetchall())

    def traffic(self, q: Query) -> list[TrafficRow]:
        where, params = _where(q, "time", prefix=True, provider="provider")
        rows = self._select(
            f"SELECT {TRAFFIC_COLUMNS} FROM traffic{where} ORDER BY time{_limit(q, params)}",
            params,
        )
        return [TrafficRow(*r) for r in rows]

    def provider_traffic(self, q: Query) -> list[ProviderRow]:
        where, params = _where(q, "time", provider="provider")
        if q.window_s is not None:
            where += (" AND" if where else " WHERE") + " window_s = %s"
            params.append(float(q.window_s))
        rows = self._select(
            f"SELECT {PROVIDER_COLUMNS} FROM provider_traffic{where} "
            f"ORDER BY time{_limit(q, params)}",
            params,
        )
        return [ProviderRow(*r) for r in rows]

    def probe_rollups(self, q: Query) -> list[ProbeRollup]:
        where, params = _where(q, "minute", prefix=True, provider="provider")
        rows = self._select(
            f"SELECT {PROBE_COLUMNS} FROM probes{where} ORDER BY minute{_limit(q, params)}",
            params,
        )
        return [ProbeRollup(*r[:6], *(_nan(x) for x in r[6:])) for r in rows]

    def utilization(self, q: Query) -> list[UtilizationSample]:
        where, params = _where(q, "time", provider="provider")
        rows = self._select(
            f"SELECT {UTILIZATION_COLUMNS} FROM utilization{where} "
            f"ORDER BY time{_limit(q, params)}",
            params,
        )
        return [UtilizationSample(*r) for r in rows]

    def decisions(self, q: Query) -> list[JournalEntry]:
        where, params = _where(q, "time", prefix=True, provider="journal", reason=True)
        cols = ", ".join(("id", *JOURNAL_COLUMNS))
        rows = self._select(
            f"SELECT {cols} FROM decisions{where} ORDER BY time DESC, id DESC{_limit(q, params)}",
            params,
        )
        return [JournalEntry(**dict(zip(("id", *JOURNAL_COLUMNS), r, strict=True))) for r in rows]

    def decision_counts(self, q: Query) -> dict[str, int]:
        where, params = _where(q, "time", prefix=True, provider="journal")
        rows = self._select(
            f"SELECT reason, COUNT(*) FROM decisions{where} GROUP BY reason", params
        )
        return {reason: int(n) for reason, n in rows}

    def probe_series(self, q: Query, step_s: float) -> list[ProbePoint]:
        where, params = _where(q, "minute", prefix=True, provider="provider")
        step = float(step_s)
        # Providers sort by code point (COLLATE "C"), as in the SQLite and memory stores,
        # whatever the database's locale.
        sql = (
            "SELECT floor(minute / %s) * %s AS bucket, provider, "
            "SUM(CASE WHEN rtt_median_ms IS NOT NULL THEN rtt_median_ms * answered END), "
            "SUM(CASE WHEN rtt_median_ms IS NOT NULL THEN answered END), "
            "MAX(rtt_p90_ms), SUM(sent), SUM(answered) "
            f'FROM probes{where} GROUP BY bucket, provider ORDER BY bucket, provider COLLATE "C"'
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
        statements: dict[str, tuple[str, tuple[float, ...]]] = {
            "traffic": ("DELETE FROM traffic WHERE time < %s", (cut,)),
            "provider_traffic": (
                "DELETE FROM provider_traffic WHERE time < CASE WHEN window_s >= 300 "
                "THEN %s ELSE %s END",
                (bill_cut, cut),
            ),
            "probes": ("DELETE FROM probes WHERE minute < %s", (cut,)),
            "utilization": ("DELETE FROM utilization WHERE time < %s", (cut,)),
            "decisions": ("DELETE FROM decisions WHERE time < %s", (cut,)),
            "traces": ("DELETE FROM traces WHERE time < %s", (cut,)),
        }

        # Autovacuum reclaims the space of the deleted rows; nothing to truncate by hand.
        def run(conn: Conn) -> dict[str, int]:
            return {
                name: conn.execute(sql, args).rowcount for name, (sql, args) in statements.items()
            }

        counts = self._timed(run)
        self.metrics.pruned_rows += sum(counts.values())
        return counts


def _where(
    q: Query,
    time_col: str,
    *,
    prefix: bool = False,
    provider: str | None = None,
    reason: bool = False,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if q.since is not None:
        clauses.append(f"{time_col} >= %s")
        params.append(q.since)
    if q.until is not None:
        clauses.append(f"{time_col} < %s")
        params.append(q.until)
    if prefix and q.prefix is not None:
        clauses.append("prefix = %s")
        params.append(q.prefix)
    if provider == "journal" and q.provider is not None:
        clauses.append("(from_provider = %s OR to_provider = %s)")
        params += [q.provider, q.provider]
    elif provider and q.provider is not None:
        clauses.append(f"{provider} = %s")
        params.append(q.provider)
    if reason and q.reason is not None:
        clauses.append("reason = %s")
        params.append(q.reason)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _limit(q: Query, params: list[Any]) -> str:
    if q.limit is None:
        return ""
    params.append(int(q.limit))
    return " LIMIT %s"


def _window(row: tuple[Any, ...]) -> Window:
    provider, start, end, drain, reason, window_id, created = row
    return Window(provider, start, end, bool(drain), reason, int(window_id), None, created)


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
