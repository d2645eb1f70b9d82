"""The store tests' PostgreSQL server and per-test schema, for leadership's tests."""

from tests.integration.store.conftest import pg_config, pg_schema, pg_server

__all__ = ["pg_config", "pg_schema", "pg_server"]
