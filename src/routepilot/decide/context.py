"""One decision round's working data, handed to each rule as one value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from routepilot.decide.config import PolicyConfig
from routepilot.decide.frame import Frame
from routepilot.decide.quality import Quality, pick
from routepilot.decide.reasons import Reason


@dataclass(frozen=True)
class Round:
    """The aligned inputs of a round and the columns its rules fill in.

    Rows are prefixes, provider columns are indexes into ``f.providers``. The
    rules write ``desired``, ``reason`` and ``decided`` in place (the first rule
    that settles a prefix wins) and ``misses``; everything else is read only.
    """

    f: Frame
    q: Quality
    policy: PolicyConfig
    now: float
    cur: np.ndarray
    """Exit in force: the injected provider, else BGP's default."""
    default: np.ndarray
    """BGP's own choice (-1: no route)."""
    desired: np.ndarray
    reason: np.ndarray
    decided: np.ndarray
    hold: np.ndarray
    """The prefix moved within ``hold_down_s``."""
    avoid: np.ndarray
    """(N, P): providers the prefix fled for an outage or loss within ``failure_memory_s``."""
    act_reason: np.ndarray
    """Reason of the improvement in force (-1: none)."""
    act_col: np.ndarray
    """Provider of the improvement in force (-1: none)."""
    since: np.ndarray
    """When the improvement in force began."""
    misses: np.ndarray
    """Consecutive rounds the improvement in force did not hold."""
    pending: np.ndarray
    """Consecutive rounds an improvement has held before this round."""
    pin_ok: np.ndarray
    """Pinned to a provider that can carry the prefix."""
    excluded: np.ndarray
    pinned: np.ndarray
    """(N, P) bits/s that stays on each provider whatever the prefix's exit (traffic
    measured off its exit that does not follow its route, such as probes)."""
    demand: np.ndarray
    """Bits/s each prefix counts for on the link that carries it (decide/capacity.py)."""
    steer: np.ndarray
    """Bits/s of each prefix that follows its route, as measured this round."""
    no_target: Mapping[Reason, np.ndarray] = field(default_factory=dict)
    """(P,) per reason: providers no move for that reason may land on (policy)."""
    jitter_threshold: np.ndarray | None = None
    """(N,) each row's policy rule's jitter threshold in ms (NaN: none; None: no rule has
    one): commit moves keep those prefixes off paths more jittery by it."""

    def barred(self, *why: Reason) -> np.ndarray:
        """(P,) providers excluded as a target of moves for any of ``why``."""
        out = np.zeros(len(self.f.providers), dtype=bool)
        for w in why:
            if w in self.no_target:
                out |= self.no_target[w]
        return out

    def prefer_avoiding(self, mask: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """``mask`` (N, P; or the ``rows`` given) less the providers whose path crosses an
        open incident's AS, in the rows where ``mask`` holds a provider that avoids every
        such AS: a move's targets, of which a crossing one is taken only when none avoids.
        The current exit is never taken out (staying is no move), so that a capacity or
        commit allocation can still leave a prefix where it is."""
        crossing = (self.f.crossing if rows is None else self.f.crossing[rows]) != 0
        if not crossing.any():
            return mask
        cur = self.cur if rows is None else self.cur[rows]
        drop = crossing & (mask & ~crossing).any(axis=1)[:, None]
        has = np.flatnonzero(cur >= 0)
        drop[has, cur[has]] = False
        return mask & ~drop

    def onto_crossing(self, target: np.ndarray) -> np.ndarray:
        """(N,) a move to ``target`` would leave a path that avoids every open incident's
        AS for one that crosses it: no rule that goes back to BGP's default does that."""
        crossing = self.f.crossing != 0
        return pick(crossing, target) & (target >= 0) & ~pick(crossing, self.cur)

    def settle(self, mask: np.ndarray, target: np.ndarray | int, why: Reason) -> None:
        """Gives the rows of ``mask`` not yet decided the exit ``target`` for ``why``."""
        mask = mask & ~self.decided
        self.desired[mask] = target[mask] if isinstance(target, np.ndarray) else target
        self.reason[mask] = why
        self.decided[mask] = True
