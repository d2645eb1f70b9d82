"""Where a report's numbers come from, and fetching them for a period.

A report reads what the REST API serves: any ``ControllerView`` (the daemon,
``FakeView`` in tests) or a running controller over HTTP (``ApiSource``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from routepilot.api.client import ApiClient, ApiError, ApiUnreachable
from routepilot.report.benefit import intervals
from routepilot.report.stats import quantile
from routepilot.view import SeriesQuery

LOOKBACK_S = 7 * 86400
"""How far before the period the journal is read, to know which moves were already active."""
MAX_DECISIONS = 10_000


class ReportError(Exception):
    """A report cannot be made: the source does not answer, chromium is missing …"""


class ReportSource(Protocol):
    """The part of ``ControllerView`` a report reads."""

    def status(self) -> dict: ...
    def providers(self) -> list[dict]: ...
    def decisions(
        self,
        since: float | None = None,
        until: float | None = None,
        prefix: str | None = None,
        provider: str | None = None,
        reason: str | None = None,
        limit: int = 200,
    ) -> list[dict]: ...
    def measurements(self, q: SeriesQuery) -> list[dict]: ...
    def utilization(self, q: SeriesQuery) -> list[dict]: ...


@dataclass
class ReportData:
    """Everything a report is computed from, fetched once."""

    since: float
    until: float
    step_s: float
    providers: list[dict]
    decisions: list[dict]
    """The journal from ``since - LOOKBACK_S`` to ``until``, oldest first."""
    provider_series: list[dict]
    """Per-minute rollups of each provider's aggregate (prefix null)."""
    utilization: list[dict]
    prefix_series: dict[str, list[dict]] = field(default_factory=dict)
    """Per-minute rollups of every provider for each prefix moved away from BGP's default,
    over the part of the period when it was."""
    journal_truncated: bool = False
    """The period held more moves than one read returns: the oldest are missing."""
    billing: dict | None = None
    """The controller's billing view (``GET /billing``) when the source has one: the
    open billing period as the providers bill it."""
    incidents: list[dict] | None = None
    """diagnose/'s incidents (``GET /incidents``) when the source has them; None: unknown."""


def collect(source: ReportSource, period_s: float, step_s: float = 60.0) -> ReportData:
    """Reads the period ending at the controller's ``now``."""
    until = float(source.status()["now"])
    since = until - period_s
    # The period's moves, and separately the latest ones before it (newest first), which
    # say where each prefix already was when the period began.
    period = source.decisions(since=since, until=until, limit=MAX_DECISIONS)
    before = source.decisions(since=since - LOOKBACK_S, until=since, limit=MAX_DECISIONS)
    journal = _unique(sorted([*before, *period], key=lambda d: d["time"]))
    q = SeriesQuery(since=since, until=until, step_s=step_s)
    data = ReportData(
        since=since,
        until=until,
        step_s=step_s,
        providers=source.providers(),
        decisions=journal,
        provider_series=provider_aggregate(source.measurements(q)),
        utilization=source.utilization(q),
        journal_truncated=len(period) >= MAX_DECISIONS,
    )
    # Sources without a billing view (an older controller, a recorded demo) leave it out.
    billing = getattr(source, "billing", None)
    if callable(billing):
        try:
            data.billing = billing()
        except ReportError:
            data.billing = None
    data.incidents = _incidents(source)
    # Only the stretches when a prefix was away from BGP's default are compared, so only
    # those are read: one request per prefix, from its first move to its last return.
    windows: dict[str, tuple[float, float]] = {}
    for iv in intervals(journal, since, until):
        lo, hi = windows.get(iv.prefix, (iv.start, iv.end))
        windows[iv.prefix] = (min(lo, iv.start), max(hi, iv.end))
    for prefix, (lo, hi) in sorted(windows.items()):
        # From the start of the minute the first move fell in: its rollup counts in part.
        pq = SeriesQuery(since=lo - lo % step_s, until=hi, prefix=prefix, step_s=step_s)
        data.prefix_series[prefix] = fold(source.measurements(pq), prefix)
    return data


MAX_INCIDENTS = 10_000


def _incidents(source: object) -> list[dict] | None:
    """The source's incidents, or None when it has none to give (an older controller)."""
    incidents = getattr(source, "incidents", None)
    if not callable(incidents):
        return None
    try:
        return list(incidents(state="all", limit=MAX_INCIDENTS))
    except (ReportError, ApiError):
        return None


def _unique(rows: list[dict]) -> list[dict]:
    """Drops the copy of an entry both journal reads returned (one at exactly ``since``)."""
    seen: set[tuple] = set()
    out = []
    for d in rows:
        key = (d["time"], d["prefix"], d.get("to_provider"), d["reason"])
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def provider_aggregate(rows: list[dict]) -> list[dict]:
    """Each provider's per-minute aggregate: the rows with no prefix, as the contract has it.

    A source that answers a query without a prefix with every prefix's rows instead gets
    them folded here (see ``fold``).
    """
    own = [r for r in rows if r.get("prefix") is None]
    return own if own or not rows else fold(rows, None)


def fold(rows: list[dict], prefix: str | None) -> list[dict]:
    """One row per provider and minute: the median RTT of the rows (several prefixes, or one
    prefix probed several ways), and their loss over all their probes."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["provider"], r["time"]), []).append(r)
    out = []
    for (provider, t), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if len(group) == 1:
            out.append(group[0])
            continue
        rtts = sorted(r["rtt_ms"] for r in group if r.get("rtt_ms") is not None)
        probed = [r for r in group if r.get("loss") is not None]
        sent = sum(r.get("samples") or 1 for r in probed)
        out.append(
            {
                "time": t,
                "prefix": prefix,
                "provider": provider,
                "rtt_ms": quantile(rtts, 0.5),
                "rtt_p90_ms": None,
                "loss": sum(r["loss"] * (r.get("samples") or 1) for r in probed) / sent
                if probed
                else None,
                "samples": sum(r.get("samples") or 0 for r in group),
            }
        )
    return out


class ApiSource:
    """A running controller's REST API as a report source (read token optional)."""

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.base = base_url.rstrip("/") + "/api/v1"
        self._client = ApiClient(base_url, token, timeout_s)

    def _get(self, path: str, **params: object) -> object:
        try:
            return self._client.get(path, **params)
        except ApiUnreachable as e:
            raise ReportError(f"cannot reach the controller at {self.base}: {e}") from None
        except ApiError as e:
            raise ReportError(f"{self.base}{path}: HTTP {e.status}: {e.detail or e}") from None

    def status(self) -> dict:
        return self._get("/status")  # type: ignore[return-value]

    def providers(self) -> list[dict]:
        return self._get("/providers")  # type: ignore[return-value]

    def decisions(
        self,
        since: float | None = None,
        until: float | None = None,
        prefix: str | None = None,
        provider: str | None = None,
        reason: str | None = None,
        limit: int = 200,
    ) -> list[dict]:
        return self._get(  # type: ignore[return-value]
            "/decisions",
            since=since,
            until=until,
            prefix=prefix,
            provider=provider,
            reason=reason,
            limit=limit,
        )

    def measurements(self, q: SeriesQuery) -> list[dict]:
        return self._get(  # type: ignore[return-value]
            "/measurements",
            since=q.since,
            until=q.until,
            prefix=q.prefix,
            provider=q.provider,
            step=q.step_s,
        )

    def utilization(self, q: SeriesQuery) -> list[dict]:
        return self._get(  # type: ignore[return-value]
            "/utilization", since=q.since, until=q.until, provider=q.provider, step=q.step_s
        )

    def billing(self) -> dict:
        return self._get("/billing")  # type: ignore[return-value]

    def incidents(self, state: str = "all", limit: int = 200) -> list[dict]:
        return self._get("/incidents", state=state, limit=limit)  # type: ignore[return-value]
