"""Several edge routers, and routepilot as a route-reflector client (issue 12 parts 1, 2).

Two edges: isp1 on edge, isp3 on edge2, isp2 on both; iBGP between the edges (or each
with the FRR reflector rr). What is checked is what an engineer checks on the routers:
each edge's kernel FIB and BIRD's routes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from routepilot.lab.edges import EDGES_LINK, edge2_link
from routepilot.lab.spec import LabSpec, default_spec, edge_link
from tests.lab.looplab import FAST_EXPORT, LoopLab

EDGE_TO_EDGE2, EDGE2_TO_EDGE = EDGES_LINK[1], EDGES_LINK[0]
HOLD_TIME_S = 9.0
"""The edges' hold time toward routepilot (and the reflector's)."""


def _spec(name: str, reflector: bool) -> LabSpec:
    # The default lab's providers and nominal latencies (5, 8, 11 ms): isp2 is the
    # best alternative whenever isp1 is slowed.
    base = default_spec(3, 32, name).model_dump()
    # Long flows exported every 5 s: the traffic's first records come sooner.
    export = {**base["export"], **FAST_EXPORT}
    return LabSpec.model_validate(
        {**base, "prefixes_v6": 4, "edges": 2, "reflector": reflector, "export": export}
    )


def _loop(
    tmp_path_factory: pytest.TempPathFactory, name: str, reflector: bool
) -> Iterator[LoopLab]:
    ll = LoopLab(_spec(name, reflector), tmp_path_factory.mktemp(name), policy__hold_down_s=10.0)
    try:
        ll.up()
        yield ll
    finally:
        ll.down()


# Class-scoped: one lab at a time on a 2-core machine; the two-edge lab is gone before
# the reflector lab comes up.
@pytest.fixture(scope="class")
def edges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopLab]:
    yield from _loop(tmp_path_factory, "rplabe", False)


@pytest.fixture(scope="class")
def reflected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopLab]:
    yield from _loop(tmp_path_factory, "rplabr", True)


def fib(loop: LoopLab, node: str, prefix: str) -> str | None:
    """The next hop ``node``'s kernel FIB sends ``prefix`` to."""
    host = prefix.replace(".0/24", ".1")
    out = subprocess.run(
        ["ip", "-n", loop.lab.ns(node), "route", "get", host], capture_output=True, text=True
    ).stdout
    m = re.search(r" via (\S+)", out)
    return m.group(1) if m else None


def bird_best(loop: LoopLab, node: str, prefix: str) -> tuple[str, str, int | None]:
    """(protocol, BGP next hop, LOCAL_PREF) of the route BIRD on ``node`` uses for ``prefix``."""
    out = loop.lab.birdc(node, f"show route for {prefix} all primary")
    proto = re.search(r"unicast \[(\S+) ", out)
    hop = re.search(r"BGP\.next_hop: (\S+)", out)
    pref = re.search(r"BGP\.local_pref: (\d+)", out)
    return (
        proto.group(1) if proto else "",
        hop.group(1) if hop else "",
        int(pref.group(1)) if pref else None,
    )


USED: set[str] = set()


def _pick(loop: LoopLab, default: str) -> str:
    """A busy prefix (not used before) whose BGP default is ``default``, with both edges'
    FIBs on it."""
    for prefix in loop.busiest(32, lambda k: loop.spec.bgp_best(k) == default):
        if prefix not in USED and fib(loop, "edge", prefix) is not None:
            USED.add(prefix)
            return prefix
    raise AssertionError(f"no unused busy prefix with BGP default {default}")


ISP1, ISP2, ISP3 = (edge_link(1)[1], edge_link(2)[1], edge2_link(3)[1])
ISP2_ON_EDGE2 = edge2_link(2)[1]


def _decisions(loop: LoopLab, prefix: str) -> list[dict]:
    return loop.api(f"/decisions?prefix={prefix}")


STEERED = {"isp2": (ISP2, ISP2_ON_EDGE2), "isp3": (EDGE_TO_EDGE2, ISP3)}
"""(edge's next hop, edge2's next hop) of a prefix routepilot sends to isp2 (each edge's
own link) or isp3 (edge2's link; edge through edge2)."""


def _exit(loop: LoopLab, prefix: str) -> str | None:
    return loop.api(f"/prefixes/{prefix}")["exit"]


def _steered_both(loop: LoopLab, prefix: str) -> bool:
    """Both edges' FIBs follow routepilot's exit for ``prefix`` (isp2 or isp3)."""
    hops = STEERED.get(_exit(loop, prefix) or "")
    return hops is not None and (fib(loop, "edge", prefix), fib(loop, "edge2", prefix)) == hops


class TestTwoEdges:
    def test_latency_moves_the_prefix_on_each_edge_with_its_own_next_hop(
        self, edges: LoopLab
    ) -> None:
        loop = edges
        prefix = _pick(loop, "isp1")
        # BGP's choice: edge straight to isp1, edge2 through edge.
        assert (fib(loop, "edge", prefix), fib(loop, "edge2", prefix)) == (ISP1, EDGE2_TO_EDGE)
        loop.lab.impair("isp1", [prefix], delay_ms=40)
        took = loop.wait(
            lambda: _steered_both(loop, prefix),
            40,
            "the move on both edges",
            diag=lambda: f"{loop.detail(prefix)}; edge2 {fib(loop, 'edge2', prefix)}",
        )
        move = _decisions(loop, prefix)[0]
        assert move["reason"] == "latency" and move["to_provider"] in STEERED, move
        edge_hop, edge2_hop = STEERED[move["to_provider"]]
        # Each edge holds routepilot's route with its own next hop toward that provider.
        assert bird_best(loop, "edge", prefix) == ("ctl", edge_hop, 500)
        assert bird_best(loop, "edge2", prefix) == ("ctl", edge2_hop, 500)
        routers = {r["name"]: r for r in loop.api("/routers")}
        assert routers["edge"]["providers"].keys() == {"isp1", "isp2"}
        assert routers["edge2"]["providers"].keys() == {"isp2", "isp3"}
        print(f"latency move to {move['to_provider']} on both edges after {took:.1f} s")

    def test_one_edges_session_loss_leaves_the_other_edge_steered(self, edges: LoopLab) -> None:
        loop = edges
        steered = [p for p in USED if bird_best(loop, "edge", p)[0] == "ctl"]
        assert steered, "the previous test leaves a prefix steered"
        prefix = steered[0]
        was = _exit(loop, prefix)
        loop.lab.birdc("edge2", "disable ctl")
        try:
            loop.wait(
                lambda: (
                    {r["name"]: r["session"] for r in loop.api("/routers")}
                    == {"edge": "established", "edge2": "down"}
                ),
                HOLD_TIME_S + 5,
                "edge2's session down in the API",
            )

            # isp3 is reached by edge2 alone: without it, isp3 is unusable.
            def up() -> dict[str, bool]:
                return {p["name"]: p["session_up"] for p in loop.api("/providers")}

            loop.wait(
                lambda: up() == {"isp1": True, "isp2": True, "isp3": False},
                5,
                "isp3 unusable",
                diag=lambda: str(up()),
            )
            # edge2 falls back to BGP (through edge); edge stays steered by routepilot,
            # on isp2 (a prefix it had sent to isp3 moves there at once: outage path).
            loop.wait(
                lambda: fib(loop, "edge2", prefix) == EDGE2_TO_EDGE, 5, "edge2 on BGP's choice"
            )
            took = loop.wait(lambda: fib(loop, "edge", prefix) == ISP2, 5, "edge steered to isp2")
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                assert fib(loop, "edge", prefix) == ISP2
                assert bird_best(loop, "edge", prefix) == ("ctl", ISP2, 500)
                time.sleep(0.5)
            print(f"edge2 down: edge steered on isp2 (was {was}, {took:.1f} s)")
        finally:
            loop.lab.birdc("edge2", "enable ctl")
        # Back: edge2 gets routepilot's route again, with its own next hop.
        loop.wait(lambda: _steered_both(loop, prefix), 30, "edge2 steered again")

    def test_kill_9_returns_both_edges_to_bgp_within_the_hold_time(self, edges: LoopLab) -> None:
        loop = edges
        prefix = _pick(loop, "isp1")
        loop.lab.impair("isp1", [prefix], delay_ms=40)
        loop.wait(lambda: _steered_both(loop, prefix), 40, "the move on both edges")
        pid = loop.lab.controller_pid()
        assert pid
        os.kill(pid, signal.SIGKILL)
        took = loop.wait(
            lambda: (
                (fib(loop, "edge", prefix), fib(loop, "edge2", prefix)) == (ISP1, EDGE2_TO_EDGE)
            ),
            HOLD_TIME_S,
            "both edges back on BGP's choice",
            0.01,
        )
        assert loop.injected_routes() == 0
        assert bird_best(loop, "edge2", prefix)[0] == "edge"  # the iBGP path from edge
        print(f"fail-open on both edges {took * 1000:.0f} ms after kill -9")


class TestReflector:
    def test_through_a_reflector_the_move_reaches_both_edges_fibs(self, reflected: LoopLab) -> None:
        loop = reflected
        # A prefix of edge2's own provider: edge reaches it through edge2.
        prefix = _pick(loop, "isp3")
        assert (fib(loop, "edge", prefix), fib(loop, "edge2", prefix)) == (EDGE_TO_EDGE2, ISP3)
        assert bird_best(loop, "edge", prefix)[:2] == (
            "reflector",
            ISP3,
        )  # reflected, next hop kept
        loop.lab.impair("isp3", [prefix], delay_ms=40)
        took = loop.wait(
            lambda: (
                fib(loop, "edge", prefix) in (ISP1, ISP2)
                and fib(loop, "edge2", prefix) == EDGE2_TO_EDGE
            ),
            40,
            "the move on both edges",
            diag=lambda: f"{loop.detail(prefix)}; edge2 {bird_best(loop, 'edge2', prefix)}",
        )
        move = _decisions(loop, prefix)[0]
        assert move["reason"] == "latency" and move["to_provider"] in ("isp1", "isp2")
        hop = ISP1 if move["to_provider"] == "isp1" else ISP2
        # One route through the reflector, its next hop resolved on both edges; no
        # NO_ADVERTISE, or rr would have kept it to itself.
        for node in ("edge", "edge2"):
            assert bird_best(loop, node, prefix) == ("reflector", hop, 500)
        assert fib(loop, "edge", prefix) == hop
        (rr,) = loop.api("/routers")
        assert (rr["name"], rr["session"]) == ("rr", "established") and rr["routes_announced"] >= 1
        assert set(rr["providers"]) == {"isp1", "isp2", "isp3"}  # every edge's paths, reflected
        print(f"move through the reflector on both edges after {took:.1f} s")

        pid = loop.lab.controller_pid()
        assert pid
        os.kill(pid, signal.SIGKILL)
        took = loop.wait(
            lambda: (
                (fib(loop, "edge", prefix), fib(loop, "edge2", prefix)) == (EDGE_TO_EDGE2, ISP3)
            ),
            HOLD_TIME_S,
            "both edges back on BGP's choice",
            0.01,
        )
        print(f"fail-open through the reflector {took * 1000:.0f} ms after kill -9")
