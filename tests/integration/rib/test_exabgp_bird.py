"""rib/ and inject/ against a real BIRD 2 through each real speaker (ExaBGP, GoBGP)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

from routepilot.config.models import InjectConfig, RouterConfig
from routepilot.inject.injector import DesiredRoute, Injector
from routepilot.rib.rib import Rib
from routepilot.rib.speaker import make_speaker
from routepilot.rib.speaker.base import InjectedRoute

from .conftest import (
    ASN,
    EXPECTED_BEST,
    EXPECTED_PROVIDERS,
    LOCAL,
    PROVIDERS,
    ROUTER,
    Edge,
    speaker_config,
)


class Controller:
    """What the daemon will wire: speaker events to the RIB and the injector."""

    def __init__(self, edge, backend: str, routers: dict[str, str] | None = None) -> None:
        """``routers``: name -> address; by default the one BIRD at ROUTER, named edge."""
        routers = routers or {"edge": ROUTER}
        configs = [
            RouterConfig(name=name, address=address, asn=ASN, local_address=LOCAL)
            for name, address in routers.items()
        ]
        # gobgpd listens beside BIRD (which binds its own address only), not beside FRR.
        config = speaker_config(
            backend, edge.netns, listen=isinstance(edge, Edge), restart_delay=0.2
        )
        self.speaker = make_speaker(config, configs)
        inject = InjectConfig(dry_run=False)
        # Synced only once every negotiated family's table is in (End-of-RIB for each),
        # as the daemon's RIB is: IPv6 paths may still be coming after IPv4's End-of-RIB.
        self.rib = Rib(
            list(routers),
            PROVIDERS,
            inject.local_preference,
            inject.communities,
            families=config.families,
        )
        self.injector = Injector(inject, PROVIDERS, self.speaker)
        self.events: list = []
        self._pump: asyncio.Task | None = None

    async def __aenter__(self) -> Controller:
        await self.speaker.start()
        self._pump = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        async for event in self.speaker.events():
            self.events.append(event)
            self.rib.handle(event)
            await self.injector.handle(event)

    async def __aexit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.injector.stop(), 10)
            await asyncio.sleep(0.5)
        await self.speaker.stop()
        if self._pump is not None:
            self._pump.cancel()

    def best(self) -> dict[str, str]:
        snap = self.rib.snapshot()
        return {
            p: snap.providers[b] for p, b in zip(snap.prefixes, snap.bgp_best.tolist(), strict=True)
        }

    def providers_of(self) -> dict[str, set[str]]:
        snap = self.rib.snapshot()
        return {
            p: {snap.providers[k] for k in range(len(snap.providers)) if snap.has_route[i, k]}
            for i, p in enumerate(snap.prefixes)
        }


async def until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s")
        await asyncio.sleep(0.1)


def test_learns_every_path_injects_resyncs_and_survives_kill(edge: Edge, backend: str):
    async def scenario() -> None:
        async with Controller(edge, backend) as ctl:
            # The daemon's working folder (configuration, API socket) lives as long as
            # the speaker, across the daemon's restarts below.
            workdir = ctl.speaker.workdir
            assert workdir is not None and (workdir / "api.sock").exists()
            # Every provider's path arrives over add-path, BGP's choice is computed.
            await until(lambda: ctl.rib.synced("edge"))
            # BIRD ends each family's table with End-of-RIB; both backends pass it on.
            await until(lambda: ctl.rib.end_of_rib["edge"] == {"ipv4 unicast", "ipv6 unicast"})
            assert ctl.providers_of() == EXPECTED_PROVIDERS
            assert ctl.best() == EXPECTED_BEST
            assert ctl.rib.metrics.paths_received >= 7
            assert ctl.rib.metrics.malformed_updates == 0
            assert ctl.rib.metrics.unknown_next_hop_paths >= 3  # BIRD's direct routes

            # An improvement: 198.18.1.0/24 out of isp1 (BGP picks isp2).
            await ctl.injector.set_desired([DesiredRoute("198.18.1.0/24", "isp1")])
            await until(lambda: edge.routes_from_ctl() == {"198.18.1.0/24": "100.64.1.1"})
            await until(lambda: "via 100.64.1.1" in edge.kernel_route("198.18.1.0/24"))
            attrs = edge.birdc("show", "route", "198.18.1.0/24", "protocol", "ctl", "all")
            assert "BGP.local_pref: 500" in attrs
            assert "(65535,65281)" in attrs and "(65535,65282)" in attrs
            # BIRD does not send our route back; the RIB's view is unchanged.
            assert ctl.best() == EXPECTED_BEST

            # Moving it to another provider replaces the route (no withdraw first).
            withdrawals = ctl.speaker.metrics.routes_withdrawn
            await ctl.injector.set_desired([DesiredRoute("198.18.1.0/24", "isp3")])
            await until(lambda: edge.routes_from_ctl() == {"198.18.1.0/24": "100.64.3.1"})
            await until(lambda: "via 100.64.3.1" in edge.kernel_route("198.18.1.0/24"))
            assert ctl.speaker.metrics.routes_withdrawn == withdrawals

            # IPv6: the provider's IPv6 next-hop.
            await ctl.injector.set_desired(
                [DesiredRoute("198.18.1.0/24", "isp1"), DesiredRoute("2001:db8:1::/48", "isp1")]
            )
            await until(
                lambda: (
                    edge.routes_from_ctl()
                    == {"198.18.1.0/24": "100.64.1.1", "2001:db8:1::/48": "2001:db8:f1::1"}
                )
            )
            await until(lambda: "via 2001:db8:f1::1" in edge.kernel_route("2001:db8:1::/48"))

            # Commands aimed at one router (what resync uses) work both ways.
            extra = InjectedRoute("198.18.3.0/24", "100.64.2.1", 500, ("no-export",))
            await ctl.speaker.announce([extra], "edge")
            await until(lambda: edge.routes_from_ctl().get("198.18.3.0/24") == "100.64.2.1")
            await ctl.speaker.withdraw([extra], "edge")
            await until(lambda: "198.18.3.0/24" not in edge.routes_from_ctl())

            # Withdrawn when no longer desired.
            await ctl.injector.set_desired([])
            await until(lambda: edge.routes_from_ctl() == {})

            # Session bounced while the desired set changes: after it comes back,
            # the router holds what is desired now, not what was announced before.
            await ctl.injector.set_desired([DesiredRoute("198.18.1.0/24", "isp1")])
            await until(lambda: edge.routes_from_ctl() == {"198.18.1.0/24": "100.64.1.1"})
            edge.birdc("disable", "ctl")
            await until(lambda: not ctl.rib.session_up["edge"])
            assert ctl.rib.snapshot().prefixes == ()
            await ctl.injector.set_desired([DesiredRoute("198.18.2.0/24", "isp3")])
            edge.birdc("enable", "ctl")
            await until(lambda: ctl.rib.synced("edge"))
            await until(lambda: edge.routes_from_ctl() == {"198.18.2.0/24": "100.64.3.1"})
            assert ctl.best() == EXPECTED_BEST
            assert ctl.injector.metrics.resyncs >= 2

            # kill -9 of the speaker: BIRD drops our route, routepilot restarts it
            # and resyncs.
            old = ctl.speaker.pid
            killed = time.monotonic()
            os.kill(old, signal.SIGKILL)
            await until(lambda: edge.routes_from_ctl() == {})
            dropped = time.monotonic() - killed
            await until(lambda: ctl.speaker.metrics.restarts == 1)
            await until(lambda: ctl.speaker.pid != old)
            await until(lambda: ctl.rib.synced("edge"))
            await until(lambda: edge.routes_from_ctl() == {"198.18.2.0/24": "100.64.3.1"})
            restored = time.monotonic() - killed
            print(f"{backend} kill -9: dropped by BIRD {dropped:.2f} s, restored {restored:.2f} s")
            assert ctl.best() == EXPECTED_BEST

            # A hung speaker (SIGSTOP): BIRD drops the session at its hold timer,
            # routepilot notices the silence, kills and restarts it, and resyncs.
            hung = ctl.speaker.pid
            os.kill(hung, signal.SIGSTOP)
            await until(lambda: edge.routes_from_ctl() == {}, 20)
            await until(lambda: ctl.speaker.metrics.hangs == 1, 20)
            await until(lambda: ctl.speaker.pid != hung)
            await until(lambda: edge.routes_from_ctl() == {"198.18.2.0/24": "100.64.3.1"})
            # Two restarts, one folder: each new daemon took the same one.
            assert ctl.speaker.workdir == workdir and (workdir / "api.sock").exists()
        # Graceful stop: everything withdrawn, the session is closed, the folder gone.
        assert edge.routes_from_ctl() == {}
        assert not edge.session_established()
        assert not workdir.exists()

    asyncio.run(asyncio.wait_for(scenario(), 180))
