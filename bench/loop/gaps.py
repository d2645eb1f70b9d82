"""The event loop's gaps while a table arrives and a round decides: another tree beside this one.

A task that wakes every millisecond stands for the API and the flows sharing the
loop; each gap is how much later than asked it woke. Three scenarios, each in a
child process per tree (``PYTHONPATH=<tree>/src``), on the same inputs:

- ``bmp``: the soak's IPv4 table from K peers, one prefix a BMP Route Monitoring
  message, over loopback TCP to a real :class:`BmpStation`, handed to a real RIB by
  ``run/bmp.py``'s :class:`BmpFeed` (``route_source: bmp``);
- ``exabgp``: the same paths as ExaBGP 5 API lines over a Unix socket pair into the
  ExaBGP backend's reader (``_on_relay``), drained into a RIB as ``RoutesFeed`` does:
  parsed JSON for a tree whose backend asks ExaBGP for it, the UPDATEs' bytes (packets
  mode, after #18's change) otherwise;
- ``decide``: rounds of ``decide()`` on the soak's round inputs (``bench/soak/round.py``)
  over a table held in a RIB: on the loop where the tree's controller calls it there
  (before #18's change), on ``run/worker.py``'s thread where the tree has one.

    nice -n 5 python bench/loop/gaps.py --before /work/main [--prefixes N] [--paths K]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TICK_S = 0.001


async def ticker(gaps: list[float]) -> None:
    """Wakes every TICK_S; records how late each wake-up was."""
    while True:
        asked = time.perf_counter()
        await asyncio.sleep(TICK_S)
        gaps.append(max(0.0, time.perf_counter() - asked - TICK_S))


async def measured(work) -> dict:  # type: ignore[no-untyped-def]
    gaps: list[float] = []
    tick = asyncio.create_task(ticker(gaps))
    start = time.perf_counter()
    await work()
    elapsed = time.perf_counter() - start
    tick.cancel()
    g = np.array(gaps or [0.0]) * 1000
    return {
        "max_ms": float(g.max()),
        "p99_ms": float(np.percentile(g, 99)),
        "ticks": len(gaps),
        "total_s": elapsed,
    }


async def scenario_bmp(stream: bytes, expected: int) -> dict:
    from bench.rib.run import PROVIDERS

    from routepilot.rib.bmp import BmpStation
    from routepilot.rib.rib import Rib
    from routepilot.run.bmp import BmpFeed

    station = BmpStation({"127.0.0.1": "edge"}, "127.0.0.1", 0)
    await station.start()
    rib = Rib(["edge"], PROVIDERS, capacity=expected)
    shadow = Rib(["edge"], PROVIDERS)
    feed = BmpFeed(station, rib, shadow, {"edge": "bmp"})
    follow = asyncio.create_task(feed.follow())
    writer = None

    async def work() -> None:
        nonlocal writer
        _, writer = await asyncio.open_connection("127.0.0.1", station.port)
        writer.write(stream)
        while rib.table.paths < expected:
            await asyncio.sleep(0.01)

    out = await measured(work)
    follow.cancel()
    if writer is not None:
        writer.close()
    await station.stop()
    return out


def packet_lines(n_prefixes: int, paths: int) -> bytes:
    """``per_prefix``'s paths as ExaBGP's packets-mode lines: both OPENs, then one
    UPDATE a path (path id: the provider's number)."""
    from tests import bmpenc as b
    from tests import exabgpenc as e

    from routepilot.lab.tableload import soak_table

    table = soak_table(n_prefixes, 0, paths)
    out = [e.opens()]
    for i, pfx in enumerate(table.v4):
        for k in range(paths):
            attrs = b.ipv4_attrs(
                f"100.64.{k + 1}.1", [64500 + k, *table.paths[k][i]], local_pref=100
            )
            out.append(e.update(b.update(attrs=attrs, nlri=b.prefix(pfx, k + 1))))
    return b"".join(out)


async def scenario_exabgp(lines: list[str], packets: bytes, expected: int) -> dict:
    from bench.rib.run import PROVIDERS

    from routepilot.config.models import RouterConfig
    from routepilot.rib.config import SpeakerConfig
    from routepilot.rib.rib import Rib
    from routepilot.rib.speaker.exabgp import ExaBGPSpeaker

    speaker = ExaBGPSpeaker(
        SpeakerConfig(), [RouterConfig(name="edge", address="100.64.0.1", asn=65000)]
    )
    rib = Rib(["edge"], PROVIDERS, capacity=expected)
    data = ("\n".join(lines) + "\n").encode()
    if "packets;" in speaker.render_config("api.sock"):
        data = packets
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    loop = asyncio.get_running_loop()

    async def consume() -> None:
        while rib.table.paths < expected:
            rib.handle_many([await speaker.next_event(), *speaker.pending_events()])

    async def work() -> None:
        relay = asyncio.create_task(speaker._on_relay(reader, writer))
        send = asyncio.create_task(loop.sock_sendall(theirs, data))
        await consume()
        await send
        theirs.close()
        await relay

    return await measured(work)


async def scenario_decide(v4: int, v6: int, rounds: int) -> dict:
    from bench.soak.round import load_rib, round_inputs

    from routepilot.decide import DecisionState, PolicyConfig, decide

    rib, prefixes, gone = load_rib(v4, v6, 300, 7)
    inp, providers = round_inputs(rib.snapshot(), prefixes, gone, 7)
    policy = PolicyConfig()
    try:
        from routepilot.run.worker import WorkerThread
    except ImportError:  # a tree whose controller calls decide() on the loop
        worker = None
    else:
        worker = WorkerThread("decide")
    decide(inp, DecisionState(), policy, providers)  # the indexes kept across rounds

    async def work() -> None:
        state = DecisionState()
        for _ in range(rounds):
            if worker is None:
                result = decide(inp, state, policy, providers)
            else:
                result = await worker.run(decide, inp, state, policy, providers)
            state = result.state
            await asyncio.sleep(0.05)  # the rest of the cycle, on the loop

    out = await measured(work)
    out["where"] = "loop" if worker is None else "thread"
    if worker is not None:
        worker.close()
    return out


def child(args: argparse.Namespace) -> None:
    from bench.rib.bmp import per_prefix

    stream, lines = per_prefix(args.prefixes, args.paths)
    expected = args.prefixes * args.paths
    out = {
        "bmp": asyncio.run(scenario_bmp(stream, expected)),
        "exabgp": asyncio.run(
            scenario_exabgp(lines, packet_lines(args.prefixes, args.paths), expected)
        ),
        "decide": asyncio.run(scenario_decide(args.v4, args.v6, args.rounds)),
    }
    print(json.dumps(out))


def run_tree(tree: Path, args: argparse.Namespace) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{tree / 'src'}{os.pathsep}{ROOT}")
    cmd = [sys.executable, __file__, "--child", "--prefixes", str(args.prefixes),
           "--paths", str(args.paths), "--v4", str(args.v4), "--v6", str(args.v6),
           "--rounds", str(args.rounds)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, required=False, help="another tree (e.g. main's)")
    ap.add_argument("--prefixes", type=int, default=100_000)
    ap.add_argument("--paths", type=int, default=4)
    ap.add_argument("--v4", type=int, default=250_000)
    ap.add_argument("--v6", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        sys.path.insert(1, str(ROOT))
        child(args)
        return
    trees = [("after", ROOT)]
    if args.before is not None:
        trees.insert(0, ("before", args.before.resolve()))
    results = {name: run_tree(tree, args) for name, tree in trees}
    paths = args.prefixes * args.paths
    rows = args.v4 + args.v6
    print(f"event loop gaps (a {TICK_S * 1000:g} ms ticker's lateness), {paths:,} paths "
          f"arriving; decide: {args.rounds} rounds on {rows:,} prefixes x 4")  # fmt: skip
    for scenario in ("bmp", "exabgp", "decide"):
        for name, _ in trees:
            r = results[name][scenario]
            where = f" decide on the {r['where']}" if "where" in r else ""
            print(f"  {scenario:7} {name:6}: max {r['max_ms']:8.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
                  f"total {r['total_s']:6.2f} s{where}")  # fmt: skip
        if "before" in results:
            b, a = results["before"][scenario], results["after"][scenario]
            top = b["max_ms"] / max(a["max_ms"], 1e-9)
            p99 = b["p99_ms"] / max(a["p99_ms"], 1e-9)
            print(f"  {scenario:7} ratio before/after: max {top:.1f}x, p99 {p99:.1f}x, "
                  f"total {b['total_s'] / a['total_s']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
