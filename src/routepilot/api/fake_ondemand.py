"""On-demand measurements over :class:`~routepilot.api.fake.FakeView`, for the surfaces'
tests and ``routepilot api fake``: the real checks (probe/ondemand.py's scope, rates and
provider rules) with made-up packets instead of sockets.

A probe through a provider answers with the RTT FakeView shows for the prefix (a little
spread, no loss); a traceroute crosses the edge (100.64.0.1), the provider's router
(100.64.K.2, in the provider's AS) and reaches the address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

from routepilot.api.fake import FakeView
from routepilot.api.view import ActionError
from routepilot.config.probe import ProbeConfig
from routepilot.probe.ondemand import OnDemand
from routepilot.probe.oneshot import Hop, PathResult
from routepilot.probe.sockets import Steering

EDGE = "100.64.0.1"


def fake_measurer(
    view: FakeView, settings: Callable[[], ProbeConfig] | None = None, **kw: object
) -> OnDemand:
    """The real :class:`OnDemand` over ``view``'s prefixes and providers (probing enabled,
    the default on-demand settings unless ``settings`` says otherwise)."""
    names = [p["name"] for p in view.providers()]
    asns = {p["name"]: p["asn"] for p in view.providers()}
    routers = {f"100.64.{k + 1}.2": asns[n] for k, n in enumerate(names)}
    config = ProbeConfig(enabled=True)

    def route_of(host: str) -> tuple[str, tuple[str, ...]] | None:
        try:
            r = view.routes(host)
        except ActionError:
            return None
        routed = {p["provider"] for p in r["paths"] if p["provider"] and not p["own"]}
        return r["prefix"], tuple(n for n in names if n in routed)

    def asn_of(address: str) -> int | None:
        if address in routers:
            return routers[address]
        route = route_of(f"{address}/{ipaddress.ip_address(address).max_prefixlen}")
        return 64500 if route else None

    def rtt_of(address: str, provider: str) -> float:
        route = route_of(f"{address}/{ipaddress.ip_address(address).max_prefixlen}")
        if route is None:
            return 5.0
        p = view.prefix(route[0])
        return next(float(m["rtt_ms"]) for m in p["measurements"] if m["provider"] == provider)

    async def measure(
        targets: list[str],
        providers: Sequence[tuple[str, Steering]],
        kind: str,
        count: int,
        interval_s: float,
        timeout_s: float,
        options: object = None,
    ) -> list[PathResult]:
        out = []
        for t in targets:
            for name, _ in providers:
                base = rtt_of(t, name)
                r = PathResult(t, name, kind, sent=count)
                r.rtts_ms = [round(base + 0.1 * (i % 5), 3) for i in range(count)]
                r.responders = {t}
                out.append(r)
        return out

    async def trace(
        target: str,
        provider: tuple[str, Steering],
        kind: str,
        max_hops: int,
        per_hop: int,
        timeout_s: float,
        options: object = None,
    ) -> list[Hop]:
        name = provider[0]
        router = f"100.64.{names.index(name) + 1}.2"
        rtt = rtt_of(target, name)
        path = [(EDGE, 0.2, False), (router, rtt / 2, False), (target, rtt, True)]
        return [
            Hop(ttl, who, [round(ms, 3)] * per_hop, reached)
            for ttl, (who, ms, reached) in enumerate(path[:max_hops], start=1)
        ]

    return OnDemand(
        settings or (lambda: config),
        lambda: [(n, Steering()) for n in names],
        route_of,
        asn_of,
        measure_fn=measure,
        trace_fn=trace,
        **kw,  # type: ignore[arg-type]
    )
