"""The result path in C (``_fastpath.Settler``) is the prober's ``_done``: two probers on
the same simulated network, one settling its common replies in C and one in Python alone,
send the same probes and end in the same state, whatever the paths, hosts and settings do."""

from __future__ import annotations

import math
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from routepilot.probe.component import Prober
from routepilot.probe.config import ProbeConfig
from routepilot.probe.fake import FakeClock, FakeNetwork
from routepilot.probe.rollup import MemoryRollupSink
from routepilot.probe.sockets import Steering

NAMES = ["isp1", "isp2", "isp3"]
PREFIXES = [f"198.18.{i}.0/24" for i in range(1, 5)]


def _config(qualify_samples: int, spread_ms: float, outage: int, qualify: bool) -> ProbeConfig:
    return ProbeConfig(
        enabled=True,
        timeout_s=0.3,
        interval_s=0.2,
        exit_interval_s=0.4,
        alternative_interval_s=0.6,
        train_size=2,
        train_spacing_s=0.02,
        per_target_rate=50.0,
        per_target_burst=20.0,
        max_rate=2000.0,
        targets_per_prefix=2,
        qualify=qualify,
        qualify_samples=qualify_samples,
        qualify_loss=0.2,
        retry_spread_ms=spread_ms,
        retry_spread_ratio=0.1,
        retry_hold_s=2.0,
        outage_losses=outage,
        window_s=5.0,
        rollup_s=5,
    )


class _Pair:
    """The same prober twice: ``c`` as shipped, ``py`` with every result through _done."""

    def __init__(self, config: ProbeConfig, seed: int) -> None:
        self.sides = []
        for python_only in (False, True):
            clock = FakeClock(6_000_000.0)
            net = FakeNetwork(clock, seed=seed, names=NAMES)
            sink = MemoryRollupSink()
            pr = Prober(
                config,
                [(n, Steering()) for n in NAMES],
                transport=net,
                clock=clock,
                sink=sink,
                rng=random.Random(seed),
            )
            if python_only:
                pr._settle = pr._done  # type: ignore[assignment]
            self.sides.append((clock, net, sink, pr))

    @property
    def nets(self) -> list[FakeNetwork]:
        return [net for _, net, _, _ in self.sides]

    @property
    def probers(self) -> list[Prober]:
        return [pr for _, _, _, pr in self.sides]

    def run(self, seconds: float, every: float = 0.25) -> None:
        """Both run ``seconds``, their states compared every ``every`` of them (a state
        that differs for a moment, a confirmation closed late, must not pass)."""
        left = seconds
        while left > 0:
            chunk = min(every, left)
            left -= chunk
            for _, net, _, pr in self.sides:
                net.run(pr, chunk, step=0.005)
                pr.roll_minutes()
            assert _state(*self.sides[0], recent=True) == _state(*self.sides[1], recent=True)

    @property
    def c(self) -> Prober:
        return self.sides[0][3]


def _norm(x):
    """Comparable: NaN equal to NaN, containers and arrays walked."""
    if isinstance(x, float):
        return "nan" if math.isnan(x) else x
    if isinstance(x, np.ndarray):
        return _norm(x.tolist())
    if isinstance(x, dict):
        return {repr(k): _norm(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_norm(v) for v in x]
    if isinstance(x, (set, frozenset)):
        return sorted(repr(v) for v in x)
    return x


def _state(clock, net, sink, pr: Prober, recent: bool = False) -> object:
    """Everything the result path touches; the probes sent, the last 100 when ``recent``."""
    snap = pr.snapshot()
    sent = net.sent[-100:] if recent else net.sent
    targets = {
        prefix: {
            "active": [
                (
                    t.address,
                    t.kind,
                    dict(t.losses_through),
                    t.last_answer,
                    t.answered,
                    t.lost,
                    t.record.results,
                    t.record.wide,
                    t.record.fresh,
                    t.owner is pt,
                )
                for t in pt.active
            ],
            "providers": pt.providers,
            "failed": pt.failed,
            "verifying": pt.verifying,
            "tries": pt.tries,
        }
        for prefix, pt in pr.targets.prefixes.items()
    }
    return _norm(
        {
            "sent": [(p.time, p.provider, p.kind, p.target) for p in sent],
            "snapshot": [
                getattr(snap, f)
                for f in (
                    "prefixes",
                    "rtt_median_ms",
                    "rtt_p90_ms",
                    "rtt_min_ms",
                    "jitter_ms",
                    "loss",
                    "samples",
                    "consecutive_losses",
                    "last_answer",
                    "confirming",
                    "targets",
                )
            ],  # fmt: skip
            "failing": sorted(pr.failing_paths()),
            "minute": {k: (n, rtts) for k, (n, rtts) in pr.minutes._paths.items()},
            "rollups": [tuple(vars(r).values()) for r in sink.rows],
            "confirming": {
                k: (c.since, c.until, c.need, c.back) for k, c in pr.confirming.open.items()
            },
            "retry": (pr._retry_until, pr._spread_until, pr._loss_times),
            "targets": targets,
            "manager": (pr.targets.replaced, pr.targets.verified, pr.targets.disqualified),
            "stats": {
                k: (s.rtts, s.times, s.consecutive_losses, s.jitter, s.last_answer, s.sent_total)
                for k, s in pr.stats.items()
            },
            "jobs": {
                k: (j.due, j.boost_until, j.long_until, j.train_left, j.sent)
                for k, j in pr.scheduler.jobs.items()
            },
            "metrics": pr.metrics.as_dict(),
        }
    )


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    qualify_samples=st.sampled_from([8, 9, 20]),
    spread_ms=st.sampled_from([0.0, 1.0, 4.0]),
    outage=st.integers(1, 4),
    qualify=st.booleans(),
    steps=st.lists(
        st.tuples(
            st.sampled_from(["run", "path", "drop", "host", "reconfigure", "observe"]),
            st.integers(0, 2**16),
        ),
        min_size=3,
        max_size=10,
    ),
)
def test_the_reply_settled_in_c_is_the_reply_settled_in_python(
    seed, qualify_samples, spread_ms, outage, qualify, steps
):
    config = _config(qualify_samples, spread_ms, outage, qualify)
    pair = _Pair(config, seed)
    every = [(p, n, k % 3) for k, p in enumerate(PREFIXES) for n in NAMES]
    addresses = [p.replace("0/24", str(h)) for p in PREFIXES for h in (10, 11, 12, 13)]
    for pr in pair.probers:
        pr.set_paths(every)
    for pr in pair.probers:
        pr.observe_destinations(addresses)
    for net in pair.nets:
        net.set_path("isp1", rtt_ms=10.0, jitter_ms=0.2)
    pair.run(2.0)
    for what, n in steps:
        r = random.Random(n)
        if what == "run":
            pair.run(0.5 + r.random() * 4.5)
        elif what == "path":
            name = r.choice(NAMES)
            kw = {
                "rtt_ms": r.uniform(1, 40),
                "loss": r.choice([0.0, 0.0, 0.1, 0.5]),
                "jitter_ms": r.choice([0.0, 0.5, 8.0]),
                "blackhole": r.random() < 0.15,
            }
            for net in pair.nets:
                net.set_path(name, **kw)
        elif what == "drop":
            # Paths and whole prefixes go, and may come back: late answers meet a path no
            # longer measured, or a target no longer active.
            kept = [path for path in every if r.random() < 0.7]
            for pr in pair.probers:
                pr.set_paths(kept)
            pair.run(r.random())
            for pr in pair.probers:
                pr.set_paths(every)
        elif what == "host":
            address, share = r.choice(addresses), r.choice([0.0, 0.4, 1.0])
            for net in pair.nets:
                net.host_loss[address] = share
        elif what == "reconfigure":
            new = _config(
                r.choice([8, 20]), r.choice([0.0, 2.0]), r.randint(1, 4), r.random() < 0.5
            )
            for pr in pair.probers:
                pr.reconfigure(new)
        else:
            more = [p.replace("0/24", str(r.randint(14, 30))) for p in PREFIXES]
            for pr in pair.probers:
                pr.observe_destinations(more)
    pair.run(1.0)
    assert _state(*pair.sides[0]) == _state(*pair.sides[1])
    answered = pair.c.metrics.total("answered")
    # The comparison means something: most answers were settled in C.
    assert answered == 0 or pair.c._settle.settled > answered // 2


def test_every_branch_of_the_result_path_settles_in_c_as_in_python():
    """Spreads turn wide (retry on spread, confirmations), a path blackholes and comes back
    (the failing paths), a lossy target is judged and replaced: the same state either way,
    and every answer but the verifications' settled in C."""
    pair = _Pair(_config(8, 2.0, 3, True), 7)
    for pr in pair.probers:
        pr.set_paths([(p, n, 0) for p in PREFIXES for n in NAMES])
    for pr in pair.probers:
        pr.observe_destinations([p.replace("0/24", str(h)) for p in PREFIXES for h in (10, 11, 12)])
    for net in pair.nets:
        net.set_path("isp1", rtt_ms=20.0, jitter_ms=8.0)
    for net in pair.nets:
        net.host_loss["198.18.1.10"] = 0.5
    pair.run(4.0)
    for net in pair.nets:
        net.set_path("isp2", blackhole=True)
    pair.run(2.0)
    c = pair.c
    assert c.failing_paths(), "the blackholed path is failing"
    assert _state(*pair.sides[0]) == _state(*pair.sides[1])
    for net in pair.nets:
        net.set_path("isp2", blackhole=False)
    pair.run(4.0, every=0.02)
    assert not c.failing_paths(), "answers through it again end its run of losses"
    assert c.metrics.spread_retries > 0
    assert sum(c.targets.disqualified.values()) > 0
    answered = c.metrics.total("answered")
    assert answered > 1000
    # Every answer but the verifications' is settled in C (a few verification tries each).
    assert c._settle.settled >= answered - 10 * c.targets.verified
    assert _state(*pair.sides[0]) == _state(*pair.sides[1])
