"""The BMP station against a real FRR (8.4, ``bgpd -M bmp``): the same view as add-path.

One FRR edge router with three eBGP providers sends every provider's path to
routepilot twice: over the iBGP add-path session (ExaBGP) and as BMP
post-policy Adj-RIB-In monitoring of each provider session to routepilot's BMP
station. Two RIBs are built, one from each; every prefix's providers and BGP's
choice must agree, also after a provider session goes down on the router.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket

import pytest
from tests.fixtures.netns import Namespaces, netns, wait_for

from routepilot.rib.bmp import BmpStation
from routepilot.rib.rib import Rib

from .conftest import LOCAL, PROVIDERS, ROUTER
from .frr import FRR_CONF, FRR_DIR, FRR_EXPECTED_BEST, FRR_EXPECTED_PROVIDERS, FrrEdge, FrrLab
from .test_exabgp_bird import Controller, until

BMP_PORT = 11019
BMP_CONF = (
    FRR_CONF.rstrip("!\n")
    + f"""
 bmp targets routepilot
  bmp connect {LOCAL} port {BMP_PORT} min-retry 100 max-retry 1000
  bmp monitor ipv4 unicast post-policy
  bmp stats interval 1000
 exit
!
"""
)


@pytest.fixture
def frr_bmp_edge(namespaces: Namespaces):
    """The FRR edge of test_exabgp_frr.py, with its BMP module sending to routepilot."""
    if not (FRR_DIR / "bgpd").exists():
        pytest.skip("frr is not installed")
    lab = FrrLab(namespaces, BMP_CONF, modules=("bmp",))
    try:
        edge = lab.up()
        wait_for(edge.providers_established, timeout=60)
        yield edge
    finally:
        lab.down()


def _listener(ns: str) -> socket.socket:
    """The station's socket, bound inside the router's namespace (routepilot's address)."""
    with netns(ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOCAL, BMP_PORT))
    sock.listen()
    sock.setblocking(False)
    return sock


class BmpRib:
    def __init__(self, edge: FrrEdge) -> None:
        # FRR and routepilot share the namespace here, so FRR's connection to LOCAL
        # may come from either local address.
        self.station = BmpStation({ROUTER: "edge", LOCAL: "edge"}, sock=_listener(edge.netns))
        self.rib = Rib(["edge"], PROVIDERS)
        self._pump: asyncio.Task | None = None

    async def __aenter__(self) -> BmpRib:
        await self.station.start()
        self._pump = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        async for event in self.station.events():
            self.rib.handle(event)

    async def __aexit__(self, *exc) -> None:
        await self.station.stop()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    def view(self) -> tuple[dict[str, set[str]], dict[str, str]]:
        snap = self.rib.snapshot()
        providers = {
            p: {snap.providers[k] for k in range(len(snap.providers)) if snap.has_route[i, k]}
            for i, p in enumerate(snap.prefixes)
        }
        best = {
            p: snap.providers[k] for p, k in zip(snap.prefixes, snap.bgp_best.tolist(), strict=True)
        }
        return providers, best


def test_bmp_view_equals_add_path_view(frr_bmp_edge: FrrEdge):
    edge = frr_bmp_edge
    if shutil.which("vtysh") is None:
        pytest.skip("vtysh is not installed")

    async def scenario() -> None:
        async with Controller(edge, "exabgp") as ctl, BmpRib(edge) as bmp:
            await until(lambda: ctl.rib.synced("edge"), 60)
            await until(lambda: ctl.providers_of() == FRR_EXPECTED_PROVIDERS)
            await until(lambda: bmp.view() == (FRR_EXPECTED_PROVIDERS, FRR_EXPECTED_BEST), 60)
            assert bmp.view() == (ctl.providers_of(), ctl.best())
            assert bmp.rib.session_up["edge"]
            m = bmp.station.metrics
            assert (m.malformed_messages, m.malformed_updates, m.unknown_sources) == (0, 0, 0)
            assert m.peer_ups >= 3
            assert bmp.rib.metrics.unknown_next_hop_paths == 0
            # Post-policy paths of eBGP sessions: LOCAL_PREF as the router's (default)
            # policy leaves it, or absent (then the RIB assumes its default, 100).
            local_prefs = {p["local_pref"] for p in bmp.rib.paths("198.18.1.0/24")}
            assert local_prefs <= {None, 100}, local_prefs

            # isp2's session goes down on the router: both views lose it, and agree.
            edge.vtysh("configure terminal", "router bgp 65000", "neighbor 100.64.2.1 shutdown")
            after = {p: s - {"isp2"} for p, s in FRR_EXPECTED_PROVIDERS.items()}
            await until(lambda: ctl.providers_of() == after, 30)
            await until(lambda: bmp.view()[0] == after, 30)
            assert bmp.view() == (ctl.providers_of(), ctl.best())
            assert bmp.view()[1]["198.18.1.0/24"] == "isp1"
            assert m.peer_downs >= 1

            # Back up: the same view as at the start.
            edge.vtysh("configure terminal", "router bgp 65000", "no neighbor 100.64.2.1 shutdown")
            await until(lambda: bmp.view() == (FRR_EXPECTED_PROVIDERS, FRR_EXPECTED_BEST), 60)
            await until(lambda: ctl.providers_of() == FRR_EXPECTED_PROVIDERS, 60)
            assert bmp.view() == (ctl.providers_of(), ctl.best())

            # The router stops monitoring: its BMP session closes, its paths go.
            edge.vtysh("configure terminal", "router bgp 65000", "no bmp targets routepilot")
            await until(lambda: not bmp.rib.session_up["edge"], 30)
            assert bmp.view() == ({}, {})

            # Monitoring again: a new BMP session, and the whole view again.
            edge.vtysh(
                "configure terminal",
                "router bgp 65000",
                "bmp targets routepilot",
                f"bmp connect {LOCAL} port {BMP_PORT} min-retry 100 max-retry 1000",
                "bmp monitor ipv4 unicast post-policy",
            )
            await until(lambda: bmp.view() == (FRR_EXPECTED_PROVIDERS, FRR_EXPECTED_BEST), 60)
            assert m.connections >= 2
            assert m.malformed_messages == 0

    asyncio.run(asyncio.wait_for(scenario(), 240))
