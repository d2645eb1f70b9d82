"""Paths per router and provider (``/routers``) are kept as paths come and go: after any
mix of learns, replacements, withdrawals, limits and dropped peers they equal a count
taken path by path from the table."""

from __future__ import annotations

import random

from routepilot.rib.speaker.base import Nlri, PathAttributes
from routepilot.rib.table import PathLimits, PathTable

HOPS = {f"100.64.{k}.1": k for k in range(4)}
"""Four providers; 100.64.9.1 is a next hop no provider has."""
ROUTERS = 3


def counted_path_by_path(table: PathTable) -> tuple[list[int], list[list[int]]]:
    paths = [0] * ROUTERS
    per_provider = [[0] * len(HOPS) for _ in range(ROUTERS)]
    for row in range(len(table.prefix_list)):
        for router, _, attrs in table.rows_paths(row):
            paths[router] += 1
            provider = table.provider_of(attrs)
            if provider >= 0:
                per_provider[router][provider] += 1
    return paths, per_provider


def test_counts_follow_every_change_as_a_path_by_path_count_does() -> None:
    rng = random.Random(7)
    # Small limits, so that refused paths are part of the mix too.
    table = PathTable(HOPS, len(HOPS), capacity=8, limits=PathLimits(max_paths_per_prefix=5))
    hops = [*HOPS, "100.64.9.1"]
    prefixes = [f"198.18.{i}.0/24" for i in range(60)]
    for step in range(400):
        router = rng.randrange(ROUTERS)
        action = rng.random()
        if action < 0.6:
            attrs = PathAttributes(rng.choice(hops), (64601, rng.randrange(1, 9)))
            nlri = [Nlri(rng.choice(prefixes), rng.randrange(1, 8)) for _ in range(6)]
            table.add_batch(router, [(attrs, nlri)])
        elif action < 0.9:
            table.remove(router, [Nlri(rng.choice(prefixes), rng.randrange(1, 8))])
        elif action < 0.95:
            table.drop_path_ids(router, {rng.randrange(1, 8)})
        else:
            table.drop_router(router)
        paths, per_provider = table.router_counts(ROUTERS)
        expected = counted_path_by_path(table)
        assert (paths.tolist(), per_provider.tolist()) == expected, f"step {step}"
    assert table.paths == sum(expected[0]) > 0
