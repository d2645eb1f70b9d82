"""On-demand measurements: ``POST /api/v1/probe`` and ``POST /api/v1/traceroute``.

An operator's check of a decision by hand. The measuring is the controller's
(probe/ondemand.py, handed in by the wiring): the same steering per provider as the
daemon's probes, its own sockets, the results to the caller only. These handlers are
``async`` and await the measurement on the event loop without blocking it; the
measurer bounds how many run at once and how often each caller may ask.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any, Protocol

from fastapi import FastAPI, Request

from routepilot.api import ondemand_models as om
from routepilot.api.auth import PRINCIPAL_KEY
from routepilot.api.view import ActionError

PREFIX = "/api/v1"


class Measurer(Protocol):
    """What the endpoints ask of the controller (probe/ondemand.py's ``OnDemand``).

    Refusals are ``ActionError`` with the status to answer (400 bad input, 403 outside the
    allowed ranges, 404 unknown provider, 409 no route or probing off, 429 over the rate,
    with ``retry_after_s``)."""

    async def probe(
        self,
        caller: str,
        address: object,
        providers: Sequence[str] | None = None,
        kind: str = "icmp",
        count: int = 10,
    ) -> dict: ...

    async def traceroute(
        self, caller: str, address: object, provider: str, kind: str = "icmp"
    ) -> dict: ...


def _caller(request: Request) -> str:
    who = request.scope.get(PRINCIPAL_KEY)
    return getattr(who, "name", None) or "anonymous"


def add_ondemand_routes(
    app: FastAPI,
    measurer: Measurer | None,
    dependencies: list[Any],
    responses: dict[int | str, dict[str, Any]],
) -> None:
    """``dependencies``: the app's writer dependencies (operator role, not on a standby)."""
    tags: list[str | Enum] = ["measurements"]
    limited = {**responses, 429: responses[400]}

    def need() -> Measurer:
        if measurer is None:
            raise ActionError(
                "on-demand measurements are not available here: this API serves no prober "
                "(probe.enabled is false, or a fake controller)",
                409,
            )
        return measurer

    @app.post(f"{PREFIX}/probe", response_model=om.ProbeResult, dependencies=dependencies,
              responses=limited, tags=tags)  # fmt: skip
    async def probe_now(request: Request, body: om.ProbeRequest) -> Any:
        """Probe an address now through every provider with a route (or those given), with
        the steering of routepilot's own probes: sent, answered, loss, RTT min/median/p90/max,
        jitter, who answered. Only inside the prefixes learned from the routers (or
        ``probe.on_demand.allowed``): 403 outside them. Rate-limited per caller and overall
        (429 with Retry-After). The numbers go to the caller only, never into decisions."""
        return await need().probe(
            _caller(request), body.address, body.providers, body.kind, body.count
        )

    @app.post(f"{PREFIX}/traceroute", response_model=om.TraceResult, dependencies=dependencies,
              responses=limited, tags=tags)  # fmt: skip
    async def traceroute_now(request: Request, body: om.TraceRequest) -> Any:
        """Traceroute an address now through one provider: each hop's responder, RTTs and
        its AS by the learned RIB's longest match, and whether the address was reached.
        Same ranges and rate limits as ``POST /probe``."""
        return await need().traceroute(_caller(request), body.address, body.provider, body.kind)
