"""Diagnosis at an impairment's onset: is the right cause named, and a wrong one never?

A Monte Carlo of the transit lab's shape (tests/lab/test_incidents.py): isp1 reaches every
prefix through t1, isp2 through t1 (even prefixes) or t2 (odd ones), isp3 through t2. At
time 0 one cause starts: 10 % loss in t1 (``transit``), 10 % loss in isp1 itself
(``provider``), or 150 ms more in t1 (``transit-rtt``). Every path is probed as the prober
would (each at its cadence, the exit faster than the alternatives) and each round runs the
diagnosis's own pure stages on the window: ``path_states`` judges the paths, ``correlate``
names the causes, ``IncidentBook`` opens incidents after ``open_rounds`` agreeing rounds.

The peer is the truth of the simulation: for each scenario and probing regime, the share
of onsets where the right cause opened, where a wrong AS or provider opened (the defect
this guards against: a transit's loss setting in blamed on the provider that crosses it
everywhere), and the median time from the onset to the right incident.

    .venv/bin/python bench/diagnose/run.py [--trials 300] [--prefixes 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import math
import statistics
from dataclasses import dataclass

import numpy as np

from routepilot.config.diagnose import DiagnoseConfig
from routepilot.diagnose.correlate import AS, PREFIX, PROVIDER, correlate
from routepilot.diagnose.incidents import IncidentBook
from routepilot.diagnose.paths import path_states
from routepilot.probe.snapshot import MeasurementSnapshot

PROVIDERS = ("isp1", "isp2", "isp3")
ASNS = {"isp1": 65001, "isp2": 65002, "isp3": 65003}
T1, T2 = 64501, 64502
RTT_MS = 10.0
AFTER_S = 60.0
"""How long after the onset each trial runs (past the longest window)."""


@dataclass(frozen=True)
class Regime:
    """How the paths are probed and how often the diagnosis runs."""

    name: str
    window_s: float
    exit_per_s: float
    alternative_per_s: float
    round_s: float


REGIMES = (
    # The lab's controller (lab/controller.py): trains of 4 every 0.25 s, 10 s window.
    Regime("lab", 10.0, 16.0, 16.0, 2.0),
    # The defaults: trains of 3 every 2 s (exit) and 5 s (alternatives), 60 s window.
    Regime("defaults", 60.0, 1.5, 0.6, 5.0),
    # Few probes in a short window: 15 a path, the noisiest regime that is still judged.
    Regime("sparse", 10.0, 1.5, 1.5, 2.0),
)
SCENARIOS = ("transit", "provider", "transit-rtt")


def transit(provider: str, k: int) -> int:
    if provider == "isp1":
        return T1
    if provider == "isp3":
        return T2
    return T1 if k % 2 == 0 else T2


def sick(scenario: str, provider: str, k: int) -> bool:
    if scenario == "provider":
        return provider == "isp1"
    return transit(provider, k) == T1


def trial(rng: np.random.Generator, scenario: str, regime: Regime, n: int) -> tuple[set, float]:
    """The causes opened in one onset, and when the right one opened (NaN: never)."""
    cfg = DiagnoseConfig()
    prefixes = tuple(f"198.18.{k}.0/24" for k in range(n))
    w = regime.window_s
    end = AFTER_S + w
    # Per path: probe times, whether each was lost, whether each came after the onset.
    times, lost = {}, {}
    for k in range(n):
        for j, p in enumerate(PROVIDERS):
            rate = regime.exit_per_s if j == k % len(PROVIDERS) else regime.alternative_per_s
            t = np.arange(-w, end, 1.0 / rate) + rng.random() / rate
            hit = (t >= 0) & sick(scenario, p, k)
            times[k, p] = t
            lost[k, p] = hit & (rng.random(len(t)) < 0.10) if scenario != "transit-rtt" else t < -w
    book = IncidentBook(cfg.open_rounds, cfg.close_after_s)
    want = (AS, str(T1)) if scenario != "provider" else (PROVIDER, "isp1")
    opened: set[tuple[str, str]] = set()
    first = float("nan")
    for now in np.arange(rng.random() * regime.round_s, end - w, regime.round_s):
        shape = (n, len(PROVIDERS))
        loss, rtt, samples, run = np.zeros(shape), np.full(shape, RTT_MS), np.zeros(shape), []
        for k in range(n):
            row = []
            for j, p in enumerate(PROVIDERS):
                t, lo = times[k, p], lost[k, p]
                lo_i, hi_i = np.searchsorted(t, [now - w, now], side="right")
                samples[k, j] = hi_i - lo_i
                loss[k, j] = lo[lo_i:hi_i].mean() if hi_i > lo_i else np.nan
                answered = t[lo_i:hi_i][~lo[lo_i:hi_i]]
                if scenario == "transit-rtt" and sick(scenario, p, k) and len(answered):
                    late = (answered >= 0).mean()
                    rtt[k, j] = RTT_MS + (150.0 if late > 0.5 else 0.0)
                tail = lo[lo_i:hi_i][::-1]
                row.append(int(np.argmin(tail)) if not tail.all() else len(tail))
            run.append(row)
        nan = np.full(shape, np.nan)
        meas = MeasurementSnapshot(
            float(now), prefixes, PROVIDERS, rtt, rtt, rtt, nan, loss, nan, nan,
            samples.astype(int), np.array(run, dtype=int), nan,
        )  # fmt: skip
        states = path_states(
            cfg, meas, None, lambda x, p: (ASNS[p], transit(p, int(x.split(".")[2])), 64600), {}
        )
        changes = book.round(float(now), correlate(states, ASNS, cfg.min_prefixes), {})
        for inc in changes.opened:
            key = (inc.kind, str(inc.asn if inc.kind == AS else inc.provider))
            if inc.kind != PREFIX:
                opened.add(key)
            if key == want and math.isnan(first):
                first = float(now)
    return opened, first


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--prefixes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{args.trials} onsets each, {args.prefixes} prefixes, seed {args.seed}")
    print(f"{'regime':9} {'scenario':12} {'right':>7} {'wrong':>7} {'right after (median)':>21}")
    for regime in REGIMES:
        for scenario in SCENARIOS:
            want = (AS, str(T1)) if scenario != "provider" else (PROVIDER, "isp1")
            right = wrong = 0
            after: list[float] = []
            for _ in range(args.trials):
                opened, first = trial(rng, scenario, regime, args.prefixes)
                right += want in opened
                wrong += bool(opened - {want})
                if not math.isnan(first):
                    after.append(first)
            med = f"{statistics.median(after):.1f} s" if after else "-"
            print(
                f"{regime.name:9} {scenario:12} {right / args.trials:7.1%} "
                f"{wrong / args.trials:7.1%} {med:>21}"
            )


if __name__ == "__main__":
    main()
