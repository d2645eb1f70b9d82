"""Fencing in the database: a write from a deposed active is refused by PostgreSQL.

Leadership (``ha/``) keeps one row in ``ha_lease``: the holder, when the lease
expires (the server's clock) and an epoch that grows at each takeover. Every
write transaction of an HA instance states the epoch it believes it holds
(``SET LOCAL routepilot.epoch``, done by ``PostgresStore._timed`` for every write,
so no query states it itself), and a statement trigger on every table of the
schema compares it with the lease's under a ``FOR KEY SHARE`` row lock:

- a stale epoch (a takeover happened) raises ``RPF01``: the write is refused;
- the lock makes a takeover (``SELECT … FOR UPDATE`` on the lease row) wait for
  the old active's in-flight writes, so none commits after the new epoch began;
  the active's own renewals (which change no key) are not held up by its writes;
- a transaction that states no epoch (an instance with HA off, the CLI's tools)
  is not checked: with HA, every instance on the database must enable it.

The triggers are installed by :func:`install_fences` at each start on every table
that lacks one, so tables added by later migrations are fenced without anyone
remembering to; the ``ha_*`` tables and ``schema_version`` are left out (the
standby writes its heartbeat there, and migrating is not a daemon's write).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

Conn = psycopg.Connection[Any]

FENCED_SQLSTATE = "RPF01"
"""SQLSTATE of a write refused for a stale epoch."""
TRIGGER = "routepilot_fence"
LEASE_NAME = "controller"
"""The one lease (one row); a key leaves room for one lease per site later."""

FUNCTION = f"""
CREATE OR REPLACE FUNCTION routepilot_fence() RETURNS trigger LANGUAGE plpgsql AS $fence$
DECLARE
    claimed text := current_setting('routepilot.epoch', true);
    current record;
BEGIN
    IF claimed IS NULL OR claimed = '' THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM ha_lease WHERE name = '{LEASE_NAME}' AND epoch = claimed::bigint
        FOR KEY SHARE;
    IF NOT FOUND THEN
        SELECT holder, epoch INTO current FROM ha_lease WHERE name = '{LEASE_NAME}';
        RAISE EXCEPTION 'write fenced off: epoch % is stale (the lease is at epoch % held by %)',
            claimed, current.epoch, current.holder
            USING ERRCODE = '{FENCED_SQLSTATE}';
    END IF;
    RETURN NULL;
END
$fence$;
"""

MIGRATION = (
    """
    CREATE TABLE ha_lease (
        name text PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL,
        expires_at timestamptz NOT NULL, acquired_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE ha_nodes (
        node text PRIMARY KEY, api_url text NOT NULL DEFAULT '', role text NOT NULL,
        epoch bigint NOT NULL DEFAULT 0, seen_at timestamptz NOT NULL
    );
    """
    + FUNCTION
)
"""PostgreSQL migration: the lease, the instances' heartbeats and the fence function."""


def install_fences(conn: Conn) -> list[str]:
    """Adds the fence trigger to every table of the schema that lacks it (inside the
    caller's transaction); returns the tables it fenced now."""
    exists = conn.execute("SELECT to_regproc('routepilot_fence') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
        "WHERE c.relkind IN ('r', 'p') AND c.relname <> 'schema_version' "
        "AND c.relname NOT LIKE 'ha\\_%%' "
        "AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = %s) "
        "ORDER BY c.relname",
        (TRIGGER,),
    ).fetchall()
    tables = [name for (name,) in rows]
    for name in tables:
        table = sql.Identifier(name)
        conn.execute(
            sql.SQL(
                "CREATE TRIGGER {} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {} "
                "FOR EACH STATEMENT EXECUTE FUNCTION routepilot_fence()"
            ).format(sql.Identifier(TRIGGER), table)
        )
    return tables


def claim_epoch(conn: Conn, epoch: int) -> None:
    """States, for the current transaction only, the epoch its writes are made under."""
    conn.execute("SELECT set_config('routepilot.epoch', %s, true)", (str(epoch),))
