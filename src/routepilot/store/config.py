"""Configuration of storage (store/)."""

from __future__ import annotations

from pydantic import Field

from routepilot.config.base import StrictModel


class StoreConfig(StrictModel):
    """Where time series, the decisions journal and restart state are kept."""

    path: str = "/var/lib/routepilot/routepilot.db"
    """SQLite database file (WAL mode)."""
    retention_days: int = Field(30, ge=1)
    """How long rollups and the journal are kept."""
