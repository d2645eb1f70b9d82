"""Configuration of storage (store/)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from routepilot.config.base import StrictModel

_KEYWORD_PASSWORD = re.compile(r"(^|\s)password\s*=", re.IGNORECASE)


class StoreConfig(StrictModel):
    """Where time series, the decisions journal and restart state are kept."""

    kind: Literal["sqlite", "postgresql"] = "sqlite"
    """Which database: the embedded SQLite file (`path`) or a PostgreSQL server (`dsn`)."""
    path: str = "/var/lib/routepilot/routepilot.db"
    """SQLite database file (WAL mode); a lock file beside it keeps a second writer out."""
    dsn: str = ""
    """PostgreSQL connection string without its password, as libpq reads it: a URI
    (`postgresql://routepilot@db.example:5432/routepilot`) or `host=… dbname=… user=…`."""
    password_file: str | None = None
    """PostgreSQL: a file holding the password (one line), readable by routepilot only."""
    password_env: str | None = None
    """PostgreSQL: the name of an environment variable holding the password."""
    pool_size: int = Field(4, ge=1, le=64)
    """PostgreSQL: most connections the store keeps open at once."""
    connect_timeout_s: float = Field(10.0, gt=0, le=300)
    """PostgreSQL: how long opening a connection, or waiting for a free one, may take."""
    retention_days: int = Field(30, ge=1)
    """How long rollups and the journal are kept."""
    billing_retention_days: int = Field(62, ge=1)
    """How long 5-minute provider rates are kept: a whole billing period and more, for
    the 95th-percentile estimate after a restart."""
    busy_timeout_s: float = Field(5.0, gt=0, le=300)
    """How long a write waits for a lock before failing (SQLite: one held by a reader;
    PostgreSQL: its `lock_timeout`)."""
    prune_interval_s: float = Field(3600.0, gt=0)
    """How often the daemon prunes rows older than the retention."""

    @model_validator(mode="after")
    def _check_postgresql(self) -> StoreConfig:
        if self.password_file is not None and self.password_env is not None:
            raise ValueError("give the password in password_file or password_env, not both")
        if self.kind != "postgresql":
            return self
        if not self.dsn.strip():
            raise ValueError("kind postgresql needs a dsn (postgresql://USER@HOST/DATABASE)")
        if _has_password(self.dsn):
            raise ValueError(
                "the dsn holds a password, which would show in config dumps and logs: "
                "put it in password_file or password_env instead"
            )
        return self


def _has_password(dsn: str) -> bool:
    """True when a libpq connection string (URI or key=value) carries a password."""
    if dsn.startswith(("postgresql://", "postgres://")):
        try:
            if urlsplit(dsn).password:
                return True
        except ValueError:
            return False
        return "password=" in dsn.partition("?")[2].lower()
    return bool(_KEYWORD_PASSWORD.search(dsn))
