"""Rates while the smoothing warms up, over the time the records themselves span.

The smoothed rates (an EWMA of per-window rates, :mod:`~routepilot.flows.aggregate`)
start from zero, and the windows that fill them count bytes by when records arrive.
An exporter reports a long flow once per active timeout, and flows that began together
are reported together: bursts, every 6-6.7 s from the lab's softflowd against its 5 s
windows, so a window after a (re)start holds no burst or one, and the first records
carry bytes from before the start. Dividing the first windows' rates by the share the
EWMA has filled (bias correction) scales that noise up: isp1 read 1.56 Mb/s from flows
after a restart while its counter said 2.9.

A record says what time its bytes span (NetFlow's FIRST/LAST_SWITCHED, IPFIX's
flowStart/End): per (prefix, provider) key this keeps, from the start, the bytes and
packets of its records and the earliest start and latest end among them. Its rate over
that span is the *initial value* the EWMA lacked: the reported rate is the smoothed one
plus the share not yet filled times that initial value, ``s + (1 - filled) * x0``, as
an EWMA started from ``x0`` would read. The initial value fades exactly as the EWMA
forgets what it started from, so a prefix that moves during the warm-up leaves its old
provider at the EWMA's own pace; once the EWMA is ``WARM_UNTIL`` filled this state is
dropped and rates are the smoothed ones, bias-corrected as before.

Keys whose records carry no times (sFlow samples, templates without time fields, times
that cannot be) are not held: they take the smoothed rate divided by the filled share as
their initial value, which is the earlier bias correction. A held key's records without
times have their bytes read over its timed records' span. A span shorter than one
window (a single packet's record) is read over one window, as the windowed rates read
it. Keys beyond ``max_keys`` are not held (their records are counted, ``untracked``) and
take the untimed reading: four numbers a key, for at most ``max_keys`` keys.
"""

from __future__ import annotations

import numpy as np

WARM_UNTIL = 0.99
"""Filled share of the EWMA at which the warm-up ends: what the records' spans still
weigh then (1 %) is below what a window's rate moves the EWMA by."""


class WarmUp:
    """Per key (sorted uint64, as the aggregator's): bytes, packets, first start, last end."""

    def __init__(self, max_keys: int, floor_s: float) -> None:
        self.max_keys = max_keys
        self.floor_s = floor_s
        self.keys = np.zeros(0, dtype=np.uint64)
        self.sums = np.zeros((2, 0))
        """Bytes and packets of every record of the key (with times or without)."""
        self.first = np.zeros(0)
        self.last = np.zeros(0)
        self.untracked = 0
        """Records whose keys found no room (``max_keys``)."""

    def __len__(self) -> int:
        return len(self.keys)

    def add(
        self,
        unique: np.ndarray,
        inverse: np.ndarray,
        nbytes: np.ndarray,
        npkts: np.ndarray,
        start: np.ndarray | None,
        end: np.ndarray | None,
    ) -> None:
        """One batch: ``unique`` sorted distinct keys, ``inverse`` each record's index among
        them; ``start``/``end`` NaN (or None for all) where a record has no times."""
        timed = None if end is None else ~np.isnan(end)
        untimed = timed is None or not timed.any()
        if untimed and not len(self.keys):
            return  # nothing to add to: only keys with times are held
        m = len(unique)
        sums = np.empty((2, m))
        sums[0] = np.bincount(inverse, weights=nbytes, minlength=m)
        sums[1] = np.bincount(inverse, weights=npkts, minlength=m)
        first = np.full(m, np.inf)
        last = np.full(m, -np.inf)
        if not untimed:
            assert start is not None and end is not None and timed is not None
            if timed.all():
                np.minimum.at(first, inverse, start)
                np.maximum.at(last, inverse, end)
            else:
                np.minimum.at(first, inverse[timed], start[timed])
                np.maximum.at(last, inverse[timed], end[timed])
        self._merge(unique, sums, first, last, inverse)

    def _merge(
        self,
        keys: np.ndarray,
        sums: np.ndarray,
        first: np.ndarray,
        last: np.ndarray,
        inverse: np.ndarray | None,
    ) -> None:
        if len(self.keys):
            pos = np.searchsorted(self.keys, keys)
            clipped = np.minimum(pos, len(self.keys) - 1)
            found = self.keys[clipped] == keys
            if found.all():  # the common case once the keys are known
                self.sums[:, clipped] += sums
                np.minimum.at(self.first, clipped, first)
                np.maximum.at(self.last, clipped, last)
                return
            at = clipped[found]
            self.sums[:, at] += sums[:, found]
            self.first[at] = np.minimum(self.first[at], first[found])
            self.last[at] = np.maximum(self.last[at], last[found])
            new = np.flatnonzero(~found & np.isfinite(last))
        else:
            pos = np.zeros(len(keys), dtype=np.int64)
            new = np.flatnonzero(np.isfinite(last))
        # Only keys with times are held: one without reads as before, at no cost.
        if not len(new):
            return
        room = self.max_keys - len(self.keys)
        if len(new) > room:
            # The busiest new keys are held; the records of the others are counted.
            busy = sums[0, new]
            keep = np.zeros(len(new), dtype=bool)
            if room > 0:
                keep[np.argpartition(-busy, room - 1)[:room]] = True
            left = new[~keep]
            counts = (
                np.bincount(inverse, minlength=len(keys))[left]
                if inverse is not None
                else np.ones(len(left), dtype=np.int64)
            )
            self.untracked += int(counts.sum())
            new = new[keep]
        at = pos[new]
        self.keys = np.insert(self.keys, at, keys[new])
        self.sums = np.insert(self.sums, at, sums[:, new], axis=1)
        self.first = np.insert(self.first, at, first[new])
        self.last = np.insert(self.last, at, last[new])

    def initial(self) -> tuple[np.ndarray, np.ndarray]:
        """Per held key, its bits/s and packets/s over the span of its timed records
        (shape (2, keys), 0 for a key without), and whether it has such records."""
        timed = np.isfinite(self.last)
        span = np.maximum(np.where(timed, self.last - self.first, 0.0), self.floor_s)
        x0 = np.zeros((2, len(self.keys)))
        x0[0] = np.where(timed, self.sums[0] * 8.0 / span, 0.0)
        x0[1] = np.where(timed, self.sums[1] / span, 0.0)
        return x0, timed

    def remap(self, keys: np.ndarray, keep: np.ndarray) -> None:
        """Takes renumbered keys (``keys``, unsorted, one per held key) and drops those not
        in ``keep``; keys that now coincide are merged."""
        keys, sums = keys[keep], self.sums[:, keep]
        first, last = self.first[keep], self.last[keep]
        uk, inv = np.unique(keys, return_inverse=True)
        m = len(uk)
        merged = np.zeros((2, m))
        for i, row in enumerate(sums):
            merged[i] = np.bincount(inv, weights=row, minlength=m)
        lo = np.full(m, np.inf)
        hi = np.full(m, -np.inf)
        np.minimum.at(lo, inv, first)
        np.maximum.at(hi, inv, last)
        self.keys, self.sums, self.first, self.last = uk, merged, lo, hi
