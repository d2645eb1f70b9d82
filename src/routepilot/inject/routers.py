"""Which router gets which injected route, with which next hop.

With one edge router (or every router reaching every provider) each route goes to
every router unchanged. With several edge routers each reaches some providers
directly and others through another router: a route is sent only to the routers
that can use its provider, with the next hop that router resolves, and a route
reflector gets no NO_ADVERTISE (it must pass the route on to its clients).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from routepilot.rib.speaker.base import InjectedRoute

NO_ADVERTISE = frozenset({"no-advertise", "65535:65282"})


@dataclass(frozen=True)
class RouterPlan:
    """What one router can use: ``providers`` it reaches directly (empty: all of them),
    ``next_hops`` of its own per provider, and whether it is a route reflector."""

    name: str
    providers: frozenset[str] = frozenset()
    next_hops: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    route_reflector: bool = False

    @property
    def plain(self) -> bool:
        """Gets every route unchanged."""
        return not self.providers and not self.next_hops and not self.route_reflector

    def route(self, route: InjectedRoute, provider: str) -> InjectedRoute | None:
        """``route`` (through ``provider``) as this router gets it; None when it cannot use
        that provider (neither reached directly nor given a next hop for it, or no next
        hop of the route's address family)."""
        own = self.next_hops.get(provider)
        if own is not None:
            version = ipaddress.ip_network(route.prefix).version
            same = [h for h in own if ipaddress.ip_address(h).version == version]
            if not same:
                return None
            route = replace(route, next_hop=same[0])
        elif self.providers and provider not in self.providers:
            return None
        if self.route_reflector and NO_ADVERTISE & set(route.communities):
            route = replace(
                route, communities=tuple(c for c in route.communities if c not in NO_ADVERTISE)
            )
        return route


def plans(
    routers: Sequence[tuple[str, Sequence[str], Mapping[str, Sequence[str]], bool]],
) -> list[RouterPlan]:
    """``(name, providers, next_hops, route_reflector)`` per router, as configured."""
    return [
        RouterPlan(
            name,
            frozenset(providers),
            {p: tuple(hops) for p, hops in next_hops.items()},
            reflector,
        )
        for name, providers, next_hops, reflector in routers
    ]
