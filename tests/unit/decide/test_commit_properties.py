"""Commit control on random worlds (hypothesis): what every relieving move must respect.

One round of decide() in performance mode with random commits, traffic, latencies,
losses, burst allowances and left-out providers. Every prefix moved for a commit
leaves a provider above its level, lands on one no lossier and at most the
tolerance slower, never on a provider left out, and never pushes its target over
its own level or capacity target; a provider still above its level carries no prefix
that had somewhere acceptable with room to go.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routepilot.decide import DecisionState, PolicyConfig, Reason, decide
from routepilot.decide.billing import BillingInput
from routepilot.decide.scenario import Provider, make_input, prefixes_v4

NAMES = ("a", "b", "c", "d")
MB = 1e6


@st.composite
def worlds(draw):
    n = draw(st.integers(2, 20))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    commits = [draw(st.sampled_from([0.0, 20.0, 50.0, 100.0])) for _ in NAMES]
    excluded = [p for p in NAMES if draw(st.booleans()) and draw(st.booleans())]
    tol = draw(st.floats(0.0, 30.0))
    policy = PolicyConfig(
        hold_down_s=0,
        allocator=draw(st.sampled_from(["greedy", "lp", "auto"])),
        max_changes_per_minute=100_000,
        max_improvements=100_000,
        latency_rounds=50,  # no latency moves: the round is about commits
        loss_rounds=50,
        commit={"latency_tolerance_ms": tol, "excluded": excluded},
    )
    bps = rng.uniform(0.5, 15.0, n) * MB
    best = rng.integers(0, len(NAMES), n)
    rtt = rng.uniform(10, 80, (n, len(NAMES)))
    loss = np.where(rng.random((n, len(NAMES))) < 0.3, rng.uniform(0, 0.05, (n, len(NAMES))), 0)
    used = {p: int(rng.integers(0, 433)) for p in NAMES}
    billing = {p: BillingInput((200 * MB,) * used[p] + (1 * MB,) * 100, slots=8640) for p in NAMES}
    return policy, commits, bps, best, rtt, loss, billing, tol, excluded


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_commit_moves_respect_loss_latency_room_and_exclusions(world) -> None:
    policy, commits, bps, best, rtt, loss, billing, tol, excluded = world
    provs = [Provider(p, 1000.0, commit_mbps=c) for p, c in zip(NAMES, commits, strict=True)]
    n = len(bps)
    inp = make_input(
        now=1e6, prefixes=prefixes_v4(n), providers=NAMES, bps=bps, rtt=rtt, loss=loss,
        bgp_best=best, samples=100, billing=billing,
    )  # fmt: skip
    r = decide(inp, DecisionState(), policy, provs)
    # Every prefix is probed 100 times through every provider: the pooled loss is the mean.
    pooled = loss.mean(axis=0)
    slack = policy.loss_threshold_pct / 200
    moved = np.flatnonzero((r.reason == Reason.COMMIT) & (r.exit != r.current))
    levels = {p: v["level_bps"] for p, v in r.commit.items()}
    for i in moved.tolist():
        src, dst = int(r.current[i]), int(r.exit[i])
        assert NAMES[src] in r.commit_allocation["over"]
        assert NAMES[dst] not in excluded and NAMES[src] not in excluded
        assert loss[i, dst] <= loss[i, src] + 1e-12
        assert pooled[dst] <= pooled[src] + slack + 1e-12
        assert rtt[i, dst] <= rtt[i, src] + tol + 1e-9
    for k, p in enumerate(NAMES):
        gained = any(int(r.exit[i]) == k for i in moved.tolist())
        if gained:
            assert r.projected_bps[p] <= min(levels.get(p, np.inf), 900 * MB) + 1
    # Above its level after the round: no prefix it still carries had anywhere acceptable
    # with room left to go (rooms only shrink as relieved traffic lands).
    for k, p in enumerate(NAMES):
        if p in levels and p not in excluded and r.projected_bps[p] > levels[p] + 1:
            for i in np.flatnonzero(r.exit == k).tolist():
                for j, q in enumerate(NAMES):
                    if j == k or q in excluded:
                        continue
                    ok = loss[i, j] <= loss[i, k] + 1e-12 and rtt[i, j] <= rtt[i, k] + tol
                    ok = ok and pooled[j] <= pooled[k] + slack
                    room = min(levels.get(q, np.inf), 900 * MB) - r.projected_bps[q]
                    assert not (ok and bps[i] <= room - 1), (p, q, i)
