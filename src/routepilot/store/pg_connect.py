"""Connecting to PostgreSQL: the password from where the config names it, libpq's
arguments, and psycopg's failures turned into StoreErrors that say what to do."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from pydantic import SecretStr

from routepilot.store.base import FencedWrite, StoreError
from routepilot.store.config import StoreConfig
from routepilot.store.pg_fence import FENCED_SQLSTATE

_T = TypeVar("_T")


def read_password(config: StoreConfig) -> SecretStr | None:
    """The password named by the config (a file or an environment variable), or None to
    leave it to libpq (``PGPASSWORD``, ``~/.pgpass``, peer or certificate authentication)."""
    if config.password_file is not None:
        try:
            with open(config.password_file) as f:
                text = f.readline().rstrip("\r\n")
        except OSError as e:
            raise StoreError(
                f"{config.password_file}: cannot read the PostgreSQL password "
                f"(store.password_file): {e.strerror or e}"
            ) from e
        if not text:
            raise StoreError(f"{config.password_file}: the PostgreSQL password file is empty")
        return SecretStr(text)
    if config.password_env is not None:
        value = os.environ.get(config.password_env)
        if not value:
            raise StoreError(
                f"environment variable {config.password_env} (store.password_env) is not set "
                "or empty: it must hold the PostgreSQL password"
            )
        return SecretStr(value)
    return None


def connect_kwargs(config: StoreConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "connect_timeout": max(1, math.ceil(config.connect_timeout_s)),
        "application_name": "routepilot",
        # A query on a cut link fails within about connect_timeout_s instead of waiting
        # for TCP to give up (many minutes): keepalives, and a bound on unacknowledged data.
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": max(1000, int(config.connect_timeout_s * 1000)),
    }
    password = read_password(config)
    if password is not None:
        # Handed to libpq apart from the DSN, so no message or dump ever shows it.
        kwargs["password"] = password.get_secret_value()
    return kwargs


def guard(label: str, fn: Callable[[], _T], wait_s: float | None = None) -> _T:
    """Runs ``fn``, turning psycopg's failures into a StoreError that says what to do."""
    try:
        return fn()
    except StoreError:
        raise
    except psycopg_pool.PoolTimeout as e:
        raise StoreError(
            f"{label}: no database connection within {wait_s or 0:g}s: the server is down "
            "or every pooled connection is busy (raise store.pool_size)"
        ) from e
    except psycopg.errors.LockNotAvailable as e:
        raise StoreError(
            f"{label}: a lock held by another session outlived store.busy_timeout_s ({e})"
        ) from e
    except psycopg.errors.ReadOnlySqlTransaction as e:
        raise StoreError(f"{label}: the database is read-only here ({e})") from e
    except psycopg.errors.InsufficientPrivilege as e:
        raise StoreError(f"{label}: the database user lacks a privilege: {e}") from e
    except psycopg.OperationalError as e:
        raise StoreError(f"{label}: cannot reach or log in to the server: {str(e).strip()}") from e
    except psycopg.Error as e:
        if e.sqlstate == FENCED_SQLSTATE:
            raise FencedWrite(f"{label}: {e.diag.message_primary or str(e).strip()}") from e
        raise StoreError(f"{label}: database error: {str(e).strip()}") from e
