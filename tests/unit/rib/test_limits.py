"""rib/ limits (issue 17): what the routers announce cannot grow the RIB without bound;
past each limit new paths are dropped and counted, and what is held stays."""

from __future__ import annotations

from tests.samples import series

from routepilot.rib.speaker.base import Nlri, PathsWithdrawn
from routepilot.rib.table import PathLimits

from .test_rib import attrs, learn, make_rib


def test_add_path_ids_past_the_cap_per_prefix_are_dropped_not_widening_every_row():
    rib = make_rib(limits=PathLimits(max_paths_per_prefix=8))
    learn(rib, "r2", attrs("100.64.1.1"), ("198.18.0.0/24", 1))
    learn(rib, "r1", attrs("100.64.2.1"), *[("198.18.0.0/24", i) for i in range(100)])
    assert rib.table.slots == 8  # not 128: every row of the table is that wide
    assert rib.table.paths == 8
    assert rib.table.dropped == {"prefix_path_limit": 93}
    # The other router's path is one of those kept, and withdrawals make room again.
    assert (1, 1) in {(r, p) for r, p, _ in rib.table.rows_paths(0)}
    samples = series(rib.metrics)
    key = ("routepilot_rib_paths_dropped_total", (("reason", "prefix_path_limit"),))
    assert samples[key] == 93


def test_a_router_past_its_path_limit_keeps_what_it_had_and_others_are_unaffected():
    rib = make_rib(limits=PathLimits(max_paths_per_router=10))
    learn(rib, "r1", attrs("100.64.1.1"), *[(f"198.18.{i}.0/24", 1) for i in range(25)])
    learn(rib, "r2", attrs("100.64.2.1"), *[(f"198.18.{i}.0/24", 1) for i in range(5)])
    assert rib.table.paths == 15
    assert rib.table.dropped == {"router_path_limit": 15}
    # Replacing a path it has is not a new path; after a withdrawal it may add one.
    learn(rib, "r1", attrs("100.64.3.1"), ("198.18.0.0/24", 1))
    assert rib.table.dropped == {"router_path_limit": 15}
    rib.handle(PathsWithdrawn("r1", (Nlri("198.18.0.0/24", 1),)))
    learn(rib, "r1", attrs("100.64.1.1"), ("198.18.20.0/24", 1))
    assert rib.table.paths == 15
    assert rib.table.dropped == {"router_path_limit": 15}


def test_prefixes_past_the_cap_are_dropped():
    rib = make_rib(limits=PathLimits(max_prefixes=4))
    learn(rib, "r1", attrs("100.64.1.1"), *[(f"198.18.{i}.0/24", 1) for i in range(6)])
    assert len(rib.table.prefix_list) == 4
    assert rib.table.dropped == {"prefix_limit": 2}
    # Known prefixes still take new paths.
    learn(rib, "r2", attrs("100.64.2.1"), ("198.18.3.0/24", 1))
    assert rib.table.paths == 5
