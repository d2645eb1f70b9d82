"""Counters of the store, exposed through the daemon's registry (``routepilot.metrics``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from routepilot.metrics import Metric, StageMetrics, counter, gauge


class StoreMetrics(StageMetrics):
    """Since start: rows written, failed writes, time spent writing; the file's size now."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.rows_written = 0
        self.write_errors = 0
        self.write_seconds = 0.0
        self.pruned_rows = 0
        self.dropped_rows = 0

    def database_bytes(self) -> float:
        """The database file and its write-ahead log, in bytes (0 in memory)."""
        if not self.path or self.path == ":memory:":
            return 0.0
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(self.path + suffix).st_size
            except OSError:
                pass
        return float(total)

    def collect(self) -> Iterator[Metric]:
        yield counter(
            "routepilot_store_rows_written_total", "Rows written to the store.", self.rows_written
        )
        yield counter(
            "routepilot_store_write_errors_total",
            "Store writes that failed (their rows were not kept).",
            self.write_errors,
        )
        yield counter(
            "routepilot_store_write_seconds_total",
            "Time spent in store writes.",
            self.write_seconds,
        )
        yield counter(
            "routepilot_store_pruned_rows_total",
            "Rows removed by retention.",
            self.pruned_rows,
        )
        yield counter(
            "routepilot_store_dropped_rows_total",
            "Rows not written because too many writes were already waiting (a stalled store).",
            self.dropped_rows,
        )
        yield gauge(
            "routepilot_store_database_bytes",
            "Size of the database file and its write-ahead log.",
            self.database_bytes(),
        )
