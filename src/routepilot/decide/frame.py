"""Aligns the three snapshots onto one grid: rows = prefixes, columns = providers.

flows/, rib/ and probe/ each produce their own columnar snapshot; their rows
and columns need not be in the same order, nor cover the same prefixes. The
fast path (the same prefix tuple everywhere, as the daemon arranges) copies
nothing; otherwise rows are matched by exact prefix and, for routes only, by
covering prefix (a provider announcing a /16 carries the /24s inside it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from routepilot.decide.model import DecisionInput, ProviderLike
from routepilot.rib.snapshot import RoutesSnapshot

MBPS = 1e6


@dataclass(frozen=True)
class Frame:
    """The aligned numbers one round works on; every (N, P) array is indexed [prefix, provider]."""

    prefixes: tuple[str, ...]
    providers: tuple[str, ...]
    bps: np.ndarray
    tot: np.ndarray
    has_route: np.ndarray
    default: np.ndarray
    rtt: np.ndarray
    loss: np.ndarray
    samples: np.ndarray
    cons: np.ndarray
    unprobeable: np.ndarray
    provider_up: np.ndarray
    capacity_bps: np.ndarray
    commit_bps: np.ndarray
    price_per_bps: np.ndarray
    link_bps: np.ndarray
    billing: tuple[np.ndarray, ...]
    origin: np.ndarray
    """(N,) origin AS of the prefix: the last AS of BGP's default path, else of any
    provider's (0: unknown)."""
    jitter: np.ndarray
    """(N, P) the prober's jitter per path in ms (RFC 3550 running mean of the difference
    between consecutive RTTs; NaN: fewer than two answers)."""
    crossing: np.ndarray
    """(N, P) the AS of an open AS incident the path crosses (0: none; decide's
    ``as_incidents`` input)."""
    link_measured: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """(P,) ``link_bps`` is measured on the link (SNMP), not flows' own sum."""
    whole: bool = True
    """Is the traffic view a whole view of now (``TrafficSnapshot.whole``)? Not for the
    first active timeout and window after the collector starts: some flows are in and
    others not, at rates still ramping up, or the stored minute stands in, split between
    providers as the exits were before the restart. Commit control waits for one."""


def _row_index(src: Sequence[str], dst: Sequence[str]) -> np.ndarray | None:
    """Row of each ``dst`` prefix in ``src`` (-1 if absent); None when identical."""
    if src is dst or (len(src) == len(dst) and src == dst):
        return None
    where = {p: i for i, p in enumerate(src)}
    return np.fromiter((where.get(p, -1) for p in dst), dtype=np.int64, count=len(dst))


def _col_index(src: Sequence[str], names: Sequence[str]) -> np.ndarray | None:
    if tuple(src) == tuple(names):
        return None
    where = {p: i for i, p in enumerate(src)}
    return np.array([where.get(n, -1) for n in names], dtype=np.int64)


def _gather(
    arr: np.ndarray,
    rows: np.ndarray | None,
    cols: np.ndarray | None,
    shape: tuple[int, int],
    fill: float | int | bool,
    dtype: type,
) -> np.ndarray:
    if rows is None and cols is None and arr.shape == shape:
        return np.asarray(arr, dtype=dtype)
    out: np.ndarray = np.full(shape, fill, dtype=dtype)
    if arr.size == 0:
        return out
    r = np.arange(shape[0]) if rows is None else rows
    c = np.arange(shape[1]) if cols is None else cols
    r_ok = np.flatnonzero(r >= 0)
    c_ok = np.flatnonzero(c >= 0)
    if r_ok.size and c_ok.size:
        out[np.ix_(r_ok, c_ok)] = arr[np.ix_(r[r_ok], c[c_ok])]
    return out


def _routes(
    inp: DecisionInput, prefixes: tuple[str, ...], names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    snap = inp.routes
    shape = (len(prefixes), len(names))
    rows = _route_rows(snap, prefixes)
    cols = _col_index(snap.providers, names)
    has_route = _gather(snap.has_route, rows, cols, shape, False, bool)
    # BGP's choice is a column of the routes snapshot: translate it to ours.
    to_ours = np.full(len(snap.providers) + 1, -1, dtype=np.int64)
    ours = np.arange(len(names)) if cols is None else cols
    for c, src in enumerate(ours):
        if src >= 0:
            to_ours[src] = c
    best_src = np.asarray(snap.bgp_best, dtype=np.int64)
    if rows is None:
        default = to_ours[best_src] if best_src.size else np.full(shape[0], -1, np.int64)
    else:
        default = np.full(shape[0], -1, dtype=np.int64)
        hit = rows >= 0
        default[hit] = to_ours[best_src[rows[hit]]]
        missing = np.flatnonzero(~hit)
        if missing.size:
            _cover(snap, prefixes, missing, ours, to_ours, has_route, default)
    return has_route, default


def _route_rows(snap: RoutesSnapshot, prefixes: tuple[str, ...]) -> np.ndarray | None:
    """Row of each prefix in the routes snapshot (-1 if absent); None when identical.

    The snapshot's index, kept across rounds, answers without a pass over the table:
    a full table is a million rows, a round's prefixes a few thousand."""
    src = snap.prefixes
    if src is prefixes or (len(src) == len(prefixes) and src == prefixes):
        return None
    return snap.lookup().rows(prefixes)


def _cover(
    snap: RoutesSnapshot,
    prefixes: tuple[str, ...],
    missing: np.ndarray,
    ours: np.ndarray,
    to_ours: np.ndarray,
    has_route: np.ndarray,
    default: np.ndarray,
) -> None:
    """Fills rows with no exact route from the routes of their covering prefixes.

    ``ours`` maps each of our provider columns to the snapshot's (-1: absent) and
    ``to_ours`` the reverse; ``has_route`` and ``default`` are filled in place."""
    covers = snap.lookup().covering([prefixes[i] for i in missing])
    valid = ours >= 0
    for i, rows in zip(missing, covers, strict=True):
        for r in rows:
            has_route[i, valid] |= snap.has_route[r, ours[valid]]
            if default[i] < 0 and snap.bgp_best[r] >= 0:
                default[i] = to_ours[snap.bgp_best[r]]


def _origin(
    inp: DecisionInput, prefixes: tuple[str, ...], names: tuple[str, ...], default: np.ndarray
) -> np.ndarray:
    """Each row's origin AS from the routes snapshot (exact prefix rows only)."""
    snap = inp.routes
    n = len(prefixes)
    if snap.origin_as is None or n == 0:
        return np.zeros(n, dtype=np.int64)
    shape = (n, len(names))
    rows = _route_rows(snap, prefixes)
    cols = _col_index(snap.providers, names)
    per = _gather(np.asarray(snap.origin_as), rows, cols, shape, 0, np.int64)
    if not shape[1]:
        return np.zeros(n, dtype=np.int64)
    first = per[np.arange(n), np.argmax(per != 0, axis=1)]
    on_default = per[np.arange(n), np.maximum(default, 0)]
    return np.where((default >= 0) & (on_default != 0), on_default, first)


def _crossing(inp: DecisionInput, prefixes: tuple[str, ...], names: tuple[str, ...]) -> np.ndarray:
    """(N, P) the incident AS each path crosses (0: none), by exact prefix; a prefix or a
    provider the round does not know, or an ASN that is not a positive number, is
    ignored."""
    out = np.zeros((len(prefixes), len(names)), dtype=np.int64)
    if not inp.as_incidents:
        return out
    row = {p: i for i, p in enumerate(prefixes)}
    col = {n: k for k, n in enumerate(names)}
    for prefix, paths in inp.as_incidents.items():
        i = row.get(prefix)
        if i is None:
            continue
        for provider, asn in paths.items():
            k = col.get(provider)
            if k is not None and isinstance(asn, int) and asn > 0:
                out[i, k] = asn
    return out


def _check_shapes(inp: DecisionInput) -> None:
    """Rejects a snapshot whose columns do not match its prefix and provider tuples,
    naming the snapshot and the field, rather than failing deep inside numpy."""
    checks = (
        ("traffic", inp.traffic, ("bps",)),
        ("routes", inp.routes, ("has_route",)),
        (
            "measurements",
            inp.measurements,
            ("rtt_median_ms", "loss", "samples", "consecutive_losses"),
        ),
    )
    for what, snap, fields in checks:
        want = (len(snap.prefixes), len(snap.providers))
        for name in fields:
            got = np.shape(getattr(snap, name))
            if got != want:
                raise ValueError(
                    f"{what} snapshot: {name} has shape {got}, expected {want} "
                    f"({want[0]} prefixes x {want[1]} providers)"
                )
    if np.shape(inp.routes.bgp_best) != (len(inp.routes.prefixes),):
        raise ValueError(
            f"routes snapshot: bgp_best has shape {np.shape(inp.routes.bgp_best)}, "
            f"expected ({len(inp.routes.prefixes)},)"
        )


def build_frame(
    inp: DecisionInput, prefixes: tuple[str, ...], providers: Sequence[ProviderLike]
) -> Frame:
    names = tuple(p.name for p in providers)
    n, k = len(prefixes), len(names)
    shape = (n, k)
    _check_shapes(inp)
    t = inp.traffic
    t_rows = _row_index(t.prefixes, prefixes)
    t_cols = _col_index(t.providers, names)
    bps = _gather(t.bps, t_rows, t_cols, shape, 0.0, np.float64)
    # A rate that is not a finite, non-negative number is no traffic.
    bps = np.where(np.isfinite(bps) & (bps > 0), bps, 0.0)
    has_route, default = _routes(inp, prefixes, names)
    m = inp.measurements
    m_rows = _row_index(m.prefixes, prefixes)
    m_cols = _col_index(m.providers, names)

    def meas(arr: np.ndarray, fill: float | int, dtype: type) -> np.ndarray:
        return _gather(arr, m_rows, m_cols, shape, fill, dtype)

    unprobeable = np.zeros(n, dtype=bool)
    if m.unprobeable:
        unprobeable = np.fromiter((p in m.unprobeable for p in prefixes), dtype=bool, count=n)
    # With every iBGP session down nothing routepilot announces reaches a router,
    # and the routes it knows are stale: no provider is a valid target.
    sessions = inp.routes.session_up
    any_session = not sessions or any(sessions.values())
    up = np.array(
        [
            any_session
            and inp.routes.provider_up.get(nm, True)
            and m.provider_healthy.get(nm, True)
            for nm in names
        ],
        dtype=bool,
    )
    link_src = inp.link_bps if inp.link_bps is not None else t.provider_bps
    link = np.array(
        [link_src.get(nm, float(bps[:, c].sum())) for c, nm in enumerate(names)], dtype=float
    )
    bill_src = inp.billing_samples if inp.billing_samples is not None else t.provider_5m_samples
    billing = tuple(np.asarray(bill_src.get(nm, ()), dtype=float) for nm in names)
    return Frame(
        prefixes=prefixes,
        providers=names,
        bps=bps,
        tot=bps.sum(axis=1) if k else np.zeros(n),
        has_route=has_route,
        default=default,
        rtt=meas(m.rtt_median_ms, np.nan, np.float64),
        loss=meas(m.loss, np.nan, np.float64),
        samples=meas(m.samples, 0, np.int64),
        cons=meas(m.consecutive_losses, 0, np.int64),
        unprobeable=unprobeable,
        provider_up=up,
        capacity_bps=np.array([p.capacity_mbps * MBPS for p in providers], dtype=float),
        commit_bps=np.array([p.commit_mbps * MBPS for p in providers], dtype=float),
        price_per_bps=np.array([p.cost_per_mbps / MBPS for p in providers], dtype=float),
        link_bps=link,
        billing=billing,
        origin=_origin(inp, prefixes, names, default),
        jitter=meas(m.jitter_ms, np.nan, np.float64),
        crossing=_crossing(inp, prefixes, names),
        link_measured=np.array([nm in inp.link_measured for nm in names], dtype=bool),
        whole=t.whole,
    )
