"""inject/: several edge routers, each getting only the routes it can use, with its own
next hop; a route reflector getting no NO_ADVERTISE."""

from __future__ import annotations

import asyncio

from routepilot.config.models import InjectConfig
from routepilot.inject.injector import DesiredRoute, Injector
from routepilot.inject.routers import RouterPlan
from routepilot.rib.speaker.base import SessionChanged
from routepilot.rib.speaker.fake import FakeSpeaker

# isp1 on edge only, isp3 on edge2 only, isp2 on both (a link each, its own next hop).
PROVIDERS = [
    ("isp1", ["100.64.1.2", "2001:db8:ff00:1::2"]),
    ("isp2", ["100.64.2.2", "100.64.18.2"]),
    ("isp3", ["100.64.19.2"]),
]
EDGE = RouterPlan("edge", frozenset({"isp1", "isp2"}), {"isp3": ("100.66.3.2",)})
EDGE2 = RouterPlan(
    "edge2", frozenset({"isp2", "isp3"}), {"isp2": ("100.64.18.2",), "isp1": ("100.66.3.1",)}
)


def make(*plans: RouterPlan, **cfg) -> tuple[Injector, FakeSpeaker]:
    cfg.setdefault("dry_run", False)
    names = [p.name for p in plans]
    speaker = FakeSpeaker(names)
    injector = Injector(InjectConfig(**cfg), PROVIDERS, speaker, lambda: 7.0, plans)
    return injector, speaker


def held(speaker: FakeSpeaker, router: str) -> dict[str, str]:
    return {p: r.next_hop for p, r in speaker.rib_out[router].items()}


def test_each_router_gets_the_next_hop_it_resolves():
    inj, sp = make(EDGE, EDGE2)
    asyncio.run(
        inj.set_desired(
            [
                DesiredRoute("198.18.1.0/24", "isp1"),
                DesiredRoute("198.18.2.0/24", "isp2"),
                DesiredRoute("198.18.3.0/24", "isp3"),
            ]
        )
    )
    assert held(sp, "edge") == {
        "198.18.1.0/24": "100.64.1.2",  # its own link
        "198.18.2.0/24": "100.64.2.2",  # its own link to the shared provider
        "198.18.3.0/24": "100.66.3.2",  # through edge2
    }
    assert held(sp, "edge2") == {
        "198.18.1.0/24": "100.66.3.1",
        "198.18.2.0/24": "100.64.18.2",
        "198.18.3.0/24": "100.64.19.2",
    }
    # The API's view per prefix stays the provider's own next hop.
    assert inj.announced["198.18.3.0/24"].next_hop == "100.64.19.2"
    assert inj.announced_count("edge") == inj.announced_count("edge2") == 3


def test_a_router_that_cannot_use_a_provider_gets_nothing_and_loses_a_moved_route():
    lone = RouterPlan("edge2", frozenset({"isp2", "isp3"}), {"isp2": ("100.64.18.2",)})
    inj, sp = make(EDGE, lone)

    async def scenario() -> None:
        await inj.set_desired([DesiredRoute("198.18.1.0/24", "isp2")])
        assert held(sp, "edge2") == {"198.18.1.0/24": "100.64.18.2"}
        # Moved to isp1, which edge2 neither reaches nor has a next hop for.
        await inj.set_desired([DesiredRoute("198.18.1.0/24", "isp1")])

    asyncio.run(scenario())
    assert held(sp, "edge") == {"198.18.1.0/24": "100.64.1.2"}
    assert held(sp, "edge2") == {}
    assert inj.announced_count("edge2") == 0


def test_a_family_without_a_next_hop_of_the_router_is_not_sent_to_it():
    inj, sp = make(EDGE, EDGE2)
    asyncio.run(inj.set_desired([DesiredRoute("2001:db8:1000::/48", "isp1")]))
    assert held(sp, "edge") == {"2001:db8:1000::/48": "2001:db8:ff00:1::2"}
    assert held(sp, "edge2") == {}  # its next hop for isp1 is IPv4 only


def test_session_up_resends_only_that_routers_routes():
    inj, sp = make(EDGE, EDGE2)

    async def scenario() -> None:
        await inj.set_desired([DesiredRoute("198.18.1.0/24", "isp1")])
        sp.calls.clear()
        await inj.handle(SessionChanged("edge2", True))

    asyncio.run(scenario())
    assert [(c[0], c[1], [r.next_hop for r in c[2]]) for c in sp.calls] == [
        ("announce", "edge2", ["100.66.3.1"])
    ]


def test_stop_withdraws_from_every_router():
    inj, sp = make(EDGE, EDGE2)

    async def scenario() -> None:
        await inj.set_desired([DesiredRoute("198.18.1.0/24", "isp2")])
        await inj.stop()

    asyncio.run(scenario())
    assert held(sp, "edge") == {} == held(sp, "edge2")


def test_a_route_reflector_gets_no_no_advertise_and_a_direct_edge_does():
    rr = RouterPlan("rr", route_reflector=True)
    inj, sp = make(rr, RouterPlan("edge"))
    asyncio.run(inj.set_desired([DesiredRoute("198.18.1.0/24", "isp1")]))
    assert sp.rib_out["rr"]["198.18.1.0/24"].communities == ("no-export",)
    assert sp.rib_out["edge"]["198.18.1.0/24"].communities == ("no-export", "no-advertise")
    assert sp.rib_out["rr"]["198.18.1.0/24"].next_hop == "100.64.1.2"


def test_plain_routers_share_one_announcement():
    inj, sp = make(RouterPlan("r1"), RouterPlan("r2"))
    asyncio.run(inj.set_desired([DesiredRoute("198.18.1.0/24", "isp1")]))
    assert [c[1] for c in sp.calls] == [None]  # one call for every router
    assert held(sp, "r1") == held(sp, "r2") == {"198.18.1.0/24": "100.64.1.2"}
