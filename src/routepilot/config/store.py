"""Configuration of storage (store/)."""

from __future__ import annotations

from pydantic import Field

from routepilot.config.base import StrictModel


class StoreConfig(StrictModel):
    """Where time series, the decisions journal and restart state are kept."""

    path: str = "/var/lib/routepilot/routepilot.db"
    """SQLite database file (WAL mode); a lock file beside it keeps a second writer out."""
    retention_days: int = Field(30, ge=1)
    """How long rollups and the journal are kept."""
    billing_retention_days: int = Field(62, ge=1)
    """How long 5-minute provider rates are kept: a whole billing period and more, for
    the 95th-percentile estimate after a restart."""
    busy_timeout_s: float = Field(5.0, gt=0, le=300)
    """How long a write waits for a lock held by a reader before failing."""
    prune_interval_s: float = Field(3600.0, gt=0)
    """How often the daemon prunes rows older than the retention."""
