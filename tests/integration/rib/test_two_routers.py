"""Two edge routers: one speaker, a session each, paths kept apart, flaps handled per router."""

from __future__ import annotations

import asyncio

from routepilot.inject.injector import DesiredRoute

from .conftest import EXPECTED_BEST, ROUTER, ROUTER2, Edge
from .test_exabgp_bird import Controller, until


def test_two_routers_share_injections_and_flap_independently(
    two_edges: tuple[Edge, Edge], backend: str
):
    edge1, edge2 = two_edges

    async def scenario() -> None:
        async with Controller(edge1, backend, {"edge1": ROUTER, "edge2": ROUTER2}) as ctl:
            await until(lambda: ctl.rib.synced("edge1") and ctl.rib.synced("edge2"))
            assert ctl.best() == {**EXPECTED_BEST, "198.18.4.0/24": "isp1"}
            assert ctl.providers_of()["198.18.4.0/24"] == {"isp1", "isp3"}

            desired = [DesiredRoute("198.18.4.0/24", "isp3")]
            await ctl.injector.set_desired(desired)
            want = {"198.18.4.0/24": "100.64.3.1"}
            await until(lambda: edge1.routes_from_ctl() == want == edge2.routes_from_ctl())

            # edge2's session goes down: only its paths go.
            edge2.birdc("disable", "ctl")
            await until(lambda: not ctl.rib.session_up["edge2"])
            assert "198.18.4.0/24" not in ctl.best()
            assert ctl.best() == EXPECTED_BEST
            assert ctl.rib.session_up["edge1"]
            assert edge1.routes_from_ctl() == want

            # It comes back: its paths and our route are back, edge1 untouched.
            resyncs = ctl.injector.metrics.resyncs
            edge2.birdc("enable", "ctl")
            await until(lambda: ctl.rib.synced("edge2"))
            await until(lambda: edge2.routes_from_ctl() == want)
            assert ctl.best()["198.18.4.0/24"] == "isp1"
            assert ctl.injector.metrics.resyncs == resyncs + 1
        assert edge1.routes_from_ctl() == {} == edge2.routes_from_ctl()

    asyncio.run(asyncio.wait_for(scenario(), 180))
