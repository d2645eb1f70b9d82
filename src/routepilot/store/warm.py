"""Warm start: the last stored minute of traffic, as a traffic snapshot.

After a restart the exporters' templates and rates take a while to come back;
until they do, the minute flows/ stored last says where the traffic goes, so
the first decision rounds are not made blind.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from routepilot.flows.snapshot import TrafficRow, TrafficSnapshot

WINDOW_S = 60.0
"""The stored rows are per minute; the snapshot says so."""


def last_minute(rows: Sequence[TrafficRow], providers: Sequence[str]) -> TrafficSnapshot | None:
    """The most recent minute among ``rows`` per (prefix, provider), busiest prefix first.

    Rows of providers not in ``providers`` (removed from the configuration since)
    and empty rows are left out; None when nothing is left.
    """
    providers = tuple(providers)
    kept = [r for r in rows if r.provider in providers and r.bytes > 0]
    if not kept:
        return None
    last = max(r.time for r in kept)
    kept = [r for r in kept if r.time == last]
    prefixes = tuple(sorted({r.prefix for r in kept}))
    row = {p: i for i, p in enumerate(prefixes)}
    col = {p: k for k, p in enumerate(providers)}
    bps = np.zeros((len(prefixes), len(providers)))
    pps = np.zeros_like(bps)
    for r in kept:
        i, k = row[r.prefix], col[str(r.provider)]  # kept rows all name a provider
        bps[i, k] += r.bytes * 8 / r.window_s
        pps[i, k] += r.packets / r.window_s
    order = np.argsort(-bps.sum(axis=1), kind="stable")
    return TrafficSnapshot(
        time=last,
        window_s=WINDOW_S,
        prefixes=tuple(prefixes[i] for i in order),
        providers=providers,
        bps=bps[order],
        pps=pps[order],
        provider_bps={p: float(bps[:, k].sum()) for p, k in col.items()},
    )
