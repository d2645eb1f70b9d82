"""A small world for decide/ tests: three providers, a few prefixes, easy knobs."""

from __future__ import annotations

import numpy as np

from routepilot.decide import DecisionInput, DecisionResult, DecisionState, PolicyConfig, decide
from routepilot.decide.scenario import Provider, make_input, prefixes_v4

NAMES = ("a", "b", "c")


def providers(**caps: float) -> list[Provider]:
    return [Provider(n, capacity_mbps=caps.get(n, 10_000.0)) for n in NAMES]


class World:
    """Mutable scenario: set RTT/loss/routes per (prefix, provider), then run rounds."""

    def __init__(self, n: int = 4, policy: PolicyConfig | None = None, **kw) -> None:
        self.prefixes = prefixes_v4(n)
        self.rtt = np.full((n, 3), 50.0)
        self.loss = np.zeros((n, 3))
        self.cons = np.zeros((n, 3), dtype=np.int64)
        self.samples = np.full((n, 3), 100, dtype=np.int64)
        self.has_route = np.ones((n, 3), bool)
        self.bgp_best = np.zeros(n, dtype=np.int64)
        self.bps = np.full(n, 1e6)
        self.policy = policy or PolicyConfig()
        self.providers = kw.pop("provs", None) or providers()
        self.state = DecisionState()
        self.now = 1_000_000.0
        self.extra: dict = kw
        self.results: list[DecisionResult] = []

    def input(self, **kw) -> DecisionInput:
        args = dict(
            now=self.now,
            prefixes=self.prefixes,
            providers=[p.name for p in self.providers],
            bps=self.bps,
            rtt=self.rtt,
            loss=self.loss,
            has_route=self.has_route,
            bgp_best=self.bgp_best,
            samples=self.samples,
            consecutive_losses=self.cons,
        )
        args.update(self.extra)
        args.update(kw)
        return make_input(**args)

    def step(self, dt: float = 10.0, **kw) -> DecisionResult:
        result = decide(self.input(**kw), self.state, self.policy, self.providers)
        self.state = result.state
        self.results.append(result)
        self.now += dt
        return result

    def exit(self, result: DecisionResult, i: int) -> str | None:
        k = int(result.exit[i])
        return NAMES[k] if k >= 0 else None
