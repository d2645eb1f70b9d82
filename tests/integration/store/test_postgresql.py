"""PostgreSQL specifics: migrations, restart, passwords, clear errors, readers, the pool."""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
import pytest
from tests.integration.store.pgserver import PgServer

from routepilot.decide import Active, DecisionState, Reason
from routepilot.flows.sink import TrafficRow
from routepilot.store import (
    AsyncStore,
    ControllerState,
    JournalEntry,
    Query,
    StoreConfig,
    StoreError,
    open_store,
)
from routepilot.store.pg_schema import MIGRATIONS, VERSION, VERSION_TABLE
from routepilot.store.postgresql import PostgresStore

T0 = 1_700_000_000.0


def admin(server: PgServer, schema: str) -> psycopg.Connection:
    return psycopg.connect(
        server.dsn(options=f"-csearch_path={schema}"), password=server.password, autocommit=True
    )


def test_open_store_chooses_postgresql_and_survives_a_restart(pg_config: StoreConfig) -> None:
    state = ControllerState(
        pins={"198.18.0.0/24": "b"},
        injections={"198.18.2.0/24": "c"},
        decision=DecisionState(active={"198.18.2.0/24": Active("c", Reason.LATENCY, T0)}),
    )
    store = open_store(pg_config)
    assert isinstance(store, PostgresStore)
    store.save_state(state)
    store.append_decisions([JournalEntry(T0, "198.18.2.0/24", "a", "c", "a", "latency", 1e6)])
    store.close()
    store = open_store(pg_config)
    assert store.load_state() == state
    assert store.decisions(Query())[0].to_provider == "c"
    store.close()


def test_schema_version_recorded_once_and_reopening_is_idempotent(
    pg_server: PgServer, pg_schema: str, pg_config: StoreConfig
) -> None:
    # Two instances starting at once: the advisory lock lets one migrate, the other waits.
    errors: list[BaseException] = []
    stores: list[PostgresStore] = []

    def start() -> None:
        try:
            stores.append(PostgresStore.open(pg_config))
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(stores) == 2
    stores[0].write_traffic([TrafficRow(T0, 60.0, "p", "a", 1.0, 1.0)])
    for s in stores:
        s.close()
    PostgresStore.open(pg_config).close()
    with admin(pg_server, pg_schema) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
        assert versions == list(range(1, VERSION + 1)) and len(MIGRATIONS) == VERSION
        assert conn.execute("SELECT count(*) FROM traffic").fetchone() == (1,)


def test_a_journal_from_before_the_incident_as_and_jitter_reads_back_with_nulls(
    pg_server: PgServer, pg_schema: str, pg_config: StoreConfig
) -> None:
    """A database at version 7 (the journal without incident_asn and the jitter), as an
    older routepilot left it, gets the columns; its rows read back with None there."""
    with admin(pg_server, pg_schema) as conn, conn.transaction():
        conn.execute(VERSION_TABLE)
        for number, script in enumerate(MIGRATIONS[:7], start=1):
            conn.execute(script)
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        conn.execute(
            "INSERT INTO decisions (time, prefix, from_provider, to_provider, "
            "default_provider, reason, traffic_bps, old_rtt_ms) "
            "VALUES (%s, 'p', 'a', 'b', 'a', 'jitter', 5, 30.0)",
            (T0,),
        )
    store = PostgresStore.open(pg_config)
    try:
        (old,) = store.decisions(Query())
        assert (old.reason, old.old_rtt_ms) == ("jitter", 30.0)
        assert (old.incident_asn, old.old_jitter_ms, old.new_jitter_ms) == (None, None, None)
        new = JournalEntry(T0 + 60, "q", "a", "c", "a", "as_incident", 5.0,
                           incident_asn=4_200_000_001, old_jitter_ms=2.5)  # fmt: skip
        store.append_decisions([new])
        got = store.decisions(Query(prefix="q"))[0]
        assert (got.incident_asn, got.old_jitter_ms, got.new_jitter_ms) == (
            4_200_000_001,
            2.5,
            None,
        )
    finally:
        store.close()
    with admin(pg_server, pg_schema) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
        assert versions == list(range(1, VERSION + 1))


def test_newer_schema_and_foreign_tables_are_refused(
    pg_server: PgServer, pg_schema: str, pg_config: StoreConfig
) -> None:
    with admin(pg_server, pg_schema) as conn:
        conn.execute("CREATE TABLE customers (id integer)")
    with pytest.raises(StoreError, match=r"another program's tables \(customers\)"):
        PostgresStore.open(pg_config)
    with admin(pg_server, pg_schema) as conn:
        conn.execute("DROP TABLE customers")
    PostgresStore.open(pg_config).close()
    with admin(pg_server, pg_schema) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (VERSION + 7,))
    with pytest.raises(StoreError, match=f"schema version {VERSION + 7} is newer"):
        PostgresStore.open(pg_config)


def test_password_from_environment_variable(
    pg_server: PgServer, pg_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = pg_config.model_copy(update={"password_file": None, "password_env": "RP_TEST_PGPW"})
    monkeypatch.setenv("RP_TEST_PGPW", pg_server.password)
    PostgresStore.open(cfg).close()
    monkeypatch.delenv("RP_TEST_PGPW")
    with pytest.raises(StoreError, match="RP_TEST_PGPW .* is not set"):
        PostgresStore.open(cfg)


def test_wrong_password_and_dead_server_give_clear_errors(
    pg_server: PgServer, pg_config: StoreConfig, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    wrong = tmp_path / "pw"
    wrong.write_text("not-the-password\n")
    cfg = pg_config.model_copy(update={"password_file": str(wrong)})
    with pytest.raises(StoreError) as info:
        PostgresStore.open(cfg)
    text = str(info.value)
    assert "password authentication failed" in text and pg_server.dsn() in text
    assert "not-the-password" not in text and pg_server.password not in text
    # A port nobody listens on: refused at once, not after the whole timeout.
    closed = pg_config.model_copy(update={"dsn": pg_server.dsn().replace(str(pg_server.port), "1")})
    with pytest.raises(StoreError, match="cannot reach or log in"):
        PostgresStore.open(closed)
    with pytest.raises(StoreError, match="cannot read the PostgreSQL password"):
        PostgresStore.open(pg_config.model_copy(update={"password_file": str(tmp_path / "no")}))


def test_readonly_reader_reads_and_refuses_writes(pg_config: StoreConfig) -> None:
    with pytest.raises(StoreError, match="schema version 0, this routepilot reads"):
        PostgresStore.open_readonly(pg_config)
    writer = PostgresStore.open(pg_config)
    writer.write_traffic([TrafficRow(T0, 60.0, "p", "a", 1.0, 1.0)])
    reader = PostgresStore.open_readonly(pg_config)
    assert len(reader.traffic(Query())) == 1
    with pytest.raises(StoreError, match="read-only"):
        reader.write_traffic([TrafficRow(T0, 60.0, "p", "a", 1.0, 1.0)])
    assert reader.metrics.write_errors == 1
    reader.close()
    writer.close()


def test_threads_share_the_pool_and_every_batch_lands_whole(pg_config: StoreConfig) -> None:
    store = PostgresStore.open(pg_config.model_copy(update={"pool_size": 3}))
    seen: list[int] = []

    def write(k: int) -> None:
        for b in range(20):
            store.write_traffic(
                [TrafficRow(T0 + b, 60.0, f"p{k}", "a", 1.0, 1.0) for _ in range(500)]
            )
            seen.append(len(store.traffic(Query(prefix=f"p{k}"))))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(store.traffic(Query())) == 6 * 20 * 500
    assert all(n % 500 == 0 for n in seen)  # never a partial batch
    assert store.metrics.rows_written == 6 * 20 * 500
    store.close()


def test_the_daemon_path_through_async_store(pg_config: StoreConfig) -> None:
    async def main() -> list[TrafficRow]:
        store = AsyncStore(open_store(pg_config))
        await store.start()
        sink = store.sink()
        sink.write_traffic([TrafficRow(T0 + i, 60.0, "p", "a", 1.0, 1.0) for i in range(100)])
        rows = await store.traffic(Query(since=T0 + 90))
        await store.stop()
        assert sink.errors == 0
        return rows

    assert [r.time for r in asyncio.run(main())] == [T0 + i for i in range(90, 100)]


def test_binary_copy_takes_ints_and_numpy_scalars(pg_config: StoreConfig) -> None:
    import numpy as np

    store = PostgresStore.open(pg_config)
    store.write_traffic(
        [
            TrafficRow(T0, 60, "p", "a", 5, 1),
            TrafficRow(np.float64(T0 + 60), 60.0, "p", None, np.float64(2.5), np.int64(3)),
        ]
    )
    rows = store.traffic(Query(prefix="p"))
    assert [(r.time, r.bytes, r.packets, r.provider) for r in rows] == [
        (T0, 5.0, 1.0, "a"),
        (T0 + 60, 2.5, 3.0, None),
    ]
    store.close()


def test_the_store_recovers_from_a_server_restart_without_a_failed_write(
    pg_config: StoreConfig,
) -> None:
    # Its own server: restarting the session's would cut every other test's connections.
    with PgServer() as server:
        cfg = pg_config.model_copy(
            update={"dsn": server.dsn(), "password_file": str(server.password_file())}
        )
        store = PostgresStore.open(cfg.model_copy(update={"pool_size": 2}))
        store.write_traffic([TrafficRow(T0, 60.0, "p", "a", 1.0, 1.0)])
        server.restart()
        # The pooled connection died with the server: it is checked, dropped and
        # replaced before use, so neither call fails.
        store.write_traffic([TrafficRow(T0 + 60, 60.0, "p", "a", 1.0, 1.0)])
        assert [r.time for r in store.traffic(Query())] == [T0, T0 + 60]
        assert store.metrics.write_errors == 0
        store.close()


def test_writes_fail_clearly_while_the_server_is_down_and_resume_after(
    pg_config: StoreConfig,
) -> None:
    with PgServer() as server:
        cfg = pg_config.model_copy(
            update={
                "dsn": server.dsn(),
                "password_file": str(server.password_file()),
                "connect_timeout_s": 2.0,
            }
        )
        store = PostgresStore.open(cfg)
        server.halt()
        t0 = time.monotonic()
        with pytest.raises(StoreError, match="no database connection within 2s"):
            store.write_traffic([TrafficRow(T0, 60.0, "p", "a", 1.0, 1.0)])
        assert time.monotonic() - t0 < 10
        assert store.metrics.write_errors == 1 and store.metrics.rows_written == 0
        server.resume()
        store.write_traffic([TrafficRow(T0 + 60, 60.0, "p", "a", 1.0, 1.0)])
        assert [r.time for r in store.traffic(Query())] == [T0 + 60]
        store.close()
