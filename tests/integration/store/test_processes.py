"""The SQLite store across real processes: a reader beside the writer, and a writer
killed with SIGKILL in the middle of its writes (the file must stay whole)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

from routepilot.decide import Active, DecisionState, Reason
from routepilot.flows.sink import TrafficRow
from routepilot.store import ControllerState, Query, SqliteStore, StoreConfig

T0 = 1_700_000_000.0


def _writer(path: str, ready, batches: int) -> None:  # noqa: ANN001
    store = SqliteStore.open(StoreConfig(path=path))
    store.save_state(
        ControllerState(
            pins={"198.18.0.0/24": "b"},
            decision=DecisionState(active={"198.18.1.0/24": Active("c", Reason.LOSS, T0)}),
        )
    )
    ready.set()
    for b in range(batches):
        store.write_traffic(
            [TrafficRow(T0 + b, 60.0, f"p{i % 50}", "a", 1.0, 1.0) for i in range(1000)]
        )
    store.close()


def _reader(path: str, out, stop) -> None:  # noqa: ANN001
    store = SqliteStore.open_readonly(StoreConfig(path=path))
    counts = []
    while not stop.is_set():
        counts.append(len(store.traffic(Query(prefix="p7"))))
    store.close()
    out.put(counts)


def _wait_for_rows(path: str, at_least: int, timeout_s: float) -> int:
    """Polls a read-only connection until the table holds ``at_least`` rows; returns the count."""
    store = SqliteStore.open_readonly(StoreConfig(path=path))
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            count = len(store.traffic(Query()))
            if count >= at_least:
                return count
            assert time.monotonic() < deadline, f"only {count} rows after {timeout_s} s"
            time.sleep(0.01)
    finally:
        store.close()


def test_reader_process_beside_writer_process(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    path = str(tmp_path / "rp.db")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    writer = ctx.Process(target=_writer, args=(path, ready, 200))
    writer.start()
    assert ready.wait(30)
    reader = ctx.Process(target=_reader, args=(path, out, stop))
    reader.start()
    writer.join(60)
    stop.set()
    counts = out.get(timeout=30)
    reader.join(30)
    assert writer.exitcode == 0 and reader.exitcode == 0
    assert counts == sorted(counts)  # never a partial batch, never going back
    assert all(c % 20 == 0 for c in counts)  # each batch adds 20 rows for p7


def test_sigkill_mid_write_leaves_a_whole_database(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    path = str(tmp_path / "rp.db")
    ready = ctx.Event()
    writer = ctx.Process(target=_writer, args=(path, ready, 100_000))
    writer.start()
    assert ready.wait(30)
    # Kill it once a few batches are committed (seen from another connection), while it
    # is still writing: the kill lands between or inside later batches.
    seen = _wait_for_rows(path, at_least=3000, timeout_s=30)
    assert writer.is_alive(), "the writer finished before it could be killed mid-write"
    os.kill(writer.pid, signal.SIGKILL)
    writer.join(30)
    assert writer.exitcode == -signal.SIGKILL
    # The lock died with the process: a new writer opens at once, state is back.
    store = SqliteStore.open(StoreConfig(path=path))
    state = store.load_state()
    assert state.pins == {"198.18.0.0/24": "b"}
    assert state.decision.active["198.18.1.0/24"].reason is Reason.LOSS
    rows = store.traffic(Query())
    assert len(rows) % 1000 == 0  # whole batches only
    assert len(rows) >= seen > 0  # and every batch committed before the kill is there
    assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()
