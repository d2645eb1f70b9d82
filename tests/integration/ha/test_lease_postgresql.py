"""The lease and the fence on a real PostgreSQL: one holder, a growing epoch, and a
deposed active's writes refused by the database itself."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from routepilot.ha import PgLease
from routepilot.store import StoreConfig
from routepilot.store.base import ControllerState, FencedWrite
from routepilot.store.pg_schema import migrate
from routepilot.store.postgresql import PostgresStore


class Epoch:
    """A fence that claims whatever epoch the test says (as a deposed active would)."""

    def __init__(self, epoch: int | None, holder: str = "a") -> None:
        self.epoch = epoch
        self.name = holder

    def write_epoch(self) -> int | None:
        return self.epoch

    def holder(self) -> str:
        return self.name


def _expire(lease: PgLease, node: str, lease_s: float) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = lease.acquire(node, lease_s, "")
        if state.held:
            return
        time.sleep(0.05)
    raise AssertionError("the lease never expired")


def test_one_holder_epoch_grows_and_stale_writes_are_refused(pg_config: StoreConfig) -> None:
    store_a = PostgresStore.open(pg_config)
    store_b = PostgresStore.open(pg_config)
    a, b = PgLease(pg_config, 2.0), PgLease(pg_config, 2.0)
    try:
        first = a.acquire("a", 0.5, "http://a")
        assert first.held and first.holder == "a" and first.epoch == 1
        other = b.acquire("b", 0.5, "http://b")
        assert not other.held and other.holder == "a"
        assert {p.node for p in other.peers} == {"a", "b"}

        store_a.fence = Epoch(1)
        store_a.save_state(ControllerState(pins={"198.18.1.0/24": "isp1"}))

        _expire(b, "b", 30.0)  # b takes the lease once a's expired: epoch 2
        assert b.renew("b", 2, 30.0, "").held
        assert not a.renew("a", 1, 30.0, "").held

        # a still believes it holds epoch 1: the database refuses its write.
        with pytest.raises(FencedWrite, match="epoch 1 is stale"):
            store_a.save_state(ControllerState(pins={"198.18.2.0/24": "isp2"}))
        assert dict(store_b.load_state().pins) == {"198.18.1.0/24": "isp1"}
        store_b.fence = Epoch(2, "b")
        store_b.save_state(ControllerState(pins={"198.18.3.0/24": "isp3"}))
        assert dict(store_a.load_state().pins) == {"198.18.3.0/24": "isp3"}

        # A standby does not even ask.
        store_a.fence = Epoch(None, "b")
        with pytest.raises(FencedWrite, match=r"standby; only the active \(b\)"):
            store_a.write_billing_rows([])
        assert store_a.metrics.write_errors == 1  # the refused epoch 1 only
    finally:
        for x in (a, b):
            x.close()
        store_a.close()
        store_b.close()


def test_takeover_waits_for_the_old_actives_write_in_flight(pg_config: StoreConfig) -> None:
    """A write that passed the check commits before the new epoch begins, never after."""
    PostgresStore.open(pg_config).close()
    a, b = PgLease(pg_config, 5.0), PgLease(pg_config, 5.0)
    assert a.acquire("a", 0.3, "").held
    kwargs = {"password": Path(pg_config.password_file or "").read_text().strip()}
    order: list[str] = []
    with psycopg.connect(pg_config.dsn, **kwargs) as conn:
        conn.execute("SELECT set_config('routepilot.epoch', '1', true)")
        conn.execute("INSERT INTO exclusions VALUES ('198.18.9.0/24')")  # the lease row locked
        time.sleep(0.4)  # a's lease is expired now, its write still open

        def take() -> None:
            state = b.acquire("b", 30.0, "")
            order.append(f"takeover held={state.held} epoch={state.epoch}")

        thread = threading.Thread(target=take)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the takeover did not wait for the write in flight"
        order.append("write committed")
        conn.commit()
        thread.join(5)
    assert order == ["write committed", "takeover held=True epoch=2"]
    a.close()
    b.close()


def test_tables_of_later_migrations_are_fenced_too(pg_config: StoreConfig) -> None:
    """A table another migration adds gets the trigger at the next start."""
    PostgresStore.open(pg_config).close()
    kwargs = {"password": Path(pg_config.password_file or "").read_text().strip()}
    with psycopg.connect(pg_config.dsn, **kwargs) as conn:
        conn.execute("CREATE TABLE a_later_feature (id int)")
        conn.commit()
        migrate(conn, "test")
        conn.commit()
        rows = conn.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = 'routepilot_fence' AND c.relname = 'a_later_feature'"
        ).fetchall()
        assert rows == [("a_later_feature",)]
        conn.execute("SELECT set_config('routepilot.epoch', '7', true)")
        with pytest.raises(psycopg.Error, match="write fenced off"):
            conn.execute("INSERT INTO a_later_feature VALUES (1)")
