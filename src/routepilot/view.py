"""What the surfaces (REST API, dashboard, CLI, reports, metrics) ask of the controller.

The daemon (`routepilot run`) implements ``ControllerView``; ``api/fake.py``
implements it with made-up but consistent data so the surfaces can be built
and tested without a network. Every method returns plain JSON-ready values:
the field names listed here are the API's contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ActionError(Exception):
    """An action the controller refuses (unknown prefix or provider, not allowed …).

    ``status`` is the HTTP status the API answers with (400, 404, 409)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SeriesQuery:
    """A time-series request: ``since``/``until`` in seconds since the epoch."""

    since: float
    until: float
    prefix: str | None = None
    provider: str | None = None
    step_s: float = 60.0


class ControllerView(Protocol):
    """The controller as the surfaces see it."""

    def status(self) -> dict:
        """``{"version", "started", "now", "paused", "dry_run", "cycle": {"count", "last",
        "duration_ms"}, "sessions": {router: state}, "degraded": [reasons...],
        "counts": {"prefixes", "active_improvements", "moves_last_hour"}}``"""
        ...

    def providers(self) -> list[dict]:
        """Per provider: ``{"name", "asn", "session_up", "healthy", "rtt_ms" (median over
        probed prefixes or null), "loss" (0..1 or null), "rate_bps", "capacity_bps",
        "utilization" (0..1), "commit_bps", "p95_bps" (95th percentile so far in the billing
        period), "cost_per_mbps", "prefixes_routed" (how many busy prefixes leave by it)}``"""
        ...

    def prefixes(self, top: int = 100) -> list[dict]:
        """Busiest first: ``{"prefix", "traffic_bps", "exit", "default", "reason",
        "since" (time of the last move or null), "pinned" (provider or null), "excluded"}``"""
        ...

    def prefix(self, prefix: str) -> dict:
        """One prefix in depth: the fields of ``prefixes()`` plus ``"measurements": [{"provider",
        "has_route", "as_path_len", "rtt_ms", "rtt_p90_ms", "loss", "loss_low", "loss_high",
        "jitter_ms", "samples", "consecutive_losses", "traffic_bps"}]`` and ``"explanation"``
        (the last decision's record: from/to/default provider, reason, the numbers behind it).
        Raises ``ActionError(status=404)`` for a prefix the controller does not know."""
        ...

    def decisions(
        self,
        since: float | None = None,
        until: float | None = None,
        prefix: str | None = None,
        provider: str | None = None,
        reason: str | None = None,
        limit: int = 200,
    ) -> list[dict]:
        """The journal, newest first: ``{"time", "prefix", "from_provider", "to_provider",
        "default_provider", "reason", "traffic_bps", "old_rtt_ms", "new_rtt_ms", "old_loss",
        "new_loss", "threshold_ms", "dry_run"}``; ``provider`` matches from or to."""
        ...

    def measurements(self, q: SeriesQuery) -> list[dict]:
        """Per-minute probe rollups: ``{"time", "prefix", "provider", "rtt_ms", "rtt_p90_ms",
        "loss", "samples"}`` (prefix null = the provider's aggregate over its prefixes)."""
        ...

    def utilization(self, q: SeriesQuery) -> list[dict]:
        """Per-minute link rates: ``{"time", "provider", "rate_bps", "capacity_bps",
        "commit_bps"}``."""
        ...

    def config(self) -> dict:
        """The effective configuration, secrets (API tokens) replaced by ``"***"``."""
        ...

    # -- actions (write token) --------------------------------------------------

    def pin(self, prefix: str, provider: str) -> dict:
        """Routes ``prefix`` to ``provider`` until unpinned (still never without a route).
        Returns the prefix record. ActionError 404 for unknown provider, 400 for a bad prefix."""
        ...

    def unpin(self, prefix: str) -> dict: ...

    def exclude(self, prefix: str) -> dict:
        """Leaves ``prefix`` to BGP until included again."""
        ...

    def include(self, prefix: str) -> dict: ...

    def pause(self) -> dict:
        """Stops making changes (announced routes stay); returns ``status()``."""
        ...

    def resume(self) -> dict: ...

    def set_dry_run(self, on: bool) -> dict:
        """Dry-run on withdraws every injected route and only records; returns ``status()``."""
        ...
