"""rib/ and inject/ against a real FRR (8.4) edge router through each real speaker."""

from __future__ import annotations

import asyncio

from routepilot.inject.injector import DesiredRoute

from .frr import FRR_EXPECTED_BEST, FRR_EXPECTED_PROVIDERS, FrrEdge
from .test_exabgp_bird import Controller, until


def test_frr_paths_best_path_injection_and_resync(frr_edge: FrrEdge, backend: str):
    edge = frr_edge

    async def scenario() -> None:
        async with Controller(edge, backend) as ctl:
            await until(lambda: ctl.rib.synced("edge"), 60)
            await until(lambda: ctl.providers_of() == FRR_EXPECTED_PROVIDERS)
            assert ctl.best() == FRR_EXPECTED_BEST
            assert ctl.rib.metrics.malformed_updates == 0

            await ctl.injector.set_desired([DesiredRoute("198.18.1.0/24", "isp3")])
            await until(lambda: edge.routes_from_ctl() == {"198.18.1.0/24": "100.64.3.1"})
            await until(lambda: "via 100.64.3.1" in edge.kernel_route("198.18.1.0/24"))
            assert ctl.best() == FRR_EXPECTED_BEST

            # Bounce the session from FRR's side while the desired set changes.
            edge.vtysh("configure terminal", "router bgp 65000", "neighbor 100.64.0.2 shutdown")
            await until(lambda: not ctl.rib.session_up["edge"])
            await ctl.injector.set_desired([DesiredRoute("198.18.2.0/24", "isp3")])
            edge.vtysh("configure terminal", "router bgp 65000", "no neighbor 100.64.0.2 shutdown")
            await until(lambda: ctl.rib.synced("edge"), 60)
            await until(lambda: edge.routes_from_ctl() == {"198.18.2.0/24": "100.64.3.1"})
            await until(lambda: "via 100.64.3.1" in edge.kernel_route("198.18.2.0/24"))
            assert ctl.best() == FRR_EXPECTED_BEST
        assert edge.routes_from_ctl() == {}
        assert not edge.session_established()

    asyncio.run(asyncio.wait_for(scenario(), 240))
