"""The policy's rules applied to a round (decide/policy.py says what they are).

Called by decide/engine.py at their place in the precedence: ``apply_rules`` after
the operator's pins (static rules, exits the policy denies), ``policy_moves`` and
``score`` feed the change limits, ``guard`` runs last, so that whatever a rule or
a limit did, no injection ever lands outside the allowlist, on a provider the
policy denies for the prefix, or on one without a route.
"""

from __future__ import annotations

import numpy as np

from routepilot.config.decide import PolicyConfig
from routepilot.decide.context import Round
from routepilot.decide.frame import Frame
from routepilot.decide.policy import Evaluation
from routepilot.decide.quality import best, pick
from routepilot.decide.reasons import Reason


def apply_rules(r: Round, ev: Evaluation, notes: dict[str, str]) -> None:
    """Static rules (held within their ceilings, else back to what routepilot would
    otherwise do), then exits on a provider the policy denies (moved off it)."""
    f, q, d, cur, policy = r.f, r.q, r.default, r.cur, r.policy
    improved = (cur != d) & (cur >= 0)
    st = ev.static
    has = st >= 0
    if has.any():
        loss_s, rtt_s = pick(f.loss, st), pick(f.rtt, st)
        with np.errstate(invalid="ignore"):
            over_loss = has & (loss_s > ev.max_loss)
            over_rtt = has & (rtt_s > ev.max_rtt_ms)
            # Lossier as a loss move would see it: the static path's interval lies at
            # least the loss threshold above the default's loss (one lost probe is not).
            lossier = (
                has & (d >= 0) & (d != st) & pick(q.measured, d)
                & (pick(q.loss_low, st) - pick(f.loss, d) >= policy.loss_threshold_pct / 100)
            )  # fmt: skip
        carry = has & pick(q.routable, st) & ~pick(q.failing, st) & pick(ev.allowed, st)
        ok = carry & ~over_loss & ~over_rtt & ~lossier
        r.settle(ok & ((cur == st) | ~r.hold), st, Reason.STATIC)
        # Not held: back to BGP's default (a static rule denies no provider), from where
        # the quality rules may still move it elsewhere in a later round.
        r.settle(has & ~ok & (cur == st) & (st != d), d, Reason.REVERT)
        for i in np.flatnonzero(has & ~ok).tolist():
            notes[f.prefixes[i]] = _static_note(f, i, st[i], bool(carry[i]), ev, d[i], q)
    # A static improvement whose rule is gone goes back to BGP.
    r.settle((r.act_reason == Reason.STATIC) & improved & (st < 0), d, Reason.REVERT)

    # Exits the policy denies: to the best allowed provider; an injection with none is
    # withdrawn (BGP's default).
    bad = (cur >= 0) & ~pick(ev.allowed, cur) & ~ev.hands_off
    alt = q.usable & ~r.barred(Reason.POLICY)[None, :]
    target = best(f, alt, d, policy)
    r.settle(bad & (target >= 0), target, Reason.POLICY)
    r.settle(bad & (cur != d), d, Reason.POLICY)
    # A policy detour whose default is allowed again goes home.
    home = (r.act_reason == Reason.POLICY) & improved & pick(ev.allowed, d)
    home &= pick(q.routable, d) & ~pick(q.failing, d)
    r.settle(home, d, Reason.REVERT)


def _static_note(f: Frame, i: int, k: int, carry: bool, ev: Evaluation, d: int, q: object) -> str:
    name = f.providers[k]
    if not carry:
        return f"static {name} not held: no usable route through it"
    loss, rtt = float(f.loss[i, k]), float(f.rtt[i, k])
    if loss > ev.max_loss[i]:
        return f"static {name} not held: loss {loss:.1%} above max_loss_pct {ev.max_loss[i]:.1%}"
    if rtt > ev.max_rtt_ms[i]:
        return f"static {name} not held: rtt {rtt:.1f} ms above max_rtt_ms {ev.max_rtt_ms[i]:g}"
    dn = f.providers[d] if d >= 0 else "-"
    return (
        f"static {name} not held: loss {loss:.1%} significantly above the default "
        f"{dn}'s {float(f.loss[i, d]):.1%} (by more than loss_threshold_pct)"
    )


def policy_moves(r: Round, ev: Evaluation) -> np.ndarray:
    """Injections that must go whatever the change limits say: outside the allowlist,
    governed by ``ignore``, or on a provider the policy denies for the prefix."""
    cur, d = r.cur, r.default
    on = (cur >= 0) & (cur != d)
    return on & (ev.hands_off | ~pick(ev.allowed, cur))


def score(f: Frame, cur: np.ndarray, new: np.ndarray, policy: PolicyConfig) -> np.ndarray:
    """The improvement weight of each move: its gain times its traffic (docs/policy.md).

    The gain is the RTT it saves in ms plus the loss it saves, a loss threshold worth a
    latency threshold (as the capacity allocator weighs them); unknown parts count 0."""
    ms_per_loss = policy.latency_threshold_ms / max(policy.loss_threshold_pct / 100, 1e-6)
    with np.errstate(invalid="ignore"):
        gain = np.nan_to_num(pick(f.rtt, cur) - pick(f.rtt, new), nan=0.0)
        gain += ms_per_loss * np.nan_to_num(pick(f.loss, cur) - pick(f.loss, new), nan=0.0)
    return np.asarray(gain * f.tot, dtype=float)


def guard(r: Round, ev: Evaluation) -> None:
    """The last word: an injection outside the allowlist, on a denied provider or on one
    without a route goes back to BGP's default (counted as a policy or outage change)."""
    desired, d = r.desired, r.default
    inj = (desired != d) & (desired >= 0)
    no_route = inj & ~pick(r.q.routable, desired)
    denied = inj & ~no_route & (ev.hands_off | ~pick(ev.allowed, desired))
    desired[no_route | denied] = d[no_route | denied]
    r.reason[no_route] = Reason.OUTAGE
    r.reason[denied] = Reason.POLICY


def note_rows(r: Round, ev: Evaluation, prefixes: tuple[str, ...]) -> dict[str, str]:
    """Notes for prefixes whose BGP default the policy denies but that stay on it."""
    d = r.default
    stuck = (d >= 0) & ~ev.hands_off & ~pick(ev.allowed, d) & (r.desired == d)
    return {
        prefixes[i]: f"BGP's default {r.f.providers[d[i]]} is denied, but no allowed "
        "provider is usable: left to BGP"
        for i in np.flatnonzero(stuck).tolist()
    }
