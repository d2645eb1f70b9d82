"""A table from gobgpd (``gobgp mrt inject``), learned by the real controller (#18).

gobgpd holds an MRT table of a few thousand paths from 14 peers (generated in
reserved space: no public dump can be fetched here) and sends it over iBGP with
add-path to routepilot's speaker (each backend: ExaBGP, GoBGP), with no End-of-RIB.
What a user checks: every path is learned exactly as the dump has it; no decision
is made and no alert fires while the table arrives; the routes count as whole
once it is in.
bench/rib/mrt.py runs the same thing with a full table and takes the figures.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from tests.fixtures.netns import Namespaces

from routepilot.lab import mrt
from routepilot.lab.edgebird import EdgeBird
from routepilot.lab.gobgp import GobgpNeighbor, GobgpRouter
from routepilot.lab.tableload import ASN, EDGE, LOCAL, ROUTER, LoadResult, load_table

from .conftest import _namespace


def _gobgpd_and_table(  # type: ignore[no-untyped-def]
    namespaces: Namespaces, tmp_path: Path, paths: int, seed: int, to: str = LOCAL
):
    """A generated table of about ``paths`` paths written for ``gobgp mrt inject``, and a
    gobgpd (not started) that sends what it holds over add-path to ``to``: routepilot's
    speaker, or :data:`EDGE` (BIRD)."""
    if not GobgpRouter.available():
        pytest.skip("gobgpd is not installed")
    table = mrt.generate(paths, seed=seed, multi_path_share=0.2)
    dump = tmp_path / "table.mrt"
    mrt.write(table, dump, encoding="gobgp3", padding=len(table.routes))
    netns = _namespace(namespaces, ROUTER, LOCAL, EDGE)
    router = GobgpRouter(
        netns, namespaces.workdir, ROUTER, ASN, [GobgpNeighbor(to, ASN, add_path_send=8)]
    )
    return table, dump, netns, router


@pytest.fixture
def gobgp_edge(namespaces: Namespaces, tmp_path: Path):
    table, dump, netns, router = _gobgpd_and_table(namespaces, tmp_path, 3000, 18)
    router.start()
    try:
        router.inject_mrt(dump, table.paths)
        yield table, netns
    finally:
        router.stop()


def test_a_gobgp_table_is_learned_exactly_and_nothing_acts_before_it_is_whole(
    gobgp_edge, backend: str
):
    table, netns = gobgp_edge
    assert table.paths > 3000 * 0.95 and any(len(p) > 1 for p in table.routes.values())
    result = asyncio.run(
        load_table(
            table.peers, table.paths, netns, timeout=120, show=list(table.routes), backend=backend
        )
    )
    _learned_exactly(table, result)
    # gobgpd sends no End-of-RIB: the routes became whole by the rate rule.
    assert result.end_of_rib == 0
    _nothing_acted_before_the_whole_table(table, result)


def test_a_table_from_a_bird_edge_that_holds_it_is_learned_exactly(
    namespaces: Namespaces, tmp_path: Path
):
    """routepilot starting against an edge router that already holds the table (BIRD,
    fed by gobgpd, as bench/rib/mrt.py's ``edge`` run): BIRD reflects each path with
    add-path and next hop kept. What a user checks: every path as the dump has it, the
    routes whole at BIRD's End-of-RIB, nothing decided or alerted before."""
    table, dump, netns, feeder = _gobgpd_and_table(namespaces, tmp_path, 3000, 20, to=EDGE)
    edge = EdgeBird(netns, tmp_path, EDGE, ASN, feed=ROUTER, clients=[LOCAL])
    try:
        feeder.start()
        feeder.inject_mrt(dump, table.paths)
        edge.start()
        edge.wait_fed(table.paths, timeout=120)
        result = asyncio.run(
            load_table(
                table.peers, table.paths, netns, timeout=120, show=list(table.routes), router=EDGE
            )
        )
    finally:
        edge.stop()
        feeder.stop()
    _learned_exactly(table, result)
    assert result.end_of_rib >= 1
    _nothing_acted_before_the_whole_table(table, result)


def _learned_exactly(table: mrt.Table, result: LoadResult) -> None:
    """Every path, exactly as the dump holds it."""
    assert result.whole_s is not None, f"only {result.samples[-1].paths} of {table.paths}"
    for prefix, paths in table.routes.items():
        want = sorted(
            # Communities are a set (RFC 1997): their order is not the path's.
            (
                p.next_hop,
                p.as_path(),
                p.origin,
                p.med,
                tuple(sorted(p.communities)),
                f"peer{p.peer + 1}",
            )
            for p in paths
        )
        got = sorted(
            (
                g["next_hop"],
                tuple(g["as_path"]),
                g["origin"],
                g["med"],
                tuple(sorted(g["communities"])),
                g["provider"],
            )  # fmt: skip
            for g in result.paths[prefix]
        )
        assert got == want, prefix
        assert all(g["local_pref"] == 100 for g in result.paths[prefix])


def _nothing_acted_before_the_whole_table(table: mrt.Table, result: LoadResult) -> None:
    assert result.synced_s is not None and result.synced_s >= result.whole_s
    # Nothing decided on part of the table, and nothing alerted at all.
    assert result.first_decision_s is not None
    assert result.paths_at_first_decision == table.paths
    for s in result.samples:
        assert s.decisions == 0 or s.paths == table.paths, s
        assert s.state != "synced" or s.paths == table.paths, s
    assert [(a.kind, a.key, a.state) for a in result.alerts] == []


def test_a_router_silent_after_its_session_came_up_alerts_no_provider_out(
    namespaces: Namespaces, tmp_path: Path
):
    """#18: gobgpd under load sent nothing for more than ``rib.sync_first_path_wait``
    after its session came up, and all 14 providers were alerted out until its table
    came. Here gobgpd holds nothing when the session comes up (the wait is 3 s), and is
    given the table only once routepilot calls it silent. What a user checks: one
    degraded condition naming the router while it is silent, no provider outage at
    any time, no decision before the whole table, every path learned."""
    table, dump, netns, router = _gobgpd_and_table(namespaces, tmp_path, 2000, 19)
    router.start()
    loader: list[threading.Thread] = []

    def watch(sample) -> None:
        # The table is given to gobgpd once routepilot has called the router silent.
        if sample.state == "silent" and not loader:
            loader.append(threading.Thread(target=router.inject_mrt, args=(dump, table.paths)))
            loader[0].start()

    try:
        result = asyncio.run(
            load_table(
                table.peers, table.paths, netns, timeout=120, first_path_wait=3.0, watch=watch
            )
        )
    finally:
        for thread in loader:
            thread.join()
        router.stop()

    silent = [s for s in result.samples if s.state == "silent"]
    assert silent, "the router was never called silent"
    assert all(
        any(d.startswith("router edge has sent no route in") for d in s.degraded) for s in silent
    )
    assert silent[0].paths == 0 and silent[0].decisions == 0
    # Its first paths end the silence; nothing decided before the whole table.
    assert result.whole_s is not None, f"only {result.samples[-1].paths} of {table.paths}"
    assert result.paths_at_first_decision == table.paths
    for s in result.samples:
        assert s.decisions == 0 or s.paths == table.paths, s
    assert not [s for s in result.samples if s.t > silent[-1].t and s.state == "silent"]
    # One degraded controller while silent (raised and cleared), no provider out.
    alerts = [(a.kind, a.key, a.state) for a in result.alerts]
    assert alerts == [
        ("controller_degraded", "controller", "firing"),
        ("controller_degraded", "controller", "resolved"),
    ]
    assert "router edge has sent no route" in result.alerts[0].summary
