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
from collections import deque
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054
Z99 = 2.5758293035489004


def wilson(lost: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a loss ratio of ``lost`` out of ``n``; (nan, nan) if n == 0."""
    if n <= 0:
        return math.nan, math.nan
    p = lost / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


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


class PathStats:
    """Rolling record of one (prefix, provider) path: results of the last ``window_s``."""

    __slots__ = (
        "window_s",
        "times",
        "rtts",
        "jitter",
        "_prev_rtt",
        "_losses",
        "_last_answer_sent",
        "last_answer",
        "sent_total",
        "answered_total",
    )

    def __init__(self, window_s: float, max_samples: int = 4096) -> None:
        self.window_s = window_s
        self.times: deque[float] = deque(maxlen=max_samples)
        self.rtts: deque[float] = deque(maxlen=max_samples)
        self.jitter = math.nan
        self._prev_rtt = math.nan
        self._losses: deque[float] = deque()
        self._last_answer_sent = -math.inf
        self.last_answer = math.nan
        self.sent_total = 0
        self.answered_total = 0

    def add(self, sent_at: float, rtt_ms: float, now: float) -> None:
        """Records one probe sent at ``sent_at``: its RTT, or NaN when lost."""
        self.times.append(sent_at)
        self.rtts.append(rtt_ms)
        self.sent_total += 1
        if rtt_ms == rtt_ms:
            self.answered_total += 1
            self.last_answer = now
            if sent_at >= self._last_answer_sent:
                self._last_answer_sent = sent_at
                losses = self._losses
                while losses and losses[0] <= sent_at:
                    losses.popleft()
            prev = self._prev_rtt
            if prev == prev:
                d = abs(rtt_ms - prev)
                self.jitter = (
                    d / 16.0
                    if self.jitter != self.jitter
                    else self.jitter + (d - self.jitter) / 16.0
                )
            self._prev_rtt = rtt_ms
        elif sent_at > self._last_answer_sent and len(self._losses) < 1_000_000:
            self._losses.append(sent_at)

    @property
    def consecutive_losses(self) -> int:
        """Probes lost since the last answered one, in the order they were sent."""
        return len(self._losses)

    def _trim(self, now: float) -> None:
        cutoff = now - self.window_s
        times, rtts = self.times, self.rtts
        while times and times[0] < cutoff:
            times.popleft()
            rtts.popleft()

    def summary(self, now: float) -> Summary:
        self._trim(now)
        arr = np.fromiter(self.rtts, dtype=np.float64, count=len(self.rtts))
        ok = arr[~np.isnan(arr)]
        return summarize(ok, int(arr.size), self.jitter)
