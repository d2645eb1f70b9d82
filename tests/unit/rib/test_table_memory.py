"""The path table's memory: capacity not yet used costs none, and best paths computed a
block at a time are the ones computed in one pass."""

from __future__ import annotations

import gc
import random
import tracemalloc

import numpy as np
import pytest

import routepilot.rib.table as table_module
from routepilot.rib.speaker.base import Nlri, PathAttributes
from routepilot.rib.table import PathTable

HOPS = {f"100.64.{k}.1": k for k in range(6)}


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_capacity_not_yet_used_costs_no_memory():
    before = rss_kib()
    table = PathTable(HOPS, 14, capacity=1 << 21, slots=4)
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


def whole_table(rows: int, providers: int = 14) -> PathTable:
    """``rows`` prefixes, each with one path of provider ``row % providers``."""
    hops = {f"100.64.{k}.1": k for k in range(providers)}
    table = PathTable(hops, providers, capacity=1024)
    for k in range(providers):
        attrs = PathAttributes(f"100.64.{k}.1", (64600 + k, 3))
        nlri = [Nlri(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}/32", 1)
                for i in range(k, rows, providers)]  # fmt: skip
        table.add_batch(0, [(attrs, nlri)])
    return table


def test_best_paths_of_a_table_whose_every_prefix_has_a_route_are_no_second_copy():
    table = whole_table(200_000)
    gc.collect()
    tracemalloc.start()
    try:
        best = table.best_paths()
        grown, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(best.rows) == 200_000
    # What the round holds: has_route, as_path_len, origin_as (14 providers) and the rest.
    held = sum(getattr(best, f).nbytes for f in ("has_route", "as_path_len", "origin_as"))
    assert held >= 200_000 * 14 * 7
    # Computed into the table's columns, then handed out as they are: what is new is
    # little more than the rows and BGP's choice (two 4-8 byte columns), not a copy.
    assert grown < held / 4, f"{grown / 2**20:.1f} MiB more for {held / 2**20:.1f} MiB of routes"


def test_best_paths_handed_out_never_change_when_the_table_does():
    table = whole_table(1_000, providers=4)
    first = table.best_paths()
    kept = {f: getattr(first, f).copy() for f in ("has_route", "as_path_len", "origin_as")}
    # A longer path of another provider for row 0, a new prefix past the capacity (the
    # columns grow), then row 5 loses its only path.
    table.add(0, PathAttributes("100.64.3.1", (64603, 7, 8)), [Nlri("10.0.0.0/32", 2)])
    second = table.best_paths()
    for _ in range(1_100):
        table.add(0, PathAttributes("100.64.2.1", (64602,)), [Nlri("10.9.0.0/32", 1)])
    third = table.best_paths()
    table.remove(0, [Nlri(table.prefix_list[5], 1)])
    fourth = table.best_paths()
    for name, values in kept.items():
        assert np.array_equal(getattr(first, name), values), name
    assert first.has_route[0].tolist() == [True, False, False, False]
    assert second.has_route[0].tolist() == [True, False, False, True]
    assert second.as_path_len[0].tolist() == [2, -1, -1, 3]
    assert second.origin_as[0].tolist() == [3, 0, 0, 8]
    assert len(third.rows) == 1_001
    assert 5 not in fourth.rows.tolist() and len(fourth.rows) == 1_000
    assert second.has_route[5].any() and third.has_route[5].any()
    with pytest.raises(ValueError):
        first.has_route[1, 1] = True  # read-only, shared by every round


def test_a_table_of_one_path_a_prefix_holds_one_slot_a_row_until_a_prefix_has_more():
    one = whole_table(4_096, providers=4)
    four = PathTable({f"100.64.{k}.1": k for k in range(4)}, 4, capacity=4_096, slots=4)
    # A router's Loc-RIB over BMP: one path a prefix, 12 bytes a row for it, not 48.
    assert one.slots == 1
    assert four.memory_bytes() - one.memory_bytes() == 4_096 * 3 * (8 + 4)
    net4 = one.net4
    one.add(1, PathAttributes("100.64.3.1", (64603,)), [Nlri(one.prefix_list[7], 9)])
    assert one.slots == 2 and one.net4 is net4  # wider rows; the other columns stay
    assert one.paths == 4_097
    assert sorted((r, i) for r, i, _ in one.rows_paths(7)) == [(0, 1), (1, 9)]
    assert one.best_paths().has_route[7].tolist() == [True, False, False, True]
    assert one.best_paths().bgp_best[7] == 3  # the shorter AS path
