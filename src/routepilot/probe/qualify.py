"""Host qualification and the RTT spread: is this address a fair witness of its prefix?

A probe target stands for its whole prefix, so a host that answers badly on its
own (an overloaded box dropping ICMP, a CPU that answers echo requests late)
would make every path to the prefix look bad. Each target keeps its last
``samples`` results through each provider (:class:`HostRecord`), and
:func:`judge` compares it with a sibling address of the same prefix over the
same providers:

- *loss*: the target loses at least ``loss`` of its probes through every
  provider it was judged on, significantly more than a sibling (Wilson 99%
  intervals over the pooled results do not overlap), and that sibling answers
  well through each of those providers. A loss on one provider only is that
  path's, never the host's.
- *spread*: the target's RTT spread is wide (:func:`wide`) through every
  provider, and the sibling's is narrow through each.

With no sibling answering well nothing is judged: when every address of a
prefix answers badly, the path is bad, and that must reach decide/ as loss.

The spread of a series of RTTs is its p90 - p10, estimated as 2.7 times the
median absolute difference between successive RTTs: for a normal spread the
ratio is 2.563 / 0.954 = 2.69, for a uniform one 1.6 / 0.586 = 2.73. Unlike the
quantiles of the window itself, it reads a step in the delay (a reroute, an
impairment set in the lab) as one large difference among many small ones, not
as a spread; and like the median RTT decide/ uses, a few late answers do not
move it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from routepilot.probe import _fastpath
from routepilot.probe._fastpath import median_step
from routepilot.probe.stats import Z99, wilson

SPREAD_PER_MEDIAN_STEP: float = _fastpath.SPREAD_PER_MEDIAN_STEP
"""p90 - p10 of a normal or uniform spread over the median |successive difference| (2.7;
defined in probe/_fastpath.c, which reads a target's spread on the result path)."""
MIN_ANSWERS: int = _fastpath.MIN_ANSWERS
"""Answers a spread is read from, at least (8: 7 differences)."""

LOSS, SPREAD, SILENT = "loss", "spread", "silent"
CAUSES = (LOSS, SPREAD, SILENT)
"""Why a target was replaced; ``silent`` is probe/targets.py's own rule (it stopped answering
through every provider while a sibling still answers)."""


def spread_ms(rtts: deque[float] | list[float]) -> float:
    """The p90 - p10 of the answered RTTs (NaN for a loss), from successive differences;
    NaN with fewer than :data:`MIN_ANSWERS` answers.

    Read in C (``_fastpath.median_step``): a target's spread is read every few answers,
    and in Python that was the largest single piece of the result path, about 1.3 µs of
    the prober's 24 µs of CPU a probe at fping's rate (docs/performance.md)."""
    return SPREAD_PER_MEDIAN_STEP * median_step(rtts, MIN_ANSWERS)


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    if not n:
        return math.nan
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


@dataclass(frozen=True)
class SpreadRule:
    """When a spread is wide: at least ``ms`` and ``ratio`` of the median RTT (``ms`` 0: never)."""

    ms: float = 10.0
    ratio: float = 0.25

    def wide(self, rtts: deque[float] | list[float]) -> bool:
        if self.ms <= 0:
            return False
        s = spread_ms(rtts)
        if not s >= self.ms:  # NaN: too few answers to tell
            return False
        return s >= self.ratio * median([r for r in rtts if r == r])

    def narrow(self, rtts: deque[float] | list[float]) -> bool:
        """Known and below half the threshold: a sibling that answers steadily."""
        s = spread_ms(rtts)
        return s == s and (self.ms <= 0 or s < self.ms / 2)


HostRecord = _fastpath.HostRecord
"""One target's last ``samples`` results through each provider: the RTT in ms, NaN when
lost (``HostRecord(samples=20)``). Kept in C (probe/_fastpath.c): the result path adds
to it once per answer, and reads its spread every few (``settle``); :func:`judge` reads it
back through ``results``, ``full()``, ``lost()``, ``count()`` and ``wide``."""


def judge(
    host: HostRecord, siblings: list[HostRecord], loss: float, rule: SpreadRule
) -> str | None:
    """Why ``host`` should be replaced (:data:`LOSS` or :data:`SPREAD`), or None."""
    providers = host.full()
    if not providers:
        return None
    n = host.samples
    if all(host.lost(p) >= loss * n for p in providers):
        lost = sum(host.lost(p) for p in providers)
        low = wilson(lost, n * len(providers), Z99)[0]
        for s in siblings:
            if any(s.count(p) < n // 2 or s.lost(p) > loss * s.count(p) / 4 for p in providers):
                continue
            s_lost = sum(s.lost(p) for p in providers)
            if wilson(s_lost, sum(s.count(p) for p in providers), Z99)[1] < low:
                return LOSS
    if rule.ms > 0 and all(host.wide.get(p, False) for p in providers):
        for s in siblings:
            if all(s.count(p) >= n // 2 and rule.narrow(s.results[p]) for p in providers):
                return SPREAD
    return None
