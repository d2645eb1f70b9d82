"""The path table's memory: capacity not yet used costs none, and best paths computed a
block at a time are the ones computed in one pass."""

from __future__ import annotations

import random

import numpy as np

import routepilot.rib.table as table_module
from routepilot.rib.speaker.base import Nlri, PathAttributes
from routepilot.rib.table import PathTable

HOPS = {f"100.64.{k}.1": k for k in range(6)}


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_capacity_not_yet_used_costs_no_memory():
    before = rss_kib()
    table = PathTable(HOPS, 14, capacity=1 << 21)
    grown = rss_kib() - before
    assert table.memory_bytes() > 300 * 2**20
    assert grown < 16 * 1024, f"{grown} KiB resident for an empty table"
    table.add(0, PathAttributes("100.64.1.1", (64601, 3)), [Nlri("198.18.0.0/24", 1)])
    assert table.best_paths().rows.tolist() == [0]


def filled(seed: int) -> PathTable:
    rng = random.Random(seed)
    table = PathTable(HOPS, 6, capacity=16)
    for router in range(3):
        updates = []
        for _ in range(300):
            hop = rng.choice(list(HOPS))
            path = tuple(rng.choice([64601, 64602, 7, 8, 9]) for _ in range(rng.randint(0, 5)))
            attrs = PathAttributes(
                hop, path, rng.randint(0, 2), rng.choice([None, 0, 5, 10]), rng.choice([None, 90])
            )
            nlri = [Nlri(f"198.18.{rng.randrange(64)}.0/24", rng.randint(1, 3)) for _ in range(3)]
            updates.append((attrs, nlri))
        table.add_batch(router, updates)
    table.remove(1, [Nlri(f"198.18.{i}.0/24", 2) for i in range(0, 64, 3)])
    return table


def test_best_paths_by_blocks_equal_one_pass(monkeypatch):
    whole = filled(7).best_paths()
    monkeypatch.setattr(table_module, "_COMPUTE_BLOCK", 5)
    blocks = filled(7).best_paths()
    for name in ("rows", "has_route", "as_path_len", "bgp_best", "origin_as"):
        assert np.array_equal(getattr(whole, name), getattr(blocks, name)), name
    assert len(whole.rows) == 64 and (whole.bgp_best >= 0).all()
