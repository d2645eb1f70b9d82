"""Path quality rules on the aligned grid: who may carry a prefix, who is better.

Every function works on whole (prefix, provider) arrays. NaN (never measured)
compares false everywhere, so an unmeasured path is never a reason to move
and never a target.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from routepilot.decide.config import PolicyConfig
from routepilot.decide.frame import Frame
from routepilot.stats import wilson_ratio


@dataclass(frozen=True)
class Quality:
    routable: np.ndarray
    """Provider has a route covering the prefix and its session is up."""
    measured: np.ndarray
    """Enough probes in the window for loss and RTT to count."""
    failing: np.ndarray
    """Consecutive losses on every target, or every probe lost, or the provider unhealthy."""
    usable: np.ndarray
    """A valid target for a move: routable, measured, not failing."""
    loss_low: np.ndarray
    """Lower bound of the loss ratio's Wilson interval at the policy's confidence."""
    loss_high: np.ndarray
    """Upper bound of the same interval."""


def assess(f: Frame, policy: PolicyConfig) -> Quality:
    routable = f.has_route & f.provider_up[None, :]
    measured = f.samples >= policy.min_samples
    failing = (f.cons >= policy.outage_consecutive_losses) | (measured & (f.loss >= 1.0))
    failing |= ~f.provider_up[None, :]
    usable = routable & measured & ~failing
    # "Is a lossier than b?" is one-sided: two-sided intervals at 1 - 2 * alpha give a
    # one-sided test at 1 - alpha.
    z = NormalDist().inv_cdf(policy.loss_confidence_pct / 100)
    low, high = wilson_ratio(f.loss, f.samples, z)
    return Quality(routable, measured, failing, usable, low, high)


def pick(arr: np.ndarray, col: np.ndarray) -> np.ndarray:
    """``arr[i, col[i]]``, NaN (or False/0) where ``col[i] < 0``."""
    n = arr.shape[0]
    if n == 0:
        return arr[:, 0] if arr.ndim == 2 and arr.shape[1] else np.zeros(0, dtype=arr.dtype)
    vals = arr[np.arange(n), np.maximum(col, 0)]
    if arr.dtype.kind == "f":
        return np.where(col >= 0, vals, np.nan)
    return np.where(col >= 0, vals, np.zeros(1, dtype=arr.dtype))


def latency_threshold(rtt_ms: np.ndarray, policy: PolicyConfig) -> np.ndarray:
    """The RTT gain that counts: max(absolute ms, relative % of the current RTT)."""
    return np.maximum(policy.latency_threshold_ms, rtt_ms * policy.latency_threshold_pct / 100)


def best(f: Frame, mask: np.ndarray, prefer: np.ndarray, policy: PolicyConfig) -> np.ndarray:
    """Per row, the best provider in ``mask``: least loss, then least RTT (-1 if none).

    ``prefer`` (BGP's default) wins when it is about as good, within half the
    thresholds: moving to it removes an injection rather than adding one.
    """
    loss = np.where(mask, np.nan_to_num(f.loss, nan=1.0), np.inf)
    min_loss = loss.min(axis=1) if loss.shape[1] else np.full(loss.shape[0], np.inf)
    half_loss = policy.loss_threshold_pct / 200
    near = mask & (loss <= min_loss[:, None] + half_loss)
    rtt = np.where(near, np.nan_to_num(f.rtt, nan=np.inf), np.inf)
    choice = np.argmin(rtt, axis=1) if rtt.shape[1] else np.zeros(rtt.shape[0], np.int64)
    choice = np.where(mask.any(axis=1), choice, -1)
    p_near = pick(near, prefer) & (prefer >= 0)
    p_rtt = pick(np.nan_to_num(f.rtt, nan=np.inf), prefer)
    c_rtt = pick(np.nan_to_num(f.rtt, nan=np.inf), choice)
    take_pref = p_near & (p_rtt <= c_rtt + policy.latency_threshold_ms / 2)
    return np.where(take_pref, prefer, choice)


def loss_gap_low(
    loss_a: np.ndarray,
    low_a: np.ndarray,
    loss_b: np.ndarray,
    high_b: np.ndarray,
) -> np.ndarray:
    """Lower bound of the interval of ``loss_a - loss_b`` (Newcombe's hybrid score
    interval, built from each side's Wilson interval). Above zero: a is significantly
    lossier than b. Unlike "the two intervals do not overlap", this is a real test at
    the intervals' level: at one-sided 95%, 5 lost of 70 against 0 of 70 counts, 2 of
    10 against 0 of 10 does not.
    """
    spread = np.sqrt((loss_a - low_a) ** 2 + (high_b - loss_b) ** 2)
    return (loss_a - loss_b) - spread


def loss_better(f: Frame, q: Quality, cur: np.ndarray, policy: PolicyConfig) -> np.ndarray:
    """(N, P): provider loses at least the threshold fewer points, significantly
    (``policy.loss_test`` says how)."""
    lc = pick(f.loss, cur)[:, None]
    lc_low = pick(q.loss_low, cur)[:, None]
    cur_measured = pick(q.measured, cur)[:, None]
    thr = policy.loss_threshold_pct / 100
    if policy.loss_test == "difference":
        significant = loss_gap_low(lc, lc_low, f.loss, q.loss_high) > 0
    else:
        significant = lc_low - f.loss >= thr
    return q.usable & cur_measured & (lc - f.loss >= thr) & significant


def lossier(f: Frame, q: Quality, cur: np.ndarray, policy: PolicyConfig) -> np.ndarray:
    """(N, P): provider is significantly lossier than the current exit (the test every
    latency or jitter move passes: a move for speed never buys loss)."""
    lc = pick(f.loss, cur)[:, None]
    if policy.loss_test == "difference":
        lc_high = pick(q.loss_high, cur)[:, None]
        return loss_gap_low(f.loss, q.loss_low, lc, lc_high) > 0
    return q.loss_low > lc


def latency_better(f: Frame, q: Quality, cur: np.ndarray, policy: PolicyConfig) -> np.ndarray:
    """(N, P): provider is faster by the threshold and not significantly lossier."""
    rc = pick(f.rtt, cur)
    cur_measured = pick(q.measured, cur)[:, None]
    gain = rc[:, None] - f.rtt
    fast = gain >= latency_threshold(rc, policy)[:, None]
    return q.usable & cur_measured & fast & ~lossier(f, q, cur, policy)


def jitter_known(f: Frame, policy: PolicyConfig) -> np.ndarray:
    """(N, P): the path's jitter counts: known, from at least ``jitter_min_samples``
    answered probes in the window (the running mean starts at zero and would read a
    little-measured path as smoother than it is)."""
    with np.errstate(invalid="ignore"):
        answered = f.samples * (1.0 - np.nan_to_num(f.loss, nan=1.0))
    return np.isfinite(f.jitter) & (answered >= policy.jitter_min_samples - 1e-9)


def jitter_better(
    f: Frame, q: Quality, cur: np.ndarray, threshold: np.ndarray, policy: PolicyConfig
) -> np.ndarray:
    """(N, P): for rows with a jitter threshold (N,; NaN: none), provider's jitter is lower
    by the threshold, it is not significantly lossier, and not slower by the latency
    threshold than the current exit (so no latency move could take the prefix back) nor
    than BGP's default (so that jitter moves one after another cannot add up to a slow
    path)."""
    known = jitter_known(f, policy)
    jc = pick(f.jitter, cur)[:, None]
    rc = pick(f.rtt, cur)
    rd = pick(f.rtt, f.default)
    with np.errstate(invalid="ignore"):
        smoother = (jc - f.jitter) >= threshold[:, None]
        slower = (f.rtt - rc[:, None]) >= latency_threshold(rc, policy)[:, None]
        slower |= (f.rtt - rd[:, None]) >= latency_threshold(rd, policy)[:, None]
    cur_ok = (pick(q.measured, cur) & pick(known, cur))[:, None]
    return q.usable & known & cur_ok & smoother & ~slower & ~lossier(f, q, cur, policy)


def jitter_worse(
    f: Frame, cur: np.ndarray, threshold: np.ndarray, policy: PolicyConfig
) -> np.ndarray:
    """(N, P): for rows with a jitter threshold, provider's jitter is higher than the current
    exit's by the threshold, or not known yet (it would read low); a latency move never
    lands there."""
    jc = pick(f.jitter, cur)[:, None]
    with np.errstate(invalid="ignore"):
        worse = (f.jitter - jc) >= threshold[:, None]
    return np.isfinite(threshold)[:, None] & (worse | ~jitter_known(f, policy))


def smoothest(
    f: Frame, mask: np.ndarray, prefer: np.ndarray, threshold: np.ndarray, policy: PolicyConfig
) -> np.ndarray:
    """Per row, the target of a jitter move among ``mask``: the providers within half the
    threshold of the least jitter, and of those the best by loss and RTT (:func:`best`,
    which prefers BGP's default)."""
    jit = np.where(mask, np.nan_to_num(f.jitter, nan=np.inf), np.inf)
    least = jit.min(axis=1) if jit.shape[1] else np.full(jit.shape[0], np.inf)
    with np.errstate(invalid="ignore"):
        near = mask & (jit <= (least + threshold / 2)[:, None])
    return best(f, near, prefer, policy)


def still_holds(
    f: Frame,
    q: Quality,
    cur: np.ndarray,
    default: np.ndarray,
    policy: PolicyConfig,
    jitter_threshold: np.ndarray | None = None,
) -> np.ndarray:
    """Per row: does the current (improved) exit still beat BGP's default?

    With hysteresis: the advantage only has to be ``hysteresis_pct`` of the
    threshold that justified the move. An unmeasured default counts as holding:
    routepilot never reverts blind.

    For rows with a jitter threshold (N,; NaN: none) a jitter advantage of that share
    of the threshold holds too, the default's jitter not yet known counts as holding,
    and a latency or jitter advantage does not hold on a path more jittery than the
    default by the whole threshold (a loss advantage still does: loss comes first).
    """
    h = policy.hysteresis_pct / 100
    d_known = pick(q.measured, default)
    d_failing = pick(q.failing, default) | ~pick(q.routable, default)
    lc, ld = pick(f.loss, cur), pick(f.loss, default)
    rc, rd = pick(f.rtt, cur), pick(f.rtt, default)
    loss_gain = (ld - lc) >= policy.loss_threshold_pct / 100 * h
    lat_gain = (rd - rc) >= latency_threshold(rd, policy) * h
    if jitter_threshold is None:
        return d_failing | ~d_known | loss_gain | lat_gain
    known = jitter_known(f, policy)
    ruled = np.isfinite(jitter_threshold)
    jc, jd = pick(f.jitter, cur), pick(f.jitter, default)
    both = pick(known, cur) & pick(known, default)
    with np.errstate(invalid="ignore"):
        jit_gain = both & ((jd - jc) >= jitter_threshold * h)
        jit_worse = both & ((jc - jd) >= jitter_threshold)
    d_jitter_unknown = ruled & ~pick(known, default)
    return (
        d_failing | ~d_known | d_jitter_unknown | loss_gain | ((lat_gain | jit_gain) & ~jit_worse)
    )


def penalty(f: Frame, ref: np.ndarray, policy: PolicyConfig) -> np.ndarray:
    """(N, P) performance cost per Mbps of leaving by each provider instead of ``ref``:
    the RTT it adds plus the loss it adds, a loss threshold worth a latency threshold."""
    r_rtt = pick(f.rtt, ref)[:, None]
    r_loss = pick(f.loss, ref)[:, None]
    ms_per_loss = policy.latency_threshold_ms / max(policy.loss_threshold_pct / 100, 1e-6)
    rtt = np.where(np.isnan(f.rtt), np.nanmax(f.rtt, initial=0.0) + 100.0, f.rtt)
    d_rtt = np.nan_to_num(rtt - r_rtt, nan=0.0)
    d_loss = np.nan_to_num(f.loss - r_loss, nan=0.0)
    return np.maximum(d_rtt, 0) + ms_per_loss * np.maximum(d_loss, 0)
