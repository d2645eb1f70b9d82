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
        (the last decision's record: from/to/default provider, reason, the numbers behind it),
        and ``"policy"``: the rule and/or allowlist entry that constrained it (``{"rule",
        "action", "text", "allowlist", "inside_allowlist", "note"}``, null when none did).
        Raises ``ActionError(status=404)`` for a prefix the controller does not know."""
        ...

    def routers(self) -> list[dict]:
        """Per configured router: ``{"name", "address", "asn", "session" (established or down),
        "route_source" (addpath), "synced" (its whole table is in), "paths" (paths learned from
        it), "providers" ({provider: paths}), "routes_announced" (routes routepilot holds
        announced to it; 0 in dry-run)}``."""
        ...

    def routes(self, prefix: str) -> dict:
        """Looking glass for a prefix or an address: the longest learned prefix covering it,
        ``{"query", "prefix", "bgp_choice" (provider or null), "paths": [{"router", "path_id",
        "provider", "own", "next_hop", "as_path", "origin", "med", "local_pref", "communities",
        "best"}], "injected": {"provider", "next_hop", "local_pref", "communities"} or null,
        "dry_run"}``. Raises ``ActionError(status=404)`` when no learned prefix covers it."""
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

    def billing(self, series: bool = False) -> dict:
        """Billing per provider and billing group: ``{"source" ("snmp" or "flows"), "time",
        "sample_s", "percentile", "providers": [...], "groups": [...]}``, each entry ``{"name",
        "kind", "mode", "period_start", "period_end", "slots", "samples", "current_bps",
        "projected_bps", "projected_without_bps", "commit_bps", "level_bps", "burst_free",
        "over_commit", "burst_left", "price_per_mbps", "cost", "cost_projected",
        "cost_projected_without", "saving_projected"}`` and, with ``series``, ``"series":
        [{"start", "in_bps", "out_bps", "billable_bps"}]`` (every sample of the period)."""
        ...

    def config(self) -> dict:
        """The effective configuration, secrets (API tokens) replaced by ``"***"``."""
        ...

    def ha(self) -> dict:
        """Leadership: ``{"enabled", "node", "role" (active|standby), "epoch", "active",
        "lease_until", "since", "transitions", "peers": [{"node", "role", "epoch", "api_url",
        "seen_at", "age_s"}]}``; without HA, always ``active``."""
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

    # -- maintenance windows, the control journal, reloads ----------------------------

    def maintenance(self) -> list[dict]:
        """Windows in force, to come and ended within a day: ``{"id" (null: planned),
        "name", "provider", "start", "end", "drain", "reason", "state" (active, scheduled,
        ended), "source" (api, config), "cron"}``."""
        ...

    async def maintenance_start(
        self,
        provider: str,
        duration_s: float | None = None,
        until: float | None = None,
        drain: bool = False,
        reason: str = "",
    ) -> dict:
        """Starts a window now (stored before it counts); returns it. ActionError 404 for
        an unknown provider, 400 for a bad duration."""
        ...

    async def maintenance_end(self, window_id: int) -> dict:
        """Ends a window started on demand; ActionError 404 if there is none."""
        ...

    def events(
        self, since: float | None = None, until: float | None = None, limit: int = 200
    ) -> list[dict]:
        """The control journal, newest first: ``{"id", "time", "kind", "detail"}``."""
        ...

    def traces(self, prefix: str, provider: str | None = None) -> list[dict]:
        """diagnose/'s kept traceroutes of ``prefix`` (through ``provider`` only, when
        given), newest first: ``{"prefix", "provider", "target", "time", "reached",
        "asns", "hops": [{"ttl", "address", "asn", "rtt_ms", "loss"}]}``."""
        ...

    def incidents(self, state: str = "all", limit: int = 200) -> list[dict]:
        """diagnose/'s incidents, open ones first then the closed, newest first:
        ``{"id", "cause": {"kind": as|provider|prefix, "asn", "provider", "prefix"},
        "opened", "closed", "updated", "prefixes", "evidence"}``; ``state`` open or all."""
        ...

    async def reload(self) -> dict:
        """Re-reads the configuration file and applies it: ``{"applied", "changed", "source",
        "time"}``; ActionError 400 (invalid) or 409 (needs a restart), nothing changed."""
        ...

    async def put_config(self, data: dict) -> dict:
        """Applies a whole configuration (as ``reload``)."""
        ...
