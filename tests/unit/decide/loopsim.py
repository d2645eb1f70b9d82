"""The closed loop without the lab: decide() rounds against a model of exporters and flows/.

What makes a capacity limit hard is not the allocation but the measurement: an
exporter reports a long flow only every active timeout (softflowd's
``maxlife``), flows/ smooths per-window rates with an EWMA, and decisions apply
at once. So after a move the prefix's traffic shows on its new link up to one
active timeout later, and fades from the old one over the smoothing constant.
This model reproduces that with the real ``flows.aggregate.Aggregator``:

- every prefix sends a constant ``demand`` (bits/s) out of the provider it is
  routed to (the injected one, else BGP's default), from the next instant on;
- one exporter flow per (prefix, provider) accumulates bytes and is exported
  every ``active_timeout_s`` after it started; a flow whose traffic left is
  exported one last time at its next timeout;
- the aggregator closes its windows when the controller's round asks, as the
  daemon's pipeline does, and every round runs ``decide()`` on its snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from routepilot.decide import DecisionResult, DecisionState, PolicyConfig, decide
from routepilot.decide.scenario import Provider, make_input, prefixes_v4
from routepilot.flows.aggregate import Aggregator


@dataclass
class Flow:
    start: float
    bytes: float = 0.0
    active: bool = True


@dataclass
class LoopSim:
    """A world of prefixes with constant demand, routed by decide() rounds."""

    demand: np.ndarray
    default: np.ndarray
    providers: list[Provider]
    policy: PolicyConfig
    rtt: np.ndarray | None = None
    has_route: np.ndarray | None = None
    probe_bps: float = 0.0
    """Traffic each (prefix, provider with a route) carries whatever the exit, like the
    controller's own probes: it never follows the injected route."""
    active_timeout_s: float = 10.0
    window_s: float = 5.0
    smoothing_s: float = 15.0
    cycle_s: float = 2.0
    tick_s: float = 0.5
    seed: int = 0
    now: float = 1_000_000.0
    state: DecisionState = field(default_factory=DecisionState)
    injections: dict[str, str] = field(default_factory=dict)
    flows: dict[tuple[int, int, bool], Flow] = field(default_factory=dict)
    link_history: list[np.ndarray] = field(default_factory=list)
    """Measured rate per provider (the smoothed link rate the API shows), one row a round."""
    true_history: list[np.ndarray] = field(default_factory=list)
    """Rate per provider actually carried (probes included), one row a round."""
    results: list[DecisionResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.names = tuple(p.name for p in self.providers)
        self.prefixes = prefixes_v4(len(self.demand))
        n, k = len(self.demand), len(self.names)
        if self.rtt is None:
            self.rtt = np.full((n, k), 20.0) + np.arange(k)[None, :]
        self.agg = Aggregator(
            self.names, self.window_s, self.smoothing_s, 1_000_000, 10, 10, start=self.now
        )
        rng = np.random.default_rng(self.seed)
        # Flows started at different times, as a real exporter's are.
        for i in range(n):
            self.flows[(i, int(self.default[i]), False)] = Flow(
                self.now - rng.uniform(0, self.active_timeout_s)
            )
        if self.has_route is None:
            self.has_route = np.ones((n, k), dtype=bool)
        self._last_round = -np.inf

    def carrier(self) -> np.ndarray:
        col = {nm: c for c, nm in enumerate(self.names)}
        out = self.default.copy()
        for p, prov in self.injections.items():
            out[self.prefixes.index(p)] = col[prov]
        return out

    def _tick(self, dt: float) -> None:
        carrier = self.carrier()
        for i, k in enumerate(carrier.tolist()):
            flow = self.flows.get((i, k, False))
            if flow is None or not flow.active:
                flow = self.flows[(i, k, False)] = Flow(self.now)
            flow.bytes += self.demand[i] * dt / 8
        if self.probe_bps:
            for i, k in zip(*np.nonzero(self.has_route), strict=True):
                flow = self.flows.setdefault((int(i), int(k), True), Flow(self.now))
                flow.bytes += self.probe_bps * dt / 8
        for (i, k, probe), flow in list(self.flows.items()):
            if not probe and carrier[i] != k:
                flow.active = False
        self.now += dt
        codes, slots, nbytes = [], [], []
        for key, flow in list(self.flows.items()):
            if self.now - flow.start >= self.active_timeout_s:
                if flow.bytes > 0:
                    codes.append(key[0])
                    slots.append(key[1])
                    nbytes.append(flow.bytes)
                if flow.active:
                    self.flows[key] = Flow(self.now)
                else:
                    del self.flows[key]
        if codes:
            nb = np.array(nbytes)
            self.agg.add(
                np.array(codes, dtype=np.uint64), np.array(slots, dtype=np.int64), nb, nb / 1200
            )

    def round(self) -> DecisionResult:
        self.agg.advance(self.now, self._text)
        snap = self.agg.snapshot(self.now, 100_000, self._text)
        row = {p: r for r, p in enumerate(snap.prefixes)}
        bps = np.zeros((len(self.prefixes), len(self.names)))
        for i, p in enumerate(self.prefixes):
            if p in row:
                bps[i] = snap.bps[row[p]]
        inp = make_input(
            now=self.now,
            prefixes=self.prefixes,
            providers=self.names,
            bps=bps,
            rtt=self.rtt,
            has_route=self.has_route,
            bgp_best=self.default,
            samples=60,
            link_bps=dict(snap.provider_bps),
            injections=dict(self.injections),
        )
        r = decide(inp, self.state, self.policy, self.providers)
        self.state = r.state
        self.injections = dict(r.injections)
        self.results.append(r)
        self.link_history.append(np.array([snap.provider_bps[nm] for nm in self.names]))
        carried = np.bincount(self.carrier(), weights=self.demand, minlength=len(self.names))
        carried += self.probe_bps * self.has_route.sum(axis=0)
        self.true_history.append(carried)
        return r

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now < end - 1e-9:
            self._tick(self.tick_s)
            if self.now - self._last_round >= self.cycle_s - 1e-9:
                self._last_round = self.now
                self.round()

    def _text(self, code: int) -> str:
        return self.prefixes[code]


def lab_world(policy: PolicyConfig | None = None, capacity_mbps: float = 1.0, **kw) -> LoopSim:
    """The closed-loop lab test's world: 36 Zipf prefixes, 4 Mb/s, isp1 told it has 1 Mb/s."""
    from routepilot.lab.spec import LabSpec
    from routepilot.lab.traffic import zipf_shares

    spec = LabSpec.model_validate(
        {
            "name": "rplabc",
            "providers": [
                {"name": "isp1", "asn": 65001},
                {"name": "isp2", "asn": 65002},
                {"name": "isp3", "asn": 65003, "announce": "0-15"},
            ],
            "prefixes": 32,
            "prefixes_v6": 4,
        }
    )
    # The IPv6 prefixes are modelled as four more /24s with every provider's route.
    v4, n = spec.prefixes, spec.prefixes + spec.prefixes_v6
    shares = zipf_shares(n, spec.traffic.zipf_s)
    names = ("isp1", "isp2", "isp3")
    best = [spec.bgp_best(k) for k in range(v4)] + [
        spec.bgp_best(k, v6=True) for k in range(spec.prefixes_v6)
    ]
    default = np.array([names.index(b) for b in best], dtype=np.int64)
    has_route = np.ones((n, 3), dtype=bool)
    has_route[16:v4, 2] = False  # isp3 announces 0-15 only
    providers = [
        Provider("isp1", capacity_mbps),
        Provider("isp2", 100.0),
        Provider("isp3", 100.0),
    ]
    policy = policy or PolicyConfig(hold_down_s=10.0, latency_rounds=3, revert_rounds=6)
    return LoopSim(
        demand=shares * 4e6,
        default=default,
        providers=providers,
        policy=policy,
        has_route=has_route,
        **kw,
    )
