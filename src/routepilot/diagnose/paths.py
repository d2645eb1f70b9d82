"""From the stages' snapshots to path states: which paths are degraded, what they cross.

- A hop's AS: the origin (last) AS of the longest learned route that covers its
  address, through whichever provider has one (the RIB's longest match).
- A path's ASes: BGP's AS path for (prefix, provider) (add-path, or BMP), each AS once,
  then any AS a traceroute of that path saw that BGP's path does not list.
- Degraded: enough probes in the window, and a loss at or over the threshold, or down,
  or a median RTT that much over the prefix's best provider's. How far a path is toward
  that (its severity: loss over the threshold, or RTT excess over its threshold) is kept
  too, for correlate.py to weigh paths taken together.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from routepilot.config.diagnose import DiagnoseConfig
from routepilot.diagnose.correlate import PathState
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.rib.snapshot import RoutesSnapshot

LearnedPath = Callable[[str, str], "tuple[int, ...] | None"]
"""(prefix or address/len, provider) -> that provider's AS path for it (Rib.learned_path)."""


def hop_asn(learned_path: LearnedPath, providers: Sequence[str], address: str) -> int | None:
    """The AS ``address`` belongs to by the learned routes' longest match (None: none)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    host = f"{ip}/{ip.max_prefixlen}"
    for provider in providers:
        path = learned_path(host, provider)
        if path:
            return int(path[-1])
    return None


def unique(asns: Sequence[int]) -> tuple[int, ...]:
    out: list[int] = []
    for a in asns:
        if a not in out:
            out.append(int(a))
    return tuple(out)


def path_states(
    config: DiagnoseConfig,
    meas: MeasurementSnapshot,
    routes: RoutesSnapshot | None,
    learned_path: LearnedPath,
    traced: Mapping[tuple[str, str], Sequence[int]],
) -> list[PathState]:
    """Every measured path (enough samples) of the snapshot, judged and with its ASes."""
    if not meas.prefixes:
        return []
    samples = np.asarray(meas.samples)
    loss = np.asarray(meas.loss, dtype=float)
    rtt = np.asarray(meas.rtt_median_ms, dtype=float)
    down = meas.down()
    measured = samples >= config.min_samples
    # With routes known, a path counts only through a provider with a route covering the
    # prefix (a destination learned from flows but routed by no one — a router's own link
    # address — has no AS path to correlate, and would stay "degraded" for ever).
    routed = routes is not None and bool(routes.prefixes)
    with np.errstate(all="ignore"):
        best = np.nanmin(np.where(measured & ~np.isnan(rtt), rtt, np.inf), axis=1)
    out: list[PathState] = []
    for i, prefix in enumerate(meas.prefixes):
        for k, provider in enumerate(meas.providers):
            if not measured[i, k]:
                continue
            learned = learned_path(prefix, provider)
            if routed and learned is None:
                continue
            lost = float(loss[i, k])
            r = float(rtt[i, k])
            severity = 0.0 if math.isnan(lost) else lost / config.loss
            if not math.isnan(r) and math.isfinite(best[i]):
                severity = max(severity, (r - float(best[i])) / config.rtt_excess_ms)
            degraded = bool(down[i, k]) or severity >= 1.0
            bgp = learned or ()
            asns = unique(bgp)
            extra = [a for a in traced.get((prefix, provider), ()) if a not in asns]
            out.append(
                PathState(prefix, provider, degraded, lost, r, asns + unique(extra), severity)
            )
    return out


def crossing(
    prefixes: Sequence[str],
    providers: Sequence[str],
    learned_path: LearnedPath,
    traced: Mapping[tuple[str, str], Sequence[int]],
    asns: Iterable[int],
) -> dict[str, dict[str, int]]:
    """prefix -> {provider: AS}: the paths (BGP's AS path, or a traceroute's hops) that
    cross one of ``asns``, each with the lowest such AS; a prefix none crosses is absent."""
    wanted = sorted(set(asns))
    out: dict[str, dict[str, int]] = {}
    if not wanted:
        return out
    for prefix in prefixes:
        for provider in providers:
            path = {*(learned_path(prefix, provider) or ()), *traced.get((prefix, provider), ())}
            hit = next((a for a in wanted if a in path), None)
            if hit is not None:
                out.setdefault(prefix, {})[provider] = hit
    return out
