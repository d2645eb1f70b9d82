"""A PostgreSQL server for the store's integration tests: started once per session,
with a schema of its own for every test so tests never see each other's rows."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from tests.integration.store.pgserver import PgServer, pg_bindir

from routepilot.store import StoreConfig


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    if pg_bindir() is None:
        pytest.fail("PostgreSQL is not installed: `make setup` installs Debian's postgresql")
    server = PgServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_schema(pg_server: PgServer) -> Iterator[str]:
    """A new, empty schema; dropped after the test with everything in it."""
    name = f"t_{secrets.token_hex(6)}"
    admin = pg_server.dsn()
    with psycopg.connect(admin, password=pg_server.password, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    yield name
    with psycopg.connect(admin, password=pg_server.password, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def pg_config(pg_server: PgServer, pg_schema: str) -> StoreConfig:
    """The store's configuration for the test's schema, the password in a file."""
    return StoreConfig(
        kind="postgresql",
        dsn=pg_server.dsn(options=f"-csearch_path={pg_schema}"),
        password_file=str(pg_server.password_file()),
    )
