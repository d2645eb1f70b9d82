"""The lease in PostgreSQL: one row (holder, epoch, expiry on the server's clock) and the
instances' heartbeats, on a connection of its own.

Why a row and not an advisory lock: a session advisory lock dies with its
session, so whether the active still holds it depends on when the server
notices a dead TCP connection (minutes to hours without keepalives), and the
active cannot tell by itself how long it still holds it once the link is cut.
A lease with an expiry on one clock (the server's) gives both sides a bound: the
active stops announcing ``lease_s - margin_s`` after its last successful
renewal *was sent* (its own monotonic clock, no clock comparison between
hosts), and a standby may take over only once the server's clock passed the
expiry, which was set after that. The epoch fences the store's writes
(store/pg_fence.py).

Every call runs in one short transaction; the caller (``ha/leader.py``) runs
them on a thread of their own, so a hung link never blocks the event loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg

from routepilot.store.base import StoreError
from routepilot.store.config import StoreConfig
from routepilot.store.pg_connect import connect_kwargs, guard
from routepilot.store.pg_fence import LEASE_NAME

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class Peer:
    """An instance as its last heartbeat described it."""

    node: str
    role: str
    epoch: int
    api_url: str
    seen_at: float
    """Server time of its last heartbeat (seconds since the epoch)."""


@dataclass(frozen=True)
class LeaseState:
    """The lease after one call."""

    holder: str | None
    """Who holds it (None: nobody ever took it)."""
    epoch: int
    expires_at: float
    """Server time (seconds since the epoch)."""
    now: float
    """The server's clock when it answered."""
    held: bool
    """Whether the caller holds it after the call."""
    peers: tuple[Peer, ...] = ()


class LeaseBackend(Protocol):
    """The lease's storage; :class:`PgLease` for real, ``ha/fake.py`` for tests."""

    def acquire(self, node: str, lease_s: float, api_url: str) -> LeaseState:
        """Takes the lease if it is free or expired (the epoch grows); else reads it."""
        ...

    def renew(self, node: str, epoch: int, lease_s: float, api_url: str) -> LeaseState:
        """Extends the lease if ``node`` still holds it at ``epoch``; ``held`` False if not."""
        ...

    def release(self, node: str, epoch: int) -> None:
        """Ends the lease now, if still ours (after a graceful withdrawal)."""
        ...

    def close(self) -> None: ...


_UPSERT_NODE = (
    "INSERT INTO ha_nodes (node, api_url, role, epoch, seen_at) "
    "VALUES (%s, %s, %s, %s, clock_timestamp()) ON CONFLICT (node) DO UPDATE SET "
    "api_url = EXCLUDED.api_url, role = EXCLUDED.role, epoch = EXCLUDED.epoch, "
    "seen_at = EXCLUDED.seen_at"
)
_PEERS = (
    "SELECT node, role, epoch, api_url, extract(epoch FROM seen_at) FROM ha_nodes "
    'ORDER BY node COLLATE "C"'
)
_READ = (
    "SELECT holder, epoch, extract(epoch FROM expires_at), "
    "extract(epoch FROM clock_timestamp()), expires_at < clock_timestamp() "
    "FROM ha_lease WHERE name = %s"
)


class PgLease:
    """The lease on its own connection (autocommit off; one transaction a call)."""

    def __init__(self, config: StoreConfig, lock_timeout_s: float) -> None:
        self._config = config
        self._label = f"postgresql {config.dsn}"
        self._lock_ms = max(1, int(lock_timeout_s * 1000))
        self._conn: Conn | None = None

    def _connect(self) -> Conn:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        kwargs = connect_kwargs(self._config)
        timeout_ms = self._lock_ms
        # A cut link must fail a call within about the lease's margin, not at TCP's
        # retransmission limit (minutes): keepalives and a user timeout on the socket.
        kwargs.update(
            keepalives=1,
            keepalives_idle=1,
            keepalives_interval=1,
            keepalives_count=2,
            tcp_user_timeout=timeout_ms,
            connect_timeout=max(2, math.ceil(timeout_ms / 1000)),
        )
        conn = psycopg.connect(self._config.dsn, **kwargs)
        conn.execute(f"SET lock_timeout = {timeout_ms}")
        conn.execute(f"SET statement_timeout = {timeout_ms}")
        # A transaction left open by a vanished client would hold the lease row.
        conn.execute(f"SET idle_in_transaction_session_timeout = {timeout_ms}")
        conn.commit()
        self._conn = conn
        return conn

    def _call(self, fn: Any) -> Any:
        def run() -> Any:
            conn = self._connect()
            try:
                with conn.transaction():
                    return fn(conn)
            except psycopg.OperationalError:
                self.close()  # reconnect at the next call
                raise

        return guard(self._label, run)

    def acquire(self, node: str, lease_s: float, api_url: str) -> LeaseState:
        def run(conn: Conn) -> LeaseState:
            # FOR UPDATE waits for the old active's fenced writes in flight (they hold
            # the row FOR KEY SHARE): none of them commits after the new epoch begins.
            row = conn.execute(
                "SELECT expires_at < clock_timestamp() FROM ha_lease WHERE name = %s FOR UPDATE",
                (LEASE_NAME,),
            ).fetchone()
            # Only a lease taken by this very call counts: a restarted instance finding
            # its own name on a live lease waits for it to expire like anyone else, since
            # two instances misconfigured with one name must never both announce.
            took = 0
            if row is None:
                took = conn.execute(
                    "INSERT INTO ha_lease (name, holder, epoch, expires_at) VALUES "
                    "(%s, %s, 1, clock_timestamp() + make_interval(secs => %s)) "
                    "ON CONFLICT (name) DO NOTHING",
                    (LEASE_NAME, node, lease_s),
                ).rowcount
            elif row[0]:
                took = conn.execute(
                    "UPDATE ha_lease SET holder = %s, epoch = epoch + 1, "
                    "expires_at = clock_timestamp() + make_interval(secs => %s), "
                    "acquired_at = clock_timestamp() WHERE name = %s",
                    (node, lease_s, LEASE_NAME),
                ).rowcount
            return self._state(conn, node, api_url, took == 1)

        return self._call(run)

    def renew(self, node: str, epoch: int, lease_s: float, api_url: str) -> LeaseState:
        def run(conn: Conn) -> LeaseState:
            renewed = conn.execute(
                "UPDATE ha_lease SET expires_at = clock_timestamp() + make_interval(secs => %s) "
                "WHERE name = %s AND holder = %s AND epoch = %s",
                (lease_s, LEASE_NAME, node, epoch),
            ).rowcount
            return self._state(conn, node, api_url, renewed == 1)

        return self._call(run)

    def _state(self, conn: Conn, node: str, api_url: str, held: bool) -> LeaseState:
        row = conn.execute(_READ, (LEASE_NAME,)).fetchone()
        if row is None:
            raise StoreError(f"{self._label}: the lease row is missing")
        holder, epoch, expires, now, _expired = row
        conn.execute(_UPSERT_NODE, (node, api_url, "active" if held else "standby",
                                    int(epoch) if held else 0))  # fmt: skip
        peers = tuple(
            Peer(n, role, int(e), url, float(seen))
            for n, role, e, url, seen in conn.execute(_PEERS).fetchall()
        )
        return LeaseState(holder, int(epoch), float(expires), float(now), held, peers)

    def release(self, node: str, epoch: int) -> None:
        def run(conn: Conn) -> None:
            conn.execute(
                "UPDATE ha_lease SET expires_at = clock_timestamp() "
                "WHERE name = %s AND holder = %s AND epoch = %s",
                (LEASE_NAME, node, epoch),
            )
            conn.execute(
                "UPDATE ha_nodes SET role = 'standby', epoch = 0, seen_at = clock_timestamp() "
                "WHERE node = %s",
                (node,),
            )

        self._call(run)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
