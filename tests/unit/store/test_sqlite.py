"""SQLite specifics: restart, migrations, WAL and a concurrent reader, bad files, locks."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from tests.samples import value

from routepilot.decide import Active, DecisionState, Reason
from routepilot.flows.sink import TrafficRow
from routepilot.store import ControllerState, JournalEntry, Query, SqliteStore, StoreConfig
from routepilot.store import StoreError as Err
from routepilot.store.schema import MIGRATIONS, VERSION

T0 = 1_700_000_000.0


def cfg(tmp_path: Path, **kw) -> StoreConfig:
    return StoreConfig(path=str(tmp_path / "rp.db"), **kw)


def test_restart_survival(tmp_path: Path) -> None:
    state = ControllerState(
        pins={"198.18.0.0/24": "b"},
        exclusions=frozenset({"198.18.1.0/24"}),
        injections={"198.18.2.0/24": "c"},
        decision=DecisionState(
            active={"198.18.2.0/24": Active("c", Reason.LATENCY, T0)},
            last_move={"198.18.2.0/24": T0},
        ),
    )
    s = SqliteStore.open(cfg(tmp_path))
    s.save_state(state)
    s.append_decisions([JournalEntry(T0, "198.18.2.0/24", "a", "c", "a", "latency", 1e6)])
    s.close()
    s = SqliteStore.open(cfg(tmp_path))
    assert s.load_state() == state
    assert s.decisions(Query())[0].to_provider == "c"
    s.close()


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    SqliteStore.open(cfg(tmp_path)).close()
    conn = sqlite3.connect(tmp_path / "rp.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == VERSION
    conn.close()


def test_migrates_an_old_database_keeping_its_rows(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "rp.db")
    conn.executescript(MIGRATIONS[0])
    conn.execute(
        "INSERT INTO decisions (time, prefix, from_provider, to_provider, default_provider, "
        "reason, traffic_bps) VALUES (?, 'p', 'a', 'b', 'a', 'loss', 5)",
        (T0,),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    s = SqliteStore.open(cfg(tmp_path))
    (e,) = s.decisions(Query())
    assert e.reason == "loss" and e.after_rtt_ms is None
    s.record_outcome(e.id, T0 + 60, 10.0, 0.0)
    s.close()


def test_a_journal_from_before_the_incident_as_and_jitter_reads_back_with_nulls(
    tmp_path: Path,
) -> None:
    """A database at version 7 (the journal without incident_asn and the jitter) gets the
    columns; its rows read back with None there, and new rows keep them."""
    conn = sqlite3.connect(tmp_path / "rp.db")
    for script in MIGRATIONS[:7]:
        conn.executescript(script)
    conn.execute(
        "INSERT INTO decisions (time, prefix, from_provider, to_provider, default_provider, "
        "reason, traffic_bps, old_rtt_ms, new_rtt_ms) "
        "VALUES (?, 'p', 'a', 'b', 'a', 'as_incident', 5, 30.0, 31.0)",
        (T0,),
    )
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    s = SqliteStore.open(cfg(tmp_path))
    (old,) = s.decisions(Query())
    assert (old.reason, old.old_rtt_ms, old.new_rtt_ms) == ("as_incident", 30.0, 31.0)
    assert (old.incident_asn, old.old_jitter_ms, old.new_jitter_ms) == (None, None, None)
    new = JournalEntry(T0 + 60, "q", "a", "c", "a", "as_incident", 5.0, incident_asn=64601,
                       old_jitter_ms=2.5, new_jitter_ms=0.5)  # fmt: skip
    s.append_decisions([new])
    got = s.decisions(Query(prefix="q"))[0]
    assert (got.incident_asn, got.old_jitter_ms, got.new_jitter_ms) == (64601, 2.5, 0.5)
    s.close()
    conn = sqlite3.connect(tmp_path / "rp.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == VERSION
    conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    SqliteStore.open(cfg(tmp_path)).close()
    conn = sqlite3.connect(tmp_path / "rp.db")
    conn.execute(f"PRAGMA user_version = {VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(Err, match="newer than this routepilot"):
        SqliteStore.open(cfg(tmp_path))


def test_corrupt_file_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "rp.db").write_bytes(b"this is not a database at all\n" * 200)
    with pytest.raises(Err, match="not a usable SQLite database or is corrupt"):
        SqliteStore.open(cfg(tmp_path))
    # The lock is released: after moving the file aside, it opens.
    (tmp_path / "rp.db").rename(tmp_path / "rp.db.bad")
    SqliteStore.open(cfg(tmp_path)).close()


def test_truncated_database_gives_a_clear_error(tmp_path: Path) -> None:
    s = SqliteStore.open(cfg(tmp_path))
    s.write_traffic([TrafficRow(T0 + i, 60.0, f"p{i}", "a", 1.0, 1.0) for i in range(5000)])
    s.close()
    raw = (tmp_path / "rp.db").read_bytes()
    (tmp_path / "rp.db").write_bytes(raw[:100] + b"\xff" * 4000 + raw[4100:])
    for f in tmp_path.glob("rp.db-*"):
        f.unlink()
    with pytest.raises(Err, match="rp.db"):
        s = SqliteStore.open(cfg(tmp_path))
        s.traffic(Query())


def test_second_writer_is_refused(tmp_path: Path) -> None:
    s = SqliteStore.open(cfg(tmp_path))
    with pytest.raises(Err, match="another routepilot process is using this database"):
        SqliteStore.open(cfg(tmp_path))
    s.close()
    SqliteStore.open(cfg(tmp_path)).close()


def test_locked_by_another_program_gives_a_clear_error(tmp_path: Path) -> None:
    s = SqliteStore.open(cfg(tmp_path, busy_timeout_s=0.2))
    other = sqlite3.connect(tmp_path / "rp.db", timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(Err, match="locked by another process"):
        s.write_traffic([TrafficRow(T0, 60.0, "p", "a", 1.0, 1.0)])
    other.rollback()
    other.close()
    s.write_traffic([TrafficRow(T0, 60.0, "p", "a", 1.0, 1.0)])
    assert value(s.metrics, "routepilot_store_write_errors_total") == 1
    assert value(s.metrics, "routepilot_store_rows_written_total") == 1
    assert value(s.metrics, "routepilot_store_database_bytes") > 0  # type: ignore[operator]
    s.close()


def test_reader_beside_a_writer(tmp_path: Path) -> None:
    writer = SqliteStore.open(cfg(tmp_path))
    reader = SqliteStore.open_readonly(cfg(tmp_path))
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                seen.append(len(reader.traffic(Query(prefix="p1"))))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=read)
    t.start()
    for batch in range(20):
        writer.write_traffic(
            [TrafficRow(T0 + batch * 1000 + i, 60.0, f"p{i % 5}", "a", 1, 1) for i in range(500)]
        )
    stop.set()
    t.join()
    assert not errors
    assert seen == sorted(seen)  # a reader sees whole batches, in order
    assert len(reader.traffic(Query(prefix="p1"))) == 2000
    with pytest.raises(Err):
        reader.write_traffic([TrafficRow(T0, 60.0, "p", "a", 1.0, 1.0)])
    reader.close()
    writer.close()


def test_readonly_open_of_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(Err, match="no such database"):
        SqliteStore.open_readonly(cfg(tmp_path))


def test_impossible_path_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("x")
    with pytest.raises(Err, match="cannot create its directory"):
        SqliteStore.open(StoreConfig(path=str(tmp_path / "plain-file" / "rp.db")))


def test_a_batch_of_inserts_is_one_transaction(tmp_path: Path) -> None:
    """100k rows in one commit, not one each (their time is bench/store's to measure)."""
    s = SqliteStore.open(cfg(tmp_path))
    statements: list[str] = []
    s._conn.set_trace_callback(statements.append)
    rows = [
        TrafficRow(T0, 60.0, f"198.18.{i >> 8}.{i & 255}", "a", 1e6, 1e3) for i in range(100_000)
    ]
    s.write_traffic(rows)
    s._conn.set_trace_callback(None)
    assert sum(st.upper().startswith("COMMIT") for st in statements) == 1, statements[-3:]
    assert len(s.traffic(Query(prefix="198.18.3.7"))) == 1
    assert len(s.traffic(Query())) == 100_000
    s.close()


def test_reader_after_the_writer_closed(tmp_path: Path) -> None:
    s = SqliteStore.open(cfg(tmp_path))
    s.write_traffic([TrafficRow(T0, 60.0, "p", "a", 1.0, 1.0)])
    s.close()
    r = SqliteStore.open_readonly(cfg(tmp_path))
    assert len(r.traffic(Query())) == 1
    r.close()


def test_prune_beside_a_reader(tmp_path: Path) -> None:
    s = SqliteStore.open(cfg(tmp_path))
    s.write_traffic([TrafficRow(T0 + i, 60.0, "p", "a", 1.0, 1.0) for i in range(100)])
    r = SqliteStore.open_readonly(cfg(tmp_path))
    assert len(r.traffic(Query())) == 100
    assert s.prune(T0 + 30 * 86400 + 50)["traffic"] == 50
    assert len(r.traffic(Query())) == 50
    r.close()
    s.close()


def test_database_of_another_program_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "rp.db")
    conn.execute("CREATE TABLE customers (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(Err, match="database of another program"):
        SqliteStore.open(cfg(tmp_path))
