"""Per-minute rollups of every path, handed to an injected sink (store/ implements it).

A rollup row summarises one (prefix, provider) path over one UTC minute, or over a
shorter period dividing it (``probe.rollup_s``). The prober accumulates the current
period and hands the finished one to the sink when the period turns (and on stop), so
the sink sees each period once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from routepilot.probe.snapshot import ProbeRollup

__all__ = ["MemoryRollupSink", "MinuteAccumulator", "ProbeRollup", "RollupSink"]


class RollupSink(Protocol):
    """Where finished minutes go. Called from the event loop: keep it quick (buffer, or hand
    off to a thread); an exception is logged and counted, and that minute's rows dropped."""

    def write_probe_rollups(self, rows: Sequence[ProbeRollup]) -> None: ...


class MemoryRollupSink:
    """A sink that keeps every row in a list (tests, and a fake for other stages)."""

    def __init__(self) -> None:
        self.rows: list[ProbeRollup] = []

    def write_probe_rollups(self, rows: Sequence[ProbeRollup]) -> None:
        self.rows.extend(rows)


class MinuteAccumulator:
    """Collects RTTs and losses per path for the current minute (or ``length_s``, a
    divisor of 60: rollups never straddle a minute, so minute buckets stay whole)."""

    def __init__(self, kind: str, length_s: int = 60) -> None:
        if length_s < 1 or 60 % length_s:
            raise ValueError(f"rollup length {length_s} s: expected a divisor of 60")
        self.kind = kind
        self.length_s = length_s
        self.minute = -1
        """Start of the period in progress (-1: none yet)."""
        self._paths: dict[tuple[str, str], list] = {}

    def add(self, now: float, prefix: str, provider: str, rtt_ms: float) -> None:
        """``rtt_ms`` NaN for a lost probe."""
        entry = self._paths.get((prefix, provider))
        if entry is None:
            entry = self._paths[prefix, provider] = [0, []]
        entry[0] += 1
        if rtt_ms == rtt_ms:
            entry[1].append(rtt_ms)

    def turns(self, now: float) -> bool:
        """Would :meth:`roll` finish a minute at ``now``? (Then, and only then, is the
        jitter it is given read: gathering it every second cost a pass over every path.)"""
        return self.minute >= 0 and self._start(now) != self.minute

    def roll(self, now: float, jitter: dict[tuple[str, str], float]) -> list[ProbeRollup]:
        """Finished rows when ``now`` is in a new period (else nothing); starts the next one."""
        minute = self._start(now)
        if self.minute < 0:
            self.minute = minute
            return []
        if minute == self.minute:
            return []
        return self.flush(minute, jitter)

    def _start(self, now: float) -> int:
        return int(now // self.length_s) * self.length_s

    def flush(self, next_minute: int, jitter: dict[tuple[str, str], float]) -> list[ProbeRollup]:
        rows = self.peek(jitter)
        self._paths = {}
        self.minute = next_minute
        return rows

    def peek(
        self, jitter: dict[tuple[str, str], float], prefix: str | None = None
    ) -> list[ProbeRollup]:
        """The current minute's rows so far (of one prefix when given), leaving them to be
        finished (the dashboard shows the minute in progress before it is stored)."""
        paths = self._paths
        if prefix is not None:
            paths = {k: v for k, v in paths.items() if k[0] == prefix}
        keys = list(paths)
        entries = list(paths.values())
        stats = _quantiles([rtts for _, rtts in entries])
        rows = []
        for (prefix, provider), (sent, _), (answered, mn, med, p90, mx) in zip(
            keys, entries, stats, strict=True
        ):
            rows.append(
                ProbeRollup(
                    minute=self.minute,
                    prefix=prefix,
                    provider=provider,
                    kind=self.kind,
                    sent=sent,
                    answered=answered,
                    rtt_min_ms=mn,
                    rtt_median_ms=med,
                    rtt_p90_ms=p90,
                    rtt_max_ms=mx,
                    jitter_ms=jitter.get((prefix, provider), math.nan),
                    loss=(sent - answered) / sent if sent else math.nan,
                )
            )
        return rows


def _quantiles(groups: list[list[float]]) -> list[tuple[int, float, float, float, float]]:
    """Per group of RTTs: (count, min, median, 90th percentile, max), NaN when empty.

    Paths are grouped by their number of answers and each group summarised as one 2-D
    array: np.percentile along rows computes what it does for each row alone, with one
    call per distinct count instead of one per path (20k paths took most of a second)."""
    nan = math.nan
    out: list[tuple[int, float, float, float, float]] = [(0, nan, nan, nan, nan)] * len(groups)
    by_size: dict[int, list[int]] = {}
    for i, rtts in enumerate(groups):
        if rtts:
            by_size.setdefault(len(rtts), []).append(i)
    for size, which in by_size.items():
        arr = np.array([groups[i] for i in which], dtype=np.float64).reshape(len(which), size)
        med, p90 = np.percentile(arr, (50, 90), axis=1).tolist()
        mn, mx = arr.min(axis=1).tolist(), arr.max(axis=1).tolist()
        for j, i in enumerate(which):
            out[i] = (size, mn[j], med[j], p90[j], mx[j])
    return out
