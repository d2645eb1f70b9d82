"""Path statistics per (prefix, provider): RTT quantiles, loss with its interval, jitter.

- Loss interval: Wilson score interval (Wilson 1927), which stays inside [0, 1]
  and behaves at 0 or n losses, unlike the normal approximation.
- Jitter: RFC 3550 §6.4.1 interarrival jitter, J += (|D| − J) / 16, where D is
  the difference between successive RTTs (the sender and receiver are one clock
  here, so the RTT difference is the transit-time difference).
- Consecutive losses: probes lost in a row, in the order they were sent, reset
  by any answer sent later; the fast outage signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from routepilot.probe import _fastpath
from routepilot.stats import Z95, wilson_ratio

Z99 = 2.5758293035489004


def wilson(lost: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a loss ratio of ``lost`` out of ``n``; (nan, nan) if n == 0."""
    if n <= 0:
        return math.nan, math.nan
    low, high = wilson_ratio(np.array([lost / n]), np.array([float(n)]), z)
    return float(low[0]), float(high[0])


def rfc3550_jitter(rtts_ms: list[float] | np.ndarray) -> float:
    """Jitter over a sequence of RTTs (lost probes excluded), per RFC 3550 §6.4.1."""
    j = 0.0
    prev = None
    for r in rtts_ms:
        if prev is not None:
            j += (abs(r - prev) - j) / 16.0
        prev = r
    return j


@dataclass(frozen=True)
class Summary:
    """Statistics of one path over a window."""

    samples: int
    answered: int
    rtt_median_ms: float
    rtt_p90_ms: float
    rtt_min_ms: float
    rtt_max_ms: float
    jitter_ms: float
    loss: float
    loss_low: float
    loss_high: float

    def as_dict(self) -> dict:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in vars(self).items()
        }


def summarize(rtts_ms: np.ndarray, samples: int, jitter_ms: float = math.nan) -> Summary:
    """``rtts_ms`` are the answered probes' RTTs; ``samples`` counts all probes sent."""
    answered = int(rtts_ms.size)
    lost = samples - answered
    low, high = wilson(lost, samples)
    if answered:
        med, p90 = np.percentile(rtts_ms, (50, 90))
        mn, mx = float(rtts_ms.min()), float(rtts_ms.max())
    else:
        med = p90 = mn = mx = math.nan
    return Summary(
        samples=samples,
        answered=answered,
        rtt_median_ms=float(med),
        rtt_p90_ms=float(p90),
        rtt_min_ms=mn,
        rtt_max_ms=mx,
        jitter_ms=jitter_ms,
        loss=lost / samples if samples else math.nan,
        loss_low=low,
        loss_high=high,
    )


class PathStats(_fastpath.PathStats):
    """Rolling record of one (prefix, provider) path: results of the last ``window_s``
    (``PathStats(window_s, max_samples=4096)``), its jitter, and its consecutive losses
    (probes lost since the last answered one, in the order they were sent, reset by any
    answer sent later).

    Kept in C (probe/_fastpath.c): ``add(sent_at, rtt_ms, now)`` runs once per probe result
    and returns the consecutive losses; ``rtts`` and ``times`` are copies of the window, and
    :func:`summarize_many` reads many paths' windows at once."""

    __slots__ = ()

    def summary(self, now: float) -> Summary:
        self.trim(now)
        arr = np.array(self.rtts, dtype=np.float64)
        ok = arr[~np.isnan(arr)]
        return summarize(ok, int(arr.size), self.jitter)


def wilson_arrays(lost: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """:func:`wilson` over arrays; NaN where ``n`` is 0."""
    n = n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return wilson_ratio(lost / n, n, z)


_KEY = 1e6


def summarize_many(paths: list[PathStats], now: float) -> dict[str, np.ndarray]:
    """The :class:`Summary` fields of many paths at once, as arrays in ``paths`` order.

    One sort of every sample in the window (by path, then RTT) gives every path's order
    statistics, interpolated as :func:`numpy.percentile` does, without a Python loop over
    samples: a snapshot of 30k paths stays a few tens of milliseconds.
    """
    count = len(paths)
    lens_raw, flat_raw = _fastpath.windows(paths, now)
    lens = np.frombuffer(lens_raw, dtype=np.int64)
    flat = np.frombuffer(flat_raw, dtype=np.float64)
    ids = np.repeat(np.arange(count), lens)
    ok = ~np.isnan(flat)
    vals, ids = flat[ok], ids[ok]
    answered = np.bincount(ids, minlength=count)
    # One float sort instead of a lexsort: path id in the high part of the key, the RTT
    # (below 1e6 ms, far beyond any timeout) in the low part; exact to a few nanoseconds.
    keys = ids * _KEY + np.minimum(vals, _KEY - 1)
    keys.sort()
    vals = keys - np.repeat(np.arange(count, dtype=np.float64), answered) * _KEY
    starts = np.concatenate(([0], np.cumsum(answered)[:-1])).astype(np.int64)
    has = answered > 0
    out: dict[str, np.ndarray] = {}
    for name, q in (("rtt_median_ms", 0.5), ("rtt_p90_ms", 0.9)):
        pos = np.where(has, (answered - 1) * q, 0.0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.ceil(pos).astype(np.int64)
        frac = pos - lo
        v = np.full(count, np.nan)
        if vals.size:
            v[has] = (
                vals[(starts + lo)[has]] * (1 - frac[has]) + vals[(starts + hi)[has]] * frac[has]
            )
        out[name] = v
    out["rtt_min_ms"] = np.full(count, np.nan)
    if vals.size:
        out["rtt_min_ms"][has] = vals[starts[has]]
    lost = lens - answered
    with np.errstate(divide="ignore", invalid="ignore"):
        out["loss"] = np.where(lens > 0, lost / np.maximum(lens, 1), np.nan)
    out["loss_low"], out["loss_high"] = wilson_arrays(lost, lens)
    out["samples"] = lens
    out["jitter_ms"] = np.fromiter((st.jitter for st in paths), dtype=np.float64, count=count)
    return out
