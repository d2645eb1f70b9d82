"""Builds consistent snapshots from a few arrays: for tests, benchmarks and replays.

Other stages' tests and the daemon's dry runs use it too, the way httpx ships a
mock transport: one place that knows how the three snapshots fit together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from routepilot.decide.billing import BillingInput
from routepilot.decide.model import DecisionInput
from routepilot.decide.policy import EMPTY, RoundPolicy
from routepilot.decide.windows import MaintenanceNow
from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.rib.snapshot import RoutesSnapshot
from routepilot.stats import wilson_ratio


@dataclass(frozen=True)
class Provider:
    """A minimal provider (``ProviderConfig`` has the same fields)."""

    name: str
    capacity_mbps: float = 10_000.0
    commit_mbps: float = 0.0
    cost_per_mbps: float = 0.0


def prefixes_v4(count: int, base: int = (198 << 24) | (18 << 16)) -> tuple[str, ...]:
    """``count`` distinct /24s counted up from 198.18.0.0 (wrapping inside 198.0.0.0/8)."""
    out = []
    for i in range(count):
        a = (base + (i << 8)) & 0xFFFFFFFF
        out.append(f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.0/24")
    return tuple(out)


def make_input(
    *,
    now: float,
    prefixes: Sequence[str],
    providers: Sequence[str],
    bps: np.ndarray,
    rtt: np.ndarray,
    loss: np.ndarray | None = None,
    has_route: np.ndarray | None = None,
    bgp_best: np.ndarray | None = None,
    samples: np.ndarray | int = 30,
    consecutive_losses: np.ndarray | None = None,
    link_bps: Mapping[str, float] | None = None,
    link_measured: frozenset[str] = frozenset(),
    injections: Mapping[str, str] | None = None,
    pins: Mapping[str, str] | None = None,
    exclusions: frozenset[str] = frozenset(),
    provider_up: Mapping[str, bool] | None = None,
    billing_samples: Mapping[str, Sequence[float]] | None = None,
    rules: RoundPolicy = EMPTY,
    origin_as: np.ndarray | Sequence[int] | None = None,
    maintenance: MaintenanceNow | None = None,
    billing: Mapping[str, BillingInput] | None = None,
    jitter: np.ndarray | None = None,
    as_incidents: Mapping[str, Mapping[str, int]] | None = None,
) -> DecisionInput:
    """A DecisionInput whose three snapshots share one prefix tuple (the fast path).

    ``bps`` may be (N,) — all traffic on BGP's default — or (N, P). ``rules`` is the
    round's policy; ``origin_as`` each prefix's origin AS (N,), the same through every
    provider with a route. ``jitter`` is each path's jitter in ms (N, P); 1 ms by default.
    ``as_incidents`` says which paths cross an open AS incident's AS (prefix -> {provider:
    ASN}). ``link_measured`` names the providers whose ``link_bps`` SNMP measures.
    """
    prefixes = tuple(prefixes)
    providers = tuple(providers)
    n, p = len(prefixes), len(providers)
    rtt = np.asarray(rtt, dtype=float).reshape(n, p)
    loss = np.zeros((n, p)) if loss is None else np.asarray(loss, dtype=float).reshape(n, p)
    has_route = np.ones((n, p), bool) if has_route is None else np.asarray(has_route, bool)
    if bgp_best is None:
        bgp_best = np.where(has_route.any(axis=1), np.argmax(has_route, axis=1), -1)
    bgp_best = np.asarray(bgp_best, dtype=np.int32)
    bps = np.asarray(bps, dtype=float)
    if bps.ndim == 1:
        full = np.zeros((n, p))
        ok = bgp_best >= 0
        full[np.flatnonzero(ok), bgp_best[ok]] = bps[ok]
        bps = full
    samples_arr = np.broadcast_to(np.asarray(samples, dtype=np.int64), (n, p)).copy()
    cons = (
        np.zeros((n, p), dtype=np.int64)
        if consecutive_losses is None
        else np.asarray(consecutive_losses, dtype=np.int64)
    )
    low, high = wilson_ratio(loss, samples_arr, 1.96)
    traffic = TrafficSnapshot(
        time=now,
        window_s=60.0,
        prefixes=prefixes,
        providers=providers,
        bps=bps,
        pps=bps / 8000,
        provider_bps=dict(link_bps) if link_bps else {},
        provider_5m_samples={k: tuple(v) for k, v in (billing_samples or {}).items()},
    )
    routes = RoutesSnapshot(
        time=now,
        prefixes=prefixes,
        providers=providers,
        has_route=has_route,
        as_path_len=np.where(has_route, 3, -1).astype(np.int32),
        bgp_best=bgp_best,
        provider_up=dict(provider_up or {}),
        origin_as=None
        if origin_as is None
        else np.where(has_route, np.asarray(origin_as, dtype=np.int64)[:, None], 0),
    )
    meas = MeasurementSnapshot(
        time=now,
        prefixes=prefixes,
        providers=providers,
        rtt_median_ms=rtt,
        rtt_p90_ms=rtt * 1.1,
        rtt_min_ms=rtt * 0.95,
        jitter_ms=np.ones((n, p)) if jitter is None else np.asarray(jitter, float).reshape(n, p),
        loss=loss,
        loss_low=low,
        loss_high=high,
        samples=samples_arr,
        consecutive_losses=cons,
        last_answer=np.where(samples_arr > 0, now, np.nan),
    )
    return DecisionInput(
        now=now,
        traffic=traffic,
        routes=routes,
        measurements=meas,
        injections=injections,
        pins=dict(pins or {}),
        exclusions=exclusions,
        policy=rules,
        maintenance=maintenance or MaintenanceNow(),
        billing=billing,
        as_incidents=dict(as_incidents or {}),
        link_measured=link_measured,
    )
