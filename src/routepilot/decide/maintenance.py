"""Maintenance windows: when a provider is off limits, and what a round does about it.

A window names a provider and a time span. While one is in force, no move lands
on that provider and the improvements routed through it are withdrawn; with
``drain`` the traffic whose BGP default is that provider is moved onto the
others too, and it comes back when the window ends, which is what an engineer
does by hand before a provider's planned work.

Everything here is pure: windows are plain values, a cron schedule is expanded
against the round's ``now`` (UTC), and the rules below work on the round's
columns like every other rule of decide/. The round sees only
:class:`MaintenanceNow` (which providers are blocked, which drain), one input
beside the others; the values themselves are in ``decide/windows.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from routepilot.decide.context import Round
from routepilot.decide.quality import best, pick
from routepilot.decide.reasons import Reason
from routepilot.decide.windows import MaintenanceNow, Schedule, Window, in_force, valid_cron

__all__ = ["MaintenanceNow", "Schedule", "Window", "in_force", "valid_cron"]


# -- the rules, on a round's columns -----------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """``MaintenanceNow`` as provider columns of the round."""

    blocked: np.ndarray
    draining: np.ndarray

    @property
    def any(self) -> bool:
        return bool(self.blocked.any())

    def of(self, mask: np.ndarray, col: np.ndarray) -> np.ndarray:
        """Per row: is provider ``col[i]`` (``-1``: none) in ``mask``?"""
        return (col >= 0) & mask[np.maximum(col, 0)] if mask.size else np.zeros(col.size, bool)


def columns(now: MaintenanceNow, providers: Sequence[str]) -> Columns:
    blocked = np.array([p in now.blocked for p in providers], dtype=bool)
    draining = np.array([p in now.draining for p in providers], dtype=bool)
    return Columns(blocked, draining)


def restrict(r: Round, m: Columns, pin_col: np.ndarray) -> None:
    """No rule of this round may choose a provider in a window: they are no longer
    usable targets, and a pin to one waits until the window ends."""
    if not m.any:
        return
    r.q.usable[:, m.blocked] = False
    r.pin_ok[m.of(m.blocked, pin_col)] = False


def settle(r: Round, m: Columns, pin_col: np.ndarray) -> None:
    """Withdraws improvements from providers in a window, drains the traffic whose BGP
    default is a draining provider, and brings drained traffic home when its window ends.

    Drains and withdrawals ignore hold-down (the operator planned them) but not the
    change limits; the capacity allocation that follows may still spread drained
    prefixes over the remaining links. Runs after ``restrict``.
    """
    f, q, policy, cur, d = r.f, r.q, r.policy, r.cur, r.default
    has_cur = cur >= 0
    d_drains = m.of(m.draining, d)
    if m.any:
        # A provider with a route that answers, or was never probed; a drain sends the
        # traffic where BGP would if the provider went down, probed or not.
        fallback = q.routable & ~q.failing & ~m.blocked[None, :]
        probed = np.asarray(q.usable.any(axis=1), dtype=bool)
        alt = r.prefer_avoiding(np.where(probed[:, None], q.usable, fallback))
        target = best(f, alt, d, policy)
        target = np.where(r.pin_ok, pin_col, target)
        d_ok = pick(q.usable, d)
        d_broken = ~pick(q.routable, d) | pick(q.failing, d)
        off = has_cur & m.of(m.blocked, cur) & (cur != d)
        leave_to = np.where(d_ok, d, np.where((target >= 0) & (d_drains | d_broken), target, d))
        r.settle(off, leave_to, Reason.MAINTENANCE)
        r.settle(d_drains & (cur == d) & has_cur & (target >= 0), target, Reason.MAINTENANCE)
    # Drained traffic comes home once its default is out of every window (and answers).
    home = (r.act_reason == Reason.MAINTENANCE) & has_cur & (cur != d) & (d >= 0)
    home &= ~m.of(m.blocked, d) & pick(q.routable, d) & ~pick(q.failing, d)
    home &= ~r.onto_crossing(d)  # not while its path crosses an open incident's AS
    r.settle(home, d, Reason.REVERT)


def keep_off(r: Round, m: Columns) -> None:
    """The last word, after every rule: a change that would land on a provider in a
    window does not happen. Two exceptions keep routepilot's safety rules first: an
    exit that lost its route or stopped answering goes back to BGP's default, and so
    does an improvement on a provider in a window when nothing better is free."""
    if not m.any:
        return
    cur, d, desired = r.cur, r.default, r.desired
    q = r.q
    lands = (desired != cur) & m.of(m.blocked, desired)
    cur_bad = (cur >= 0) & (~pick(q.routable, cur) | pick(q.failing, cur))
    allowed = (desired == d) & (cur_bad | m.of(m.blocked, cur))
    stay = lands & ~allowed
    desired[stay] = cur[stay]
    r.reason[stay] = Reason.MAINTENANCE


def landing_ok(
    exit_col: np.ndarray,
    current: np.ndarray,
    default: np.ndarray,
    blocked: np.ndarray,
    current_bad: np.ndarray,
) -> np.ndarray:
    """Per row, the rule :func:`keep_off` enforces (for tests and replays): no change lands
    on a provider in a window except back to BGP's default from a broken or blocked exit."""
    m = Columns(blocked, np.zeros_like(blocked))
    lands = (exit_col != current) & m.of(blocked, exit_col)
    excused = (exit_col == default) & (current_bad | m.of(blocked, current))
    return ~lands | excused
