"""One decision round's whole-table work on a full table: the code of a git ref beside this tree's.

The soak (issue 18) found decision rounds of 4.4 s at p99 on a full table, and the
API, which shares the event loop, at 3.7 s: per-round Python over every routes row
in decide/frame.py (a dict of 1.25M prefixes built twice a round, every prefix
parsed to find covering routes), in the prober's ``paths_from`` (the same dict),
and in the prober's minute rollup (``np.percentile`` once per path, also on every
API call that charts the minute in progress). This bench builds the soak's table
(``tableload.soak_table``: 1.0M IPv4 + 0.25M IPv6 prefixes, 4 providers with
add-path, so 5M paths) in a real :class:`Rib`, withdraws a few hundred prefixes
(churn), and makes the round's inputs as the soak has them: 6,000 prefixes with
traffic (5,000 hot, some withdrawn, some more specific than any route), 5,000
measured through every provider, a minute of probe results on 20,000 paths.

It then times, with the modules of ``--ref`` (default ``main``, read with ``git
show`` and loaded beside this tree's) and with this tree's, on the same inputs:
the frame of one round (``build_frame``), a whole ``decide()`` round with each
frame, ``paths_from``, and the minute rollup; checks that both give the same
results; and prints the best of ``--repeat`` runs and the ratio old / new. The
first round after the table's rows change pays for indexes kept across rounds;
it is printed apart ("first").

    nice -n 10 python bench/soak/round.py [--v4 N] [--v6 N] [--ref REF] [--repeat R]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

import routepilot.decide.engine as engine
from routepilot.decide import DecisionState, PolicyConfig, decide
from routepilot.decide.model import DecisionInput
from routepilot.decide.scenario import Provider
from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.lab.tableload import soak_table
from routepilot.probe import component, rollup
from routepilot.probe.config import ProbeConfig
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.rib.rib import Rib
from routepilot.rib.snapshot import RoutesSnapshot
from routepilot.rib.speaker.base import Nlri, PathAttributes, PathsWithdrawn

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("isp1", "isp2", "isp3", "isp4")
NEXT_HOPS = ("100.64.1.2", "100.64.2.2", "100.64.3.2", "100.64.4.2")


def old_module(ref: str, path: str, name: str) -> types.ModuleType:
    """The module at ``path`` as it is in git ``ref``, loaded under ``name`` beside this tree's
    (its imports resolve to this tree's package)."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType(name)
    module.__file__ = f"{ref}:{path}"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102
    return module


def load_rib(n4: int, n6: int, withdrawn: int, seed: int) -> tuple[Rib, list[str], list[str]]:
    """A RIB holding the soak's table from 4 providers over one add-path session, with
    ``withdrawn`` prefixes then withdrawn by every provider; returns it, the table's
    prefixes and the withdrawn ones."""
    table = soak_table(n4, n6)
    prefixes = table.prefixes
    rib = Rib(["edge"], list(zip(NAMES, [[nh] for nh in NEXT_HOPS], strict=True)),
              capacity=len(prefixes))  # fmt: skip
    for k, nh in enumerate(NEXT_HOPS):
        groups: dict[tuple[int, ...], list[Nlri]] = {}
        for prefix, path in zip(prefixes, table.paths[k], strict=True):
            groups.setdefault(path, []).append(Nlri(prefix, k + 1))
        updates = [(PathAttributes(nh, (64_601 + k, *path)), nlri) for path, nlri in groups.items()]
        rib.table.add_batch(0, updates)
    rng = np.random.default_rng(seed)
    gone = [prefixes[i] for i in rng.choice(len(prefixes), withdrawn, replace=False)]
    rib.handle_many([PathsWithdrawn("edge", tuple(Nlri(p, k + 1) for p in gone)) for k in range(4)])
    return rib, prefixes, gone


def round_inputs(
    routes: RoutesSnapshot, prefixes: list[str], gone: list[str], seed: int
) -> tuple[DecisionInput, list[Provider]]:
    """The round's snapshots as the soak makes them: 6,000 prefixes with traffic (5,000 hot,
    including withdrawn ones and /25s inside routed /24s), 5,000 measured everywhere."""
    rng = np.random.default_rng(seed)
    now = 1_000_000.0
    hot = [prefixes[i] for i in rng.choice(len(prefixes), 4_900, replace=False)]
    more_specific = [p.replace("/24", "/25") for p in prefixes[:20_000] if p.endswith("/24")][:50]
    spread = [prefixes[i] for i in rng.choice(len(prefixes), 1_000, replace=False)]
    traffic_prefixes = tuple(dict.fromkeys([*hot, *gone[:50], *more_specific, *spread]))
    n, p = len(traffic_prefixes), len(NAMES)
    bps = (rng.pareto(1.5, (n, 1)) + 1) * 1e6 * (rng.random((n, p)) < 0.4)
    order = np.argsort(-bps.sum(axis=1), kind="stable")
    traffic_prefixes = tuple(traffic_prefixes[i] for i in order)
    bps = bps[order]
    traffic = TrafficSnapshot(now, 60.0, traffic_prefixes, NAMES, bps, bps / 8000)
    measured = tuple(sorted(traffic_prefixes[:5_000]))
    m = len(measured)
    rtt = rng.uniform(5, 150, (m, 1)) + rng.exponential(8, (m, p))
    loss = np.where(rng.random((m, p)) < 0.03, rng.uniform(0.02, 0.3, (m, p)), 0.0)
    nan = np.full((m, p), np.nan)
    meas = MeasurementSnapshot(
        now, measured, NAMES, rtt, rtt * 1.1, rtt * 0.9, nan, loss, loss, loss,
        np.full((m, p), 30), np.zeros((m, p), np.int64), np.full((m, p), now),
    )  # fmt: skip
    inp = DecisionInput(now=now, traffic=traffic, routes=routes, measurements=meas)
    return inp, [Provider(nm, capacity_mbps=100_000.0) for nm in NAMES]


def minute_of_probes(acc: rollup.MinuteAccumulator, measured: tuple[str, ...], seed: int) -> None:
    """A minute of results through every provider: 10 to 30 answers a path, 2% lost."""
    rng = np.random.default_rng(seed)
    for prefix in measured:
        for name in NAMES:
            count = int(rng.integers(10, 31))
            rtts = rng.uniform(5, 150, count)
            rtts[rng.random(count) < 0.02] = np.nan
            for r in rtts.tolist():
                acc.add(0.0, prefix, name, r)


def best(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """(first run's seconds, best of the rest, the last result)."""
    times = []
    out: object = None
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times[0], min(times[1:]), out


def same(a: object, b: object) -> bool:
    """Equal values, NaN equal to NaN, arrays by shape, dtype and content."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
        )
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "__dataclass_fields__"):
        # The old module's classes are its own: compared by name and fields.
        return type(a).__name__ == type(b).__name__ and all(
            same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a)
        )
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return a == b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--v4", type=int, default=1_000_000)
    parser.add_argument("--v6", type=int, default=250_000)
    parser.add_argument("--withdrawn", type=int, default=500)
    parser.add_argument("--ref", default="main", help="git ref of the old code")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    old_frame = old_module(args.ref, "src/routepilot/decide/frame.py", "old_frame")
    old_component = old_module(args.ref, "src/routepilot/probe/component.py", "old_component")
    old_rollup = old_module(args.ref, "src/routepilot/probe/rollup.py", "old_rollup")

    t0 = time.perf_counter()
    rib, prefixes, gone = load_rib(args.v4, args.v6, args.withdrawn, seed=18)
    loaded = time.perf_counter() - t0
    routes = rib.snapshot()
    inp, providers = round_inputs(routes, prefixes, gone, seed=5)
    universe = inp.traffic.prefixes
    print(
        f"soak round: {len(routes.prefixes):,} routed prefixes ({args.v4:,} IPv4, {args.v6:,} "
        f"IPv6, {args.withdrawn} withdrawn), {rib.table.paths:,} paths, loaded in {loaded:.0f} s; "
        f"{len(universe):,} prefixes with traffic, {len(inp.measurements.prefixes):,} measured"
    )
    print(f"  best of {args.repeat} (first run apart), old = {args.ref}, new = this tree")
    print(f"  {'':<28} {'old s':>8} {'new s':>8} {'new first':>10} {'old/new':>8}  same")

    def row(name: str, old: Callable[[], object], new: Callable[[], object]) -> None:
        _, t_old, r_old = best(old, args.repeat)
        first, t_new, r_new = best(new, args.repeat)
        ok = same(r_old, r_new)
        print(
            f"  {name:<28} {t_old:8.3f} {t_new:8.3f} {first:10.3f} {t_old / t_new:7.1f}x  "
            f"{'yes' if ok else 'NO'}"
        )
        if not ok:
            raise SystemExit(f"{name}: the old and new results differ")

    # Each round gets a fresh snapshot from the RIB, as the controller takes one.
    row(
        "frame (build_frame)",
        lambda: old_frame.build_frame(inp, tuple(list(universe)), providers),
        lambda: engine.build_frame(inp, tuple(list(universe)), providers),
    )
    state, policy = DecisionState(), PolicyConfig()

    def decide_with(build: Callable) -> Callable[[], object]:
        def run() -> object:
            # A new round: the RIB's snapshot and the traffic's prefixes taken anew.
            traffic = replace(inp.traffic, prefixes=tuple(list(inp.traffic.prefixes)))
            fresh = replace(inp, traffic=traffic, routes=rib.snapshot())
            saved, engine.build_frame = engine.build_frame, build
            try:
                return decide(fresh, state, policy, providers).injections
            finally:
                engine.build_frame = saved

        return run

    row(
        "decide() round",
        decide_with(old_frame.build_frame),
        decide_with(engine.build_frame),
    )
    config = ProbeConfig(max_prefixes=6_000)
    row(
        "paths_from",
        lambda: old_component.paths_from(config, NAMES, inp.traffic, rib.snapshot()),
        lambda: component.paths_from(config, NAMES, inp.traffic, rib.snapshot()),
    )
    old_acc = old_rollup.MinuteAccumulator("icmp")
    new_acc = rollup.MinuteAccumulator("icmp")
    minute_of_probes(new_acc, inp.measurements.prefixes, seed=9)
    old_acc._paths = new_acc._paths
    jitter = {(p, nm): 1.0 for p in inp.measurements.prefixes for nm in NAMES}
    row(
        f"minute rollup ({len(new_acc._paths):,} paths)",
        lambda: old_acc.peek(jitter),
        lambda: new_acc.peek(jitter),
    )


if __name__ == "__main__":
    main()
