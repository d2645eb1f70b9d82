"""An in-memory Store: the fake other stages' tests use, with the same query rules."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from routepilot.flows.snapshot import SamplerRate
from routepilot.store.base import (
    AuditQuery,
    AuditRecord,
    ControlEvent,
    ControllerState,
    JournalEntry,
    ProbePoint,
    ProbeRollup,
    ProviderRow,
    Query,
    TokenRecord,
    TrafficRow,
    UserRecord,
    UtilizationSample,
    Window,
)
from routepilot.store.metrics import StoreMetrics

DAY = 86400.0
R = TypeVar("R")


def _in_window(t: float, q: Query) -> bool:
    return (q.since is None or t >= q.since) and (q.until is None or t < q.until)


def _select(
    rows: list[R], q: Query, when: Callable[[R], float], extra: Callable[[R], bool]
) -> list[R]:
    out = [r for r in rows if _in_window(when(r), q) and extra(r)]
    out.sort(key=when)
    return out[: q.limit] if q.limit is not None else out


class MemoryStore:
    """Keeps everything in lists; ``closed`` tells tests the owner closed it."""

    def __init__(self, retention_days: float = 30, billing_retention_days: float = 62) -> None:
        self.retention_s = retention_days * DAY
        self.billing_retention_s = billing_retention_days * DAY
        self.traffic_rows: list[TrafficRow] = []
        self.provider_rows: list[ProviderRow] = []
        self.probe_rows: list[ProbeRollup] = []
        self.utilization_rows: list[UtilizationSample] = []
        self.journal: list[JournalEntry] = []
        self.state = ControllerState()
        self.rates: dict[tuple[str, int, int, int], SamplerRate] = {}
        self.billing: list[dict[str, Any]] = []
        self.maintenance: list[Window] = []
        self.incident_rows: dict[int, dict[str, Any]] = {}
        self.trace_rows: list[tuple[int, dict[str, Any]]] = []
        """(order stored, ``PathTrace.as_dict()``), oldest stored first."""
        self.control: list[ControlEvent] = []
        self.closed = False
        self.metrics = StoreMetrics()
        self.user_rows: dict[str, UserRecord] = {}
        self.token_rows: dict[str, TokenRecord] = {}
        self.audit_rows: list[AuditRecord] = []

    def write_traffic(self, rows: Sequence[TrafficRow]) -> None:
        self.traffic_rows.extend(rows)
        self.metrics.rows_written += len(rows)

    def write_sampler_rates(self, rows: Sequence[SamplerRate]) -> None:
        """flows/' SamplerRateSink (read back with :meth:`sampler_rates`): the last rate
        per (exporter, version, domain, sampler)."""
        for r in rows:
            self.rates[(r.exporter, r.version, r.domain, r.sampler)] = r
        self.metrics.rows_written += len(rows)

    def sampler_rates(self) -> list[SamplerRate]:
        return sorted(self.rates.values(), key=lambda r: (r.exporter, r.version, r.domain,
                                                          r.sampler))  # fmt: skip

    def write_billing_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.billing = [copy.deepcopy(dict(r)) for r in rows]
        self.metrics.rows_written += len(rows)

    def billing_rows(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.billing)

    def write_provider_traffic(self, rows: Sequence[ProviderRow]) -> None:
        self.provider_rows.extend(rows)
        self.metrics.rows_written += len(rows)

    def write_probe_rollups(self, rows: Sequence[ProbeRollup]) -> None:
        self.probe_rows.extend(rows)
        self.metrics.rows_written += len(rows)

    def write_utilization(self, rows: Sequence[UtilizationSample]) -> None:
        self.utilization_rows.extend(rows)
        self.metrics.rows_written += len(rows)

    def append_decisions(self, entries: Sequence[JournalEntry]) -> list[int]:
        ids = []
        for e in entries:
            entry_id = len(self.journal) + 1
            self.journal.append(replace(e, id=entry_id))
            ids.append(entry_id)
        return ids

    def record_outcome(
        self, entry_id: int, time: float, rtt_ms: float | None, loss: float | None
    ) -> None:
        for i, e in enumerate(self.journal):
            if e.id == entry_id:
                self.journal[i] = replace(e, after_time=time, after_rtt_ms=rtt_ms, after_loss=loss)
                return
        raise KeyError(f"no journal entry {entry_id}")

    def save_state(self, state: ControllerState) -> None:
        self.state = state

    def add_window(self, window: Window) -> int:
        window_id = max((w.id or 0 for w in self.maintenance), default=0) + 1
        self.maintenance.append(replace(window, id=window_id, name=None))
        self.metrics.rows_written += 1
        return window_id

    def windows(self, ending_after: float | None = None) -> list[Window]:
        out = [w for w in self.maintenance if ending_after is None or w.end > ending_after]
        return sorted(out, key=lambda w: (w.start, w.id or 0))

    def save_incident(self, incident: Mapping[str, Any]) -> None:
        self.incident_rows[int(incident["id"])] = json.loads(json.dumps(incident))
        self.metrics.rows_written += 1

    def incidents(self, since: float | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        rows = [
            r
            for r in self.incident_rows.values()
            if since is None or r.get("closed") is None or r["closed"] >= since
        ]
        return sorted(rows, key=lambda r: -int(r["id"]))[:limit]

    def save_trace(self, trace: Mapping[str, Any], keep: int) -> None:
        seq = self.trace_rows[-1][0] + 1 if self.trace_rows else 1
        self.trace_rows.append((seq, json.loads(json.dumps(trace))))
        key = (trace["prefix"], trace["provider"])
        same = [r for r in self.trace_rows if (r[1]["prefix"], r[1]["provider"]) == key]
        newest = sorted(same, key=lambda r: (r[1]["time"], r[0]), reverse=True)[:keep]
        gone = {r[0] for r in same} - {r[0] for r in newest}
        self.trace_rows = [r for r in self.trace_rows if r[0] not in gone]
        self.metrics.rows_written += 1

    def traces(
        self, prefix: str | None = None, provider: str | None = None
    ) -> list[dict[str, Any]]:
        rows = [
            r
            for r in self.trace_rows
            if (prefix is None or r[1]["prefix"] == prefix)
            and (provider is None or r[1]["provider"] == provider)
        ]
        rows.sort(key=lambda r: (r[1]["time"], r[0]), reverse=True)
        return [json.loads(json.dumps(r[1])) for r in rows]

    def end_window(self, window_id: int, at: float) -> Window | None:
        for i, w in enumerate(self.maintenance):
            if w.id == window_id:
                self.maintenance[i] = replace(w, end=min(w.end, at))
                return self.maintenance[i]
        return None

    def append_event(self, event: ControlEvent) -> int:
        event_id = len(self.control) + 1
        self.control.append(replace(event, id=event_id))
        self.metrics.rows_written += 1
        return event_id

    def events(self, q: Query) -> list[ControlEvent]:
        out = [e for e in self.control if _in_window(e.time, q)]
        out.sort(key=lambda e: (-e.time, -(e.id or 0)))
        return out[: q.limit] if q.limit is not None else out

    def load_state(self) -> ControllerState:
        return self.state

    def traffic(self, q: Query) -> list[TrafficRow]:
        return _select(
            self.traffic_rows,
            q,
            lambda r: r.time,
            lambda r: (
                (q.prefix is None or r.prefix == q.prefix)
                and (q.provider is None or r.provider == q.provider)
            ),
        )

    def provider_traffic(self, q: Query) -> list[ProviderRow]:
        return _select(
            self.provider_rows,
            q,
            lambda r: r.time,
            lambda r: (
                (q.provider is None or r.provider == q.provider)
                and (q.window_s is None or math.isclose(r.window_s, q.window_s))
            ),
        )

    def probe_rollups(self, q: Query) -> list[ProbeRollup]:
        return _select(
            self.probe_rows,
            q,
            lambda r: float(r.minute),
            lambda r: (
                (q.prefix is None or r.prefix == q.prefix)
                and (q.provider is None or r.provider == q.provider)
            ),
        )

    def utilization(self, q: Query) -> list[UtilizationSample]:
        return _select(
            self.utilization_rows,
            q,
            lambda r: r.time,
            lambda r: q.provider is None or r.provider == q.provider,
        )

    def decisions(self, q: Query) -> list[JournalEntry]:
        out = [
            e
            for e in self.journal
            if _in_window(e.time, q)
            and (q.prefix is None or e.prefix == q.prefix)
            and (q.reason is None or e.reason == q.reason)
            and (q.provider is None or q.provider in (e.from_provider, e.to_provider))
        ]
        out.sort(key=lambda e: (e.time, e.id or 0), reverse=True)
        return out[: q.limit] if q.limit is not None else out

    def decision_counts(self, q: Query) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.decisions(replace(q, reason=None, limit=None)):
            counts[e.reason] = counts.get(e.reason, 0) + 1
        return counts

    def probe_series(self, q: Query, step_s: float) -> list[ProbePoint]:
        buckets: dict[tuple[float, str, str | None], list[float]] = {}
        for r in self.probe_rollups(replace(q, limit=None)):
            key = (math.floor(r.minute / step_s) * step_s, r.provider, q.prefix)
            acc = buckets.setdefault(key, [0.0, 0.0, -math.inf, 0, 0])
            if r.answered and r.rtt_median_ms == r.rtt_median_ms:
                acc[0] += r.rtt_median_ms * r.answered
                acc[1] += r.answered
            if r.rtt_p90_ms == r.rtt_p90_ms:
                acc[2] = max(acc[2], r.rtt_p90_ms)
            acc[3] += r.sent
            acc[4] += r.answered
        out = [
            ProbePoint(
                time=t,
                provider=prov,
                prefix=prefix,
                rtt_ms=acc[0] / acc[1] if acc[1] else math.nan,
                rtt_p90_ms=acc[2] if acc[2] > -math.inf else math.nan,
                loss=1 - acc[4] / acc[3] if acc[3] else math.nan,
                sent=int(acc[3]),
            )
            for (t, prov, prefix), acc in buckets.items()
        ]
        out.sort(key=lambda p: (p.time, p.provider))
        return out[: q.limit] if q.limit is not None else out

    def save_user(self, user: UserRecord) -> None:
        self.user_rows[user.name] = user

    def remove_user(self, name: str) -> bool:
        self.remove_tokens(name)
        return self.user_rows.pop(name, None) is not None

    def users(self) -> list[UserRecord]:
        return [self.user_rows[n] for n in sorted(self.user_rows)]

    def add_token(self, token: TokenRecord) -> None:
        if token.id in self.token_rows:
            raise ValueError(f"token id {token.id!r} exists")
        self.token_rows[token.id] = token

    def remove_tokens(self, user: str) -> int:
        gone = [k for k, t in self.token_rows.items() if t.user == user]
        for k in gone:
            del self.token_rows[k]
        return len(gone)

    def token(self, token_id: str) -> TokenRecord | None:
        return self.token_rows.get(token_id)

    def append_audit(self, record: AuditRecord) -> int:
        record_id = len(self.audit_rows) + 1
        self.audit_rows.append(replace(record, id=record_id))
        return record_id

    def audit(self, q: AuditQuery) -> list[AuditRecord]:
        rows = [
            r
            for r in self.audit_rows
            if (q.since is None or r.time >= q.since)
            and (q.until is None or r.time < q.until)
            and (q.user is None or r.user == q.user)
            and (q.action is None or r.action == q.action)
        ]
        rows.sort(key=lambda r: (r.time, r.id or 0), reverse=True)
        return rows[: q.limit] if q.limit is not None else rows

    def prune(self, now: float) -> dict[str, int]:
        cut, bill_cut = now - self.retention_s, now - self.billing_retention_s
        counts = {}

        def keep(name: str, rows: list, when: Callable, cutoff: Callable) -> list:
            kept = [r for r in rows if when(r) >= cutoff(r)]
            counts[name] = len(rows) - len(kept)
            return kept

        self.traffic_rows = keep("traffic", self.traffic_rows, lambda r: r.time, lambda r: cut)
        self.provider_rows = keep(
            "provider_traffic",
            self.provider_rows,
            lambda r: r.time,
            lambda r: bill_cut if r.window_s >= 300 else cut,
        )
        self.probe_rows = keep("probes", self.probe_rows, lambda r: r.minute, lambda r: cut)
        self.utilization_rows = keep(
            "utilization", self.utilization_rows, lambda r: r.time, lambda r: cut
        )
        self.journal = keep("decisions", self.journal, lambda r: r.time, lambda r: cut)
        self.trace_rows = keep("traces", self.trace_rows, lambda r: r[1]["time"], lambda r: cut)
        return counts

    def close(self) -> None:
        self.closed = True
