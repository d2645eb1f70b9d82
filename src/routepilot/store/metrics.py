"""Counters of the store, named the Prometheus way; the daemon's /metrics reads ``samples()``."""

from __future__ import annotations

import os


class StoreMetrics:
    """Since start: rows written, failed writes, time spent writing; the file's size now."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.rows_written = 0
        self.write_errors = 0
        self.write_seconds = 0.0
        self.pruned_rows = 0

    def _size(self) -> float:
        if not self.path or self.path == ":memory:":
            return 0.0
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(self.path + suffix).st_size
            except OSError:
                pass
        return float(total)

    def samples(self) -> dict[str, float]:
        return {
            "routepilot_store_rows_written_total": float(self.rows_written),
            "routepilot_store_write_errors_total": float(self.write_errors),
            "routepilot_store_write_seconds_total": self.write_seconds,
            "routepilot_store_pruned_rows_total": float(self.pruned_rows),
            "routepilot_store_database_bytes": self._size(),
        }
