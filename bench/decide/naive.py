"""The benchmark's peer: the same outage/loss/latency rules, one prefix at a time.

Written the obvious way (a Python loop with per-prefix lists) to show what
vectorising buys; it covers one stateless performance round, no capacity.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def _wilson(p: float, n: int, z: float) -> tuple[float, float]:
    if n <= 0 or p != p:
        return math.nan, math.nan
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(centre - half, 0.0), min(centre + half, 1.0)


def decide_naive(inp, policy, providers) -> list[int]:
    m, routes = inp.measurements, inp.routes
    n, p = len(inp.traffic.prefixes), len(providers)
    thr = policy.loss_threshold_pct / 100
    z = NormalDist().inv_cdf(policy.loss_confidence_pct / 100)
    out = []
    for i in range(n):
        d = int(routes.bgp_best[i])
        usable = []
        for k in range(p):
            ok = bool(routes.has_route[i, k]) and int(m.samples[i, k]) >= policy.min_samples
            failing = int(m.consecutive_losses[i, k]) >= policy.outage_consecutive_losses
            failing = failing or float(m.loss[i, k]) >= 1.0
            usable.append(ok and not failing)
        choice = d
        if not usable[d] and int(m.consecutive_losses[i, d]) >= policy.outage_consecutive_losses:
            alts = [k for k in range(p) if usable[k] and k != d]
            if alts:
                choice = _best(m, i, alts, d, policy)
            out.append(choice)
            continue
        lc = float(m.loss[i, d])
        lc_low, lc_high = _wilson(lc, int(m.samples[i, d]), z)
        rc = float(m.rtt_median_ms[i, d])
        by_loss, by_lat = [], []
        for k in range(p):
            if not usable[k] or not int(m.samples[i, d]) >= policy.min_samples:
                continue
            lk = float(m.loss[i, k])
            lk_low, lk_high = _wilson(lk, int(m.samples[i, k]), z)
            sig = lc_low - lk >= thr
            if lc - lk >= thr and sig:
                by_loss.append(k)
            need = max(policy.latency_threshold_ms, rc * policy.latency_threshold_pct / 100)
            gain = rc - float(m.rtt_median_ms[i, k])
            worse = lk_low > lc
            if gain >= need and not worse:
                by_lat.append(k)
        if by_loss:
            choice = _best(m, i, by_loss, d, policy)
        elif by_lat:
            choice = _best(m, i, by_lat, d, policy)
        out.append(choice)
    return out


def _best(m, i, cands, prefer, policy) -> int:
    losses = {k: float(m.loss[i, k]) for k in cands}
    least = min(losses.values())
    near = [k for k in cands if losses[k] <= least + policy.loss_threshold_pct / 200]
    rtts = {k: float(m.rtt_median_ms[i, k]) for k in near}
    choice = min(near, key=lambda k: (rtts[k] if not math.isnan(rtts[k]) else math.inf, k))
    if prefer in near and rtts[prefer] <= rtts[choice] + policy.latency_threshold_ms / 2:
        return prefer
    return int(np.int64(choice))
