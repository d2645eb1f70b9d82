"""The flows' prefix table rebuilt from a full table, as the daemon does while it learns.

Each time the RIB's prefixes change (every ``controller.routes_refresh_s`` while a
table arrives), routepilot rebuilds the flow collector's longest-prefix-match
table on a worker thread. The thread shares the interpreter with the event
loop, so what matters is both how long it takes and how late it makes the loop.
This bench builds the table for the soak's full table (``tableload.soak_table``)
both ways, from the prefixes' text (before) and from the RIB's numbers (after),
while an asyncio ticker measures the event loop's lateness; the peer is the same
build without a loop beside it.

Usage: python bench/soak/lpm.py [--v4 N] [--v6 N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

import numpy as np

from routepilot.flows.lpm import PrefixTable
from routepilot.lab.tableload import soak_table
from routepilot.rib.rib import Rib


async def _with_ticker(build: Callable[[], object]) -> tuple[float, float]:
    """(seconds the build took on a worker thread, worst lateness of a 10 ms ticker)."""
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        while not done:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            worst = max(worst, time.perf_counter() - t - 0.01)

    task = asyncio.create_task(ticker())
    t0 = time.perf_counter()
    await asyncio.to_thread(build)
    took = time.perf_counter() - t0
    done = True
    await task
    return took, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--v4", type=int, default=1_000_000)
    parser.add_argument("--v6", type=int, default=250_000)
    args = parser.parse_args()
    table = soak_table(args.v4, args.v6)
    rib = Rib(["edge"], [("isp1", ["100.64.1.2"])], capacity=len(table.prefixes))
    for prefix in table.prefixes:  # the RIB's rows, as learning makes them
        rib.table._intern_prefix(prefix)
    routes = rib.prefix_table()
    v4, v6 = ~routes.is6, routes.is6

    def from_text() -> PrefixTable:
        return PrefixTable(routes.prefixes)

    def from_numbers() -> PrefixTable:
        return PrefixTable.from_numbers(
            routes.net4[v4], routes.length[v4], routes.net6_hi[v6], routes.length[v6]
        )

    a, b = from_text(), from_numbers()
    probe = np.random.default_rng(1).integers(0xF0000000, 0xFFFFFFFF, 100_000, dtype=np.uint32)
    assert (a.lookup4(probe) == b.lookup4(probe)).all() and len(a) == len(b)
    print(f"soak lpm: {len(table.prefixes):,} prefixes ({args.v4:,} IPv4, {args.v6:,} IPv6)")
    for name, build in (("from text (before)", from_text), ("from numbers (after)", from_numbers)):
        t0 = time.perf_counter()
        build()
        alone = time.perf_counter() - t0
        took, late = asyncio.run(_with_ticker(build))
        print(
            f"  {name:<22} alone {alone:6.2f} s; on a worker thread {took:6.2f} s, "
            f"event loop up to {late * 1000:6.0f} ms late"
        )


if __name__ == "__main__":
    main()
