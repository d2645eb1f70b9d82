"""Traffic per (prefix, provider): windows, smoothed rates, 1- and 5-minute buckets.

State is columnar: sorted uint64 keys (``prefix code << 5 | provider slot``)
with float64 columns beside them. A batch is reduced with ``np.unique`` and
``bincount``, then merged into the sorted state with ``searchsorted`` and one
``np.insert`` for new keys: no Python object per prefix, so a million tracked
prefixes cost tens of megabytes.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import numpy as np

from routepilot.flows.sink import ProviderRow, RollupSink, TrafficRow
from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.flows.warmup import WARM_UNTIL, WarmUp
from routepilot.log import get_logger

log = get_logger(__name__)

SLOT_BITS = 5
SLOT_MASK = np.uint64((1 << SLOT_BITS) - 1)
MINUTE = 60.0
FIVE_MINUTES = 300.0
MAX_CATCH_UP = 60
"""Buckets closed at once after a stall; older gaps are skipped, not zero-filled."""
WARM_WINDOWS = 2
"""Windows with records after which snapshots correct smoothed rates of records without
times for the warm-up (see :mod:`~routepilot.flows.warmup` for those with times)."""


class Columns:
    """Sorted unique keys with value columns."""

    def __init__(self, ncols: int) -> None:
        self.keys = np.zeros(0, dtype=np.uint64)
        self.vals = np.zeros((ncols, 0), dtype=np.float64)

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, keys: np.ndarray, vals: np.ndarray) -> None:
        """Adds ``vals[:, i]`` to key ``keys[i]``; ``keys`` must be sorted and unique."""
        if not len(keys):
            return
        if not len(self.keys):
            self.keys, self.vals = keys.copy(), vals.copy()
            return
        pos = np.searchsorted(self.keys, keys)
        clipped = np.minimum(pos, len(self.keys) - 1)
        found = self.keys[clipped] == keys
        self.vals[:, clipped[found]] += vals[:, found]
        new = ~found
        if new.any():
            at = pos[new]
            self.keys = np.insert(self.keys, at, keys[new])
            self.vals = np.insert(self.vals, at, vals[:, new], axis=1)

    def keep(self, mask: np.ndarray) -> None:
        self.keys = self.keys[mask]
        self.vals = self.vals[:, mask]

    def clear(self) -> None:
        self.keys = self.keys[:0]
        self.vals = self.vals[:, :0]


def reduce(keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums ``vals`` columns per distinct key; returns sorted unique keys and sums."""
    uk, inv = np.unique(keys, return_inverse=True)
    out = np.empty((len(vals), len(uk)), dtype=np.float64)
    for i, v in enumerate(vals):
        out[i] = np.bincount(inv, weights=v, minlength=len(uk))
    return uk, out


class BatchKeys:
    """A batch's aggregation keys (``prefix code << 5 | provider slot``), reduced once: the
    sorted distinct keys and, per record, the index of its key among them."""

    __slots__ = ("unique", "inverse")

    def __init__(self, codes: np.ndarray, slots: np.ndarray) -> None:
        keys = (codes << np.uint64(SLOT_BITS)) | slots.astype(np.uint64)
        self.unique, self.inverse = np.unique(keys, return_inverse=True)


class Aggregator:
    """Accumulates scaled bytes and packets per (prefix code, provider slot)."""

    def __init__(
        self,
        providers: tuple[str, ...],
        window_s: float,
        smoothing_s: float,
        max_keys: int,
        billing_samples: int,
        rollup_top_n: int,
        start: float | None,
        sink: RollupSink | None = None,
    ) -> None:
        self.providers = providers
        self.slots = len(providers) + 1
        self.window_s = window_s
        self.alpha = 1.0 - math.exp(-window_s / smoothing_s)
        self.max_keys = max_keys
        self.rollup_top_n = rollup_top_n
        self.sink = sink
        self.sink_errors = 0
        self.window = Columns(2)
        self.minute = Columns(2)
        self.smooth = Columns(2)  # bits/s, packets/s
        self.started = start is not None
        self._restart(start or 0.0)
        self.win_provider = np.zeros((2, self.slots))
        self.min_provider = np.zeros((2, self.slots))
        self.five_provider = np.zeros((2, self.slots))
        self.provider_bps = np.zeros(self.slots)
        self.minute_samples: list[deque[float]] = [deque(maxlen=60) for _ in range(self.slots)]
        self.five_samples: list[deque[float]] = [
            deque(maxlen=billing_samples) for _ in range(self.slots)
        ]
        self.last_window_s = 0.0
        self.filled = 0.0
        """1 - (1 - alpha)^n over the n windows closed since the first record: the share of
        the smoothed rates that measurements fill (the rest is the zero they start from)."""
        self.data_windows = 0
        """Windows closed with records in them."""
        self.warm: WarmUp | None = WarmUp(max_keys, window_s)
        """Every key's records since the start, until the smoothed rates are filled
        (None after)."""

    def add(
        self,
        codes: np.ndarray,
        slots: np.ndarray,
        nbytes: np.ndarray,
        npkts: np.ndarray,
        start: np.ndarray | None = None,
        end: np.ndarray | None = None,
    ) -> None:
        """One batch of records (already scaled for sampling), with their first and last
        packets' times where known (NaN or None: not known)."""
        if not len(codes):
            return
        self.add_keyed(BatchKeys(codes, slots), slots, nbytes, npkts, start, end)

    def add_keyed(
        self,
        keys: BatchKeys,
        slots: np.ndarray,
        nbytes: np.ndarray,
        npkts: np.ndarray,
        start: np.ndarray | None = None,
        end: np.ndarray | None = None,
    ) -> None:
        """:meth:`add` with the batch's keys already reduced (shared with the SYN hints)."""
        if not len(slots):
            return
        if self.warm is not None:
            self.warm.add(keys.unique, keys.inverse, nbytes, npkts, start, end)
        uk = keys.unique
        sums = np.empty((2, len(uk)), dtype=np.float64)
        for i, v in enumerate((nbytes, npkts)):
            sums[i] = np.bincount(keys.inverse, weights=v, minlength=len(uk))
        self.window.add(uk, sums)
        self.minute.add(uk, sums)
        per_slot = np.vstack(
            [np.bincount(slots, weights=w, minlength=self.slots) for w in (nbytes, npkts)]
        )
        self.win_provider += per_slot
        self.min_provider += per_slot

    # -- time ------------------------------------------------------------------

    def _restart(self, now: float) -> None:
        # When counting began: the first minute and five minutes after a start are
        # partial, and their rates are over the part that was counted (_counted).
        self.counting_since = now
        self.window_start = now
        self.minute_start = math.floor(now / MINUTE) * MINUTE
        self.five_start = math.floor(now / FIVE_MINUTES) * FIVE_MINUTES

    def advance(self, now: float, text: Callable[[int], str]) -> None:
        """Closes every window and bucket that ended before ``now``.

        Without a start time, the first call sets the clock.
        """
        if not self.started:
            self.started = True
            self._restart(now)
            return
        if now - self.window_start >= self.window_s:
            self._close_window(now)
        steps = 0
        while now - self.minute_start >= MINUTE:
            self._close_minute(text)
            steps += 1
            if steps >= MAX_CATCH_UP:
                self.minute_start = math.floor(now / MINUTE) * MINUTE
                self.five_start = math.floor(now / FIVE_MINUTES) * FIVE_MINUTES
                break

    def _close_window(self, now: float) -> None:
        elapsed = max(now - self.window_start, 1e-9)
        self.window_start = now
        self.last_window_s = elapsed
        a = self.alpha
        if self.win_provider[0].any():
            self.data_windows += 1
        if self.data_windows:
            self.filled = self.filled * (1.0 - a) + a
            if self.warm is not None and self.filled >= WARM_UNTIL:
                self.warm = None
        self.smooth.vals *= 1.0 - a
        rates = self.window.vals * np.array([[8.0], [1.0]]) / elapsed
        self.smooth.add(self.window.keys, rates * a)
        self.window.clear()
        self.provider_bps = self.provider_bps * (1.0 - a) + a * self.win_provider[0] * 8 / elapsed
        self.win_provider[:] = 0
        # Forget what has decayed to nothing, and keep only the busiest beyond the cap.
        if len(self.smooth):
            alive = self.smooth.vals[0] >= 1.0
            if not alive.all():
                self.smooth.keep(alive)
        if len(self.smooth) > self.max_keys:
            top = np.argpartition(-self.smooth.vals[0], self.max_keys - 1)[: self.max_keys]
            mask = np.zeros(len(self.smooth), dtype=bool)
            mask[top] = True
            self.smooth.keep(mask)

    def _counted(self, start: float, length: float) -> float:
        """How much of the bucket [start, start + length) was counted: all of it, but
        for the first bucket after a start, which began before counting did. Dividing
        that bucket's bytes by its full length read its rates several times too low
        (and a warm start after the next restart began from them)."""
        return max(length - max(0.0, self.counting_since - start), 1.0)

    def _close_minute(self, text: Callable[[int], str]) -> None:
        start = self.minute_start
        self.minute_start += MINUTE
        span = self._counted(start, MINUTE)
        bps = self.min_provider[0] * 8 / span
        for s in range(self.slots):
            self.minute_samples[s].append(float(bps[s]))
        self.five_provider += self.min_provider
        rows = [
            ProviderRow(start, span, self._name(s), float(b), float(p), float(r))
            for s, (b, p, r) in enumerate(zip(*self.min_provider, bps, strict=True))
        ]
        traffic = self._minute_rows(start, span, text)
        self.min_provider[:] = 0
        self.minute.clear()
        if self.minute_start - self.five_start >= FIVE_MINUTES:
            five_span = self._counted(self.five_start, FIVE_MINUTES)
            five_bps = self.five_provider[0] * 8 / five_span
            for s in range(self.slots):
                self.five_samples[s].append(float(five_bps[s]))
            rows += [
                ProviderRow(
                    self.five_start, five_span, self._name(s), float(b), float(p), float(r)
                )  # fmt: skip
                for s, (b, p, r) in enumerate(zip(*self.five_provider, five_bps, strict=True))
            ]
            self.five_provider[:] = 0
            self.five_start += FIVE_MINUTES
        self._write(traffic, rows)

    def _minute_rows(
        self, start: float, span: float, text: Callable[[int], str]
    ) -> list[TrafficRow]:
        if self.sink is None or not len(self.minute):
            return []
        order = np.argsort(-self.minute.vals[0], kind="stable")[: self.rollup_top_n]
        keys = self.minute.keys[order]
        return [
            TrafficRow(
                start,
                span,
                text(int(k >> np.uint64(SLOT_BITS))),
                self._name(int(k & SLOT_MASK)),
                float(b),
                float(p),
            )  # fmt: skip
            for k, b, p in zip(
                keys, self.minute.vals[0][order], self.minute.vals[1][order], strict=True
            )  # fmt: skip
        ]

    def _write(self, traffic: list[TrafficRow], providers: list[ProviderRow]) -> None:
        if self.sink is None:
            return
        try:
            if traffic:
                self.sink.write_traffic(traffic)
            self.sink.write_provider_traffic(providers)
        except Exception as exc:  # the store's trouble must not stop collection
            self.sink_errors += 1
            log.warning("rollup write failed", error=repr(exc))

    def _name(self, slot: int) -> str | None:
        return self.providers[slot] if slot < len(self.providers) else None

    # -- output ----------------------------------------------------------------

    def remap(self, mapping: np.ndarray, table_codes_below: int) -> None:
        """Renumbers table-prefix codes after a routing table change; gone prefixes go."""
        for cols in (self.window, self.minute, self.smooth):
            renumbered = _renumber(cols.keys, mapping, table_codes_below)
            if renumbered is None:
                continue
            keys, keep = renumbered
            keys, vals = keys[keep], cols.vals[:, keep]
            order = np.argsort(keys, kind="stable")
            cols.keys, cols.vals = reduce(keys[order], vals[:, order])
        if self.warm is not None:
            renumbered = _renumber(self.warm.keys, mapping, table_codes_below)
            if renumbered is not None:
                self.warm.remap(*renumbered)

    def warm_up(self) -> float:
        """The factor that corrects smoothed rates for the zero they started from (keys
        whose records have no times, and every key once the warm-up has ended).

        An EWMA that starts at zero reads low for its first windows (28%, 49%, 63% ...
        of a steady rate with the lab's 5 s window and 15 s smoothing): after a
        restart every rate ramps up over a minute, and decisions made meanwhile
        (capacity detours) would follow the ramp. Dividing by the filled share, as
        bias-corrected moving averages do, gives the rate at once. It starts after
        two windows with records: one window alone holds a single export burst of
        each long flow (an exporter reports them once per active timeout). Records with
        times do better while the warm-up lasts (:mod:`~routepilot.flows.warmup`).
        """
        return 1.0 / self.filled if self.data_windows >= WARM_WINDOWS else 1.0

    def rates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every key's rate as snapshots read it: (keys, (2, keys) bits/s and packets/s,
        per slot bits/s). While the warm-up lasts, the smoothed rate plus the share not
        yet filled times the key's initial value (:mod:`~routepilot.flows.warmup`)."""
        scale = self.warm_up()
        warm = self.warm
        if warm is None or not len(warm):
            return self.smooth.keys, self.smooth.vals * scale, self.provider_bps * scale
        keys = np.union1d(self.smooth.keys, warm.keys)
        smooth = np.zeros((2, len(keys)))
        smooth[:, np.searchsorted(keys, self.smooth.keys)] = self.smooth.vals
        x0, timed = warm.initial()
        at = np.searchsorted(keys, warm.keys[timed])
        rest = 1.0 - self.filled
        vals = smooth * scale
        vals[:, at] = smooth[:, at] + rest * x0[:, timed]
        # Per slot: the timed keys' rates, and the rest of the slot's traffic (untimed
        # keys, keys not held) bias-corrected as before.
        slot_of = (warm.keys[timed] & SLOT_MASK).astype(np.int64)
        timed_x0 = np.bincount(slot_of, weights=x0[0, timed], minlength=self.slots)
        timed_s = np.bincount(slot_of, weights=smooth[0, at], minlength=self.slots)
        other = np.maximum(self.provider_bps - timed_s, 0.0)
        provider = timed_s + rest * timed_x0 + other * scale
        return keys, vals, provider

    def snapshot(self, now: float, top_n: int, text: Callable[[int], str]) -> TrafficSnapshot:
        """The busiest ``top_n`` prefixes by smoothed rate, with their per-provider split."""
        nprov = len(self.providers)
        keys, rates, provider_bps = self.rates()
        codes = keys >> np.uint64(SLOT_BITS)
        slots = (keys & SLOT_MASK).astype(np.int64)
        uniq, inv = np.unique(codes, return_inverse=True)
        total = np.bincount(inv, weights=rates[0], minlength=len(uniq))
        if len(uniq) > top_n:
            top = np.argpartition(-total, top_n - 1)[:top_n]
        else:
            top = np.arange(len(uniq))
        top = top[np.argsort(-total[top], kind="stable")]
        row_of = np.full(len(uniq), -1, dtype=np.int64)
        row_of[top] = np.arange(len(top))
        bps = np.zeros((len(top), nprov))
        pps = np.zeros((len(top), nprov))
        rows = row_of[inv]
        sel = (rows >= 0) & (slots < nprov)
        bps[rows[sel], slots[sel]] = rates[0][sel]
        pps[rows[sel], slots[sel]] = rates[1][sel]
        unattributed = np.zeros(len(top))
        none = (rows >= 0) & (slots == nprov)
        unattributed[rows[none]] = rates[0][none]
        return TrafficSnapshot(
            time=now,
            window_s=self.last_window_s or self.window_s,
            prefixes=tuple(text(int(c)) for c in uniq[top]),
            providers=self.providers,
            bps=bps,
            pps=pps,
            provider_bps={p: float(provider_bps[i]) for i, p in enumerate(self.providers)},
            provider_5m_samples={
                p: tuple(self.five_samples[i]) for i, p in enumerate(self.providers)
            },
            unattributed_bps=float(provider_bps[nprov]),
            prefix_unattributed_bps=unattributed,
            provider_1m_samples={
                p: tuple(self.minute_samples[i]) for i, p in enumerate(self.providers)
            },
        )


def _renumber(
    keys: np.ndarray, mapping: np.ndarray, table_codes_below: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Keys with their table-prefix codes renumbered by ``mapping`` (unsorted), and which
    are kept (their prefix is still in the table); None when nothing changes."""
    if not len(keys):
        return None
    codes = keys >> np.uint64(SLOT_BITS)
    in_table = codes < np.uint64(table_codes_below)
    if not in_table.any():
        return None
    new = mapping[np.minimum(codes[in_table], len(mapping) - 1).astype(np.int64)]
    keep = np.ones(len(keys), dtype=bool)
    keep[np.flatnonzero(in_table)[new < 0]] = False
    out = keys.copy()
    out[in_table] = (new.clip(0).astype(np.uint64) << np.uint64(SLOT_BITS)) | (
        out[in_table] & SLOT_MASK
    )
    return out, keep
