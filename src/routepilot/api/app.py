"""The REST API (``/api/v1``), ``/metrics`` and the dashboard's files, over a ControllerView.

Endpoints are ``async``: they run on the event loop that serves them, which in
the daemon is the loop the controller runs on, so the view is read without
locks between two awaits. View methods must therefore be quick (in-memory
state, indexed SQLite reads).

Every error is a JSON object ``{"error": "..."}`` with a 4xx status; the
OpenAPI spec declares them (and not FastAPI's default 422, which is answered
as 400 here).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor
from starlette.staticfiles import StaticFiles

from routepilot import __version__
from routepilot.api import models as m
from routepilot.api.access_routes import add_access_routes
from routepilot.api.accounts import Accounts, Role
from routepilot.api.audit import AuditMiddleware, redact
from routepilot.api.auth import SAFE_METHODS, caller_name, declares_access, requires
from routepilot.api.config import ApiConfig
from routepilot.api.errors import (
    allowed,
    drop_422,
    error,
    install_errors,
    not_allowed,
    strict_query,
)
from routepilot.api.exchanges import exchanges
from routepilot.api.limits import LimitMetrics, RequestLimits
from routepilot.api.metrics import ApiMetrics, ViewMetrics
from routepilot.api.ondemand_routes import Measurer, add_ondemand_routes
from routepilot.api.params import (
    TIME_HELP,
    check_points,
    check_window,
    parse_name,
    parse_prefix,
    parse_time,
)
from routepilot.api.view import ActionError, ControllerView, SeriesQuery
from routepilot.explain import summary, with_interval
from routepilot.log import get_logger
from routepilot.metrics import Registry, render
from routepilot.store.memory import MemoryStore

log = get_logger(__name__)

PREFIX = "/api/v1"
DEFAULT_STATIC = Path(__file__).resolve().parent.parent / "web" / "static"

TIME_PATTERN = r"^(\d+(\.\d+)?[smhdw]?|\d{4}-\d\d-\d\d[T ]?[0-9:.+Z-]*)$"
PREFIX_PATTERN = r"^[0-9A-Fa-f:.]{2,45}([/_][0-9]{1,3})?$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Since = Annotated[
    str | None, Query(max_length=40, pattern=TIME_PATTERN, description="Start. " + TIME_HELP)
]
Until = Annotated[
    str | None, Query(max_length=40, pattern=TIME_PATTERN, description="End. " + TIME_HELP)
]
Step = Annotated[float, Query(ge=1, le=86400, description="Seconds per point.")]
PrefixQ = Annotated[
    str | None,
    Query(max_length=64, pattern=PREFIX_PATTERN, description="A prefix, e.g. 198.18.3.0/24."),
]
ProviderQ = Annotated[
    str | None, Query(max_length=64, pattern=NAME_PATTERN, description="A provider's name.")
]
PrefixPath = Annotated[
    str,
    PathParam(
        pattern=PREFIX_PATTERN, description="198.18.3.0/24 (the slash as is) or 198.18.3.0_24."
    ),
]


class _PrefixConvertor(Convertor[str]):
    """A prefix in a path: one segment, or two when the second is a length (198.18.3.0/24).

    Wider than valid prefixes on purpose, so a typo gets a 400 saying what a
    prefix looks like rather than a 404; narrow enough that
    ``/prefixes/198.18.3.0/24/pin`` is never read as a prefix.
    """

    regex = r"[^/]+(?:/[0-9]{1,3})?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ipprefix", _PrefixConvertor())

_ERR = {"model": m.ErrorBody}
READ_ERRORS: dict[int | str, dict[str, Any]] = {400: _ERR, 401: _ERR}
ONE_ERRORS: dict[int | str, dict[str, Any]] = {**READ_ERRORS, 404: _ERR}
_JSON_ERR = {
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
}
METRICS_ERRORS: dict[int | str, dict[str, Any]] = {400: _JSON_ERR, 401: _JSON_ERR}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {**ONE_ERRORS, 403: _ERR, 409: _ERR}


class _Timed:
    """ASGI middleware: each request's latency by method, route and status code. Plain
    ASGI, not ``@app.middleware("http")``, whose request runs in a task of its own fed
    through memory streams: turns of the event loop, each up to a slice of a table
    arriving (#18)."""

    def __init__(self, app: Any, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        code = 0

        async def sent(message: dict) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        await self.app(scope, receive, sent)
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        self.metrics.observe(scope["method"], route, code, time.perf_counter() - start)


def create_app(
    view: ControllerView,
    config: ApiConfig,
    registry: Registry | None = None,
    *,
    static_dir: Path | None = None,
    accounts: Accounts | None = None,
    measurer: Measurer | None = None,
) -> FastAPI:
    """The API over ``view``; ``/metrics`` renders ``registry`` (the daemon's stages are
    registered in it by the wiring), to which the API adds its own families and the
    gauges derived from the view. Without one, the API has a registry of its own.

    ``static_dir`` (default ``src/routepilot/web/static``) is served at ``/`` when it exists.
    ``accounts``: the users, tokens and audit log (in the daemon, over its store); without
    one, an in-memory store of its own (no users until added through the API).
    ``measurer``: on-demand probes and traceroutes (probe/ondemand.py, in the daemon);
    without one, those endpoints answer 409.
    """
    app = FastAPI(
        title="routepilot",
        version=__version__,
        description=(
            "Route control for multihomed networks. Callers have a role: viewer (reads), "
            "operator (pins, exclusions, pause, dry-run, on-demand probes) or admin (users, "
            "configuration); a user's token or a dashboard login carries the user's role, "
            "api.write_token is an admin and api.read_token a viewer. Reads are open unless a "
            "read token is configured or anonymous reads are turned off. Every write is in the "
            "audit log. "
            'Errors are `{"error": "..."}`.'
        ),
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        dependencies=[Depends(strict_query)],
    )
    install_errors(app)
    registry = Registry() if registry is None else registry
    api_metrics = ApiMetrics()
    registry.register(api_metrics)
    registry.register(ViewMetrics(view))
    limit_metrics = LimitMetrics()
    registry.register(limit_metrics)
    app.add_middleware(
        RequestLimits,
        max_body_bytes=config.max_body_bytes,
        max_in_flight=config.max_requests_in_flight,
        metrics=limit_metrics,
    )

    app.add_middleware(_Timed, metrics=api_metrics)

    if accounts is None:
        accounts = Accounts(MemoryStore(), session_ttl_s=config.session_ttl_s)
    app.state.api_config = config
    app.state.accounts = accounts
    # Outermost: a write refused by any layer below is recorded too.
    known = accounts
    app.add_middleware(
        AuditMiddleware,
        append=known.store.append_audit,
        identify=lambda scope: caller_name(config, known, scope),
    )

    # The role each route needs, declared once per route (api/auth.py); on a standby
    # every write is refused, naming the active (run/ha.py).
    def not_standby() -> None:
        refuse_on_standby(view)

    reader = requires(Role.VIEWER)
    writer = [*requires(Role.OPERATOR), Depends(not_standby)]
    admin = [*requires(Role.ADMIN), Depends(not_standby)]  # configuration: reload, PUT config

    def now() -> float:
        return float(view.status()["now"])

    def provider_filter(name: str | None) -> str | None:
        if name is None:
            return None
        parse_name(name, "provider")
        known = [p["name"] for p in view.providers()]
        if name not in known:
            known_text = ", ".join(known) or "none"
            raise ActionError(f"unknown provider {name!r} (known: {known_text})", 404)
        return name

    def series(
        since: str | None, until: str | None, prefix: str | None, provider: str | None, step: float
    ) -> SeriesQuery:
        t = now()
        end = parse_time(until, t, "until")
        end = t if end is None else end
        start = parse_time(since, t, "since")
        start = end - 3600 if start is None else start
        check_window(start, end)
        check_points(start, end, step)
        return SeriesQuery(
            since=start,
            until=end,
            prefix=None if prefix is None else parse_prefix(prefix),
            provider=provider_filter(provider),
            step_s=step,
        )

    # FastAPI takes a list of str or Enum; list is invariant, so the type is spelled out.
    Tags: list[str | Enum] = ["reads"]

    @app.get(f"{PREFIX}/status", response_model=m.Status, dependencies=reader,
             responses=READ_ERRORS, tags=Tags)  # fmt: skip
    async def get_status() -> Any:
        """The controller: mode, decision cycles, BGP sessions, degradation, counts."""
        return view.status()

    @app.get(f"{PREFIX}/providers", response_model=list[m.Provider], dependencies=reader,
             responses=READ_ERRORS, tags=Tags)  # fmt: skip
    async def get_providers() -> Any:
        """Every provider: session, health, RTT/loss, utilization, commit and 95th percentile."""
        return view.providers()

    @app.get(f"{PREFIX}/exchanges", response_model=list[m.Exchange], dependencies=reader,
             responses=READ_ERRORS, tags=Tags)  # fmt: skip
    async def get_exchanges() -> Any:
        """Every exchange (IX) LAN: its peers' sessions, health and traffic, and their sums."""
        return exchanges(view.providers())

    @app.get(f"{PREFIX}/prefixes", response_model=list[m.PrefixSummary], dependencies=reader,
             responses=READ_ERRORS, tags=Tags)  # fmt: skip
    async def get_prefixes(
        top: Annotated[int, Query(ge=1, le=10000, description="How many, busiest first.")] = 100,
    ) -> Any:
        """The busiest prefixes: traffic, current exit, BGP's default and why."""
        return view.prefixes(top=top)

    @app.get(f"{PREFIX}/decisions", response_model=list[m.Decision], dependencies=reader,
             responses=ONE_ERRORS, tags=Tags)  # fmt: skip
    async def get_decisions(
        since: Since = None,
        until: Until = None,
        prefix: PrefixQ = None,
        provider: Annotated[
            str | None, Query(max_length=64, pattern=NAME_PATTERN, description="From or to.")
        ] = None,
        reason: Annotated[
            str | None, Query(pattern=r"^[a-z_]{1,32}$", description="A reason code.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=10000, description="At most this many.")] = 200,
    ) -> Any:
        """The decisions journal, newest first, filtered."""
        t = now() if since or until else 0.0
        start, end = parse_time(since, t, "since"), parse_time(until, t, "until")
        check_window(start, end)
        rows = view.decisions(
            since=start,
            until=end,
            prefix=None if prefix is None else parse_prefix(prefix),
            provider=provider_filter(provider),
            reason=reason,
            limit=limit,
        )
        return [{**d, "summary": summary(d)} for d in rows]

    @app.get(f"{PREFIX}/measurements", response_model=list[m.MeasurementPoint],
             dependencies=reader, responses=ONE_ERRORS, tags=Tags)  # fmt: skip
    async def get_measurements(
        since: Since = None,
        until: Until = None,
        prefix: PrefixQ = None,
        provider: ProviderQ = None,
        step: Step = 60.0,
    ) -> Any:
        """Probe rollups over time (default: the last hour, one point a minute)."""
        return view.measurements(series(since, until, prefix, provider, step))

    @app.get(f"{PREFIX}/utilization", response_model=list[m.UtilizationPoint],
             dependencies=reader, responses=ONE_ERRORS, tags=Tags)  # fmt: skip
    async def get_utilization(
        since: Since = None,
        until: Until = None,
        provider: ProviderQ = None,
        step: Step = 60.0,
    ) -> Any:
        """Link rates against capacity and commit over time."""
        return view.utilization(series(since, until, None, provider, step))

    @app.get(f"{PREFIX}/billing", response_model=m.BillingView, dependencies=reader,
             responses=READ_ERRORS, tags=Tags)  # fmt: skip
    async def get_billing(
        series: Annotated[
            bool, Query(description="Include every sample of the period (the 5-minute series).")
        ] = False,
    ) -> Any:
        """Per provider and billing group: mode, period, samples so far, current and projected
        95th percentile (with and without routepilot), commit, burst allowance left, cost."""
        return view.billing(series=series)

    @app.get(f"{PREFIX}/config", response_model=m.ConfigBody, dependencies=reader,
             responses=READ_ERRORS, tags=Tags)  # fmt: skip
    async def get_config() -> Any:
        """The effective configuration; tokens and secrets read ``***``."""
        return redact(view.config())

    Actions: list[str | Enum] = ["actions"]

    @app.post(f"{PREFIX}/prefixes/{{prefix:ipprefix}}/pin", response_model=m.PrefixSummary,
              dependencies=writer, responses=WRITE_ERRORS, tags=Actions)  # fmt: skip
    async def pin(prefix: PrefixPath, body: m.PinRequest) -> Any:
        """Route the prefix through this provider until unpinned (never without a route)."""
        return view.pin(parse_prefix(prefix), parse_name(body.provider, "provider"))

    @app.delete(f"{PREFIX}/prefixes/{{prefix:ipprefix}}/pin", response_model=m.PrefixSummary,
                dependencies=writer, responses=WRITE_ERRORS, tags=Actions)  # fmt: skip
    async def unpin(prefix: PrefixPath) -> Any:
        """Give the prefix back to the policy."""
        return view.unpin(parse_prefix(prefix))

    @app.post(f"{PREFIX}/prefixes/{{prefix:ipprefix}}/exclude", response_model=m.PrefixSummary,
              dependencies=writer, responses=WRITE_ERRORS, tags=Actions)  # fmt: skip
    async def exclude(prefix: PrefixPath) -> Any:
        """Leave the prefix to BGP until included again."""
        return view.exclude(parse_prefix(prefix))

    @app.delete(f"{PREFIX}/prefixes/{{prefix:ipprefix}}/exclude", response_model=m.PrefixSummary,
                dependencies=writer, responses=WRITE_ERRORS, tags=Actions)  # fmt: skip
    async def include(prefix: PrefixPath) -> Any:
        """Let the policy control the prefix again."""
        return view.include(parse_prefix(prefix))

    @app.get(f"{PREFIX}/prefixes/{{prefix:ipprefix}}", response_model=m.PrefixDetail,
             dependencies=reader, responses=ONE_ERRORS, tags=Tags)  # fmt: skip
    async def get_prefix(prefix: PrefixPath) -> Any:
        """One prefix: per-provider measurements and the last decision, with its numbers."""
        p = view.prefix(parse_prefix(prefix))
        e = p.get("explanation")
        if e:
            # The current decision, said with the loss intervals and jitter measured now;
            # the jitter figures go out with it, as the journal keeps them.
            measured = with_interval(e, p.get("measurements") or [])
            p = {**p, "explanation": {**measured, "summary": summary(measured)}}
        return p

    @app.get(f"{PREFIX}/routers", response_model=list[m.Router], dependencies=reader,
             responses=READ_ERRORS, tags=Tags)  # fmt: skip
    async def get_routers() -> Any:
        """Every router: session, paths learned per provider, routes announced to it."""
        return view.routers()

    @app.get(f"{PREFIX}/routes/{{prefix:ipprefix}}", response_model=m.RouteLookup,
             dependencies=reader, responses=ONE_ERRORS, tags=Tags)  # fmt: skip
    async def get_routes(prefix: PrefixPath) -> Any:
        """Looking glass: every router's and provider's path for the longest learned prefix
        covering a prefix or an address, the one BGP picks, and routepilot's injection."""
        return view.routes(parse_prefix(prefix))

    @app.post(f"{PREFIX}/control/pause", response_model=m.Status, dependencies=writer,
              responses=WRITE_ERRORS, tags=Actions)  # fmt: skip
    async def pause() -> Any:
        """Stop making changes; announced routes stay."""
        return view.pause()

    @app.post(f"{PREFIX}/control/resume", response_model=m.Status, dependencies=writer,
              responses=WRITE_ERRORS, tags=Actions)  # fmt: skip
    async def resume() -> Any:
        """Make changes again."""
        return view.resume()

    @app.put(f"{PREFIX}/control/dry-run", response_model=m.Status, dependencies=writer,
             responses=WRITE_ERRORS, tags=Actions)  # fmt: skip
    async def dry_run(body: m.DryRunRequest) -> Any:
        """Recommendation mode on (withdraws every injected route) or off."""
        return view.set_dry_run(body.enabled)

    @app.get(f"{PREFIX}/maintenance", response_model=list[m.MaintenanceWindow],
             dependencies=reader, responses=READ_ERRORS, tags=Tags)  # fmt: skip
    async def get_maintenance() -> Any:
        """Maintenance windows in force, to come, and ended within a day."""
        return view.maintenance()

    @app.post(f"{PREFIX}/maintenance", response_model=m.MaintenanceWindow, dependencies=writer,
              responses=WRITE_ERRORS, tags=Actions)  # fmt: skip
    async def start_maintenance(body: m.MaintenanceRequest) -> Any:
        """Start a maintenance window now: nothing lands on the provider, improvements on it
        are withdrawn, and with ``drain`` its default traffic moves to the others."""
        return await view.maintenance_start(
            parse_name(body.provider, "provider"),
            duration_s=body.duration_s,
            until=body.until,
            drain=body.drain,
            reason=body.reason,
        )

    @app.delete(f"{PREFIX}/maintenance/{{window_id}}", response_model=m.MaintenanceWindow,
                dependencies=writer, responses=WRITE_ERRORS, tags=Actions)  # fmt: skip
    async def end_maintenance(
        window_id: Annotated[int, PathParam(ge=1, le=2**62, description="The window's id.")],
    ) -> Any:
        """End a window started through the API or the CLI now (drained traffic returns)."""
        return await view.maintenance_end(window_id)

    @app.get(f"{PREFIX}/events", response_model=list[m.ControlEvent], dependencies=reader,
             responses=ONE_ERRORS, tags=Tags)  # fmt: skip
    async def get_events(
        since: Since = None,
        until: Until = None,
        limit: Annotated[int, Query(ge=1, le=10000, description="At most this many.")] = 200,
    ) -> Any:
        """The control journal, newest first: maintenance windows, configuration reloads."""
        t = now() if since or until else 0.0
        start, end = parse_time(since, t, "since"), parse_time(until, t, "until")
        check_window(start, end)
        return view.events(since=start, until=end, limit=limit)

    @app.get(f"{PREFIX}/incidents", response_model=list[m.Incident], dependencies=reader,
             responses=ONE_ERRORS, tags=Tags)  # fmt: skip
    async def get_incidents(
        state: Annotated[
            Literal["open", "all"], Query(description="open: only the open incidents.")
        ] = "all",
        limit: Annotated[int, Query(ge=1, le=10000, description="At most this many.")] = 200,
    ) -> Any:
        """Incidents: where the trouble is (an AS, a provider or one prefix), the prefixes
        affected, the evidence (paths, traceroute hops with their ASNs, loss, RTT), opened
        and closed; open ones first, newest first."""
        return view.incidents(state=state, limit=limit)

    @app.get(f"{PREFIX}/traces", response_model=list[m.PathTrace], dependencies=reader,
             responses=ONE_ERRORS, tags=Tags)  # fmt: skip
    async def get_traces(
        prefix: Annotated[str, Query(description="A prefix routepilot tracks.", max_length=64)],
        provider: Annotated[
            str | None, Query(description="Only through this provider.", max_length=64)
        ] = None,
    ) -> Any:
        """The prefix's traceroutes through each provider as diagnose/ ran and kept them
        (the newest few per provider, stored: a restart serves them again), newest first:
        every hop with its address, the AS it maps to by the learned routes, its RTT and
        loss, and when the trace ran."""
        return view.traces(prefix, provider)

    @app.post(f"{PREFIX}/control/reload", response_model=m.ReloadResult, dependencies=admin,
              responses=WRITE_ERRORS, tags=Actions)  # fmt: skip
    async def reload() -> Any:
        """Re-read the configuration file and apply it from the next round; refused whole
        (400 invalid, 409 needs a restart) and nothing changes."""
        return await view.reload()

    @app.put(f"{PREFIX}/config", response_model=m.ReloadResult, dependencies=admin,
             responses=WRITE_ERRORS, tags=Actions)  # fmt: skip
    async def put_config(body: dict[str, Any]) -> Any:
        """Apply a whole configuration (as ``GET /config`` shows it, with the real tokens)
        like a reload; it is not written to the file."""
        return await view.put_config(body)

    @app.get(f"{PREFIX}/ha", response_model=m.HaStatus, dependencies=reader,
             responses=READ_ERRORS, tags=Tags)  # fmt: skip
    async def get_ha() -> Any:
        """Leadership: this instance's role (active or standby), the lease, the other nodes."""
        return view.ha()

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=reader,
             responses=METRICS_ERRORS, tags=["metrics"])  # fmt: skip
    async def get_metrics(request: Request) -> PlainTextResponse:
        """Prometheus text exposition: the controller's counters and gauges, and the API's."""
        # Every stage's families, the view's gauges and the API's own, from one registry;
        # OpenMetrics when the scraper's Accept header asks for it.
        body, content_type = render(registry, request.headers.get("accept"))
        return PlainTextResponse(body, media_type=content_type)

    add_access_routes(app, accounts, config, {"read": ONE_ERRORS, "write": WRITE_ERRORS})
    add_ondemand_routes(app, measurer, writer, WRITE_ERRORS)
    _serve_dashboard(app, DEFAULT_STATIC if static_dir is None else static_dir)
    _check_access_declared(app)

    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = drop_422(base_openapi())
        return app.openapi_schema

    # Replacing ``app.openapi`` on the instance is FastAPI's documented way to customise the
    # schema; mypy rejects any assignment to a method, whatever its signature.
    app.openapi = openapi  # type: ignore[method-assign]
    app.state.registry = registry
    return app


def refuse_on_standby(view: ControllerView) -> None:
    """A standby takes no action: the active owns the shared state. The error names it."""
    ha = view.ha()
    if ha.get("role") != "standby":
        return
    active = ha.get("active")
    url = next((p.get("api_url") for p in ha.get("peers", []) if p.get("node") == active), "")
    where = f"the active, {active}" + (f" ({url})" if url else "") if active else "the active"
    raise ActionError(f"this node ({ha.get('node')}) is the standby: send writes to {where}", 409)


def _serve_dashboard(app: FastAPI, directory: Path) -> None:
    """Serves the dashboard's files at ``/`` when they are installed.

    A GET route rather than a mount at ``/``: a mount would swallow the API's
    unknown paths and wrong methods, which must stay JSON 404/405 errors.
    """
    files = StaticFiles(directory=directory, html=True) if directory.is_dir() else None

    async def dashboard(request: Request) -> Any:
        path = request.path_params.get("path", "")
        if path == "api" or path.startswith("api/"):
            if allowed(request):
                return not_allowed(request)
            return error(404, f"no such endpoint: {request.method} {request.url.path}")
        if files is None:
            return error(404, "no dashboard installed here; the API is under /api/v1")
        return await files.get_response(os.path.normpath(path or "."), request.scope)

    app.add_api_route("/{path:path}", dashboard, methods=["GET", "HEAD"], include_in_schema=False)


def _check_access_declared(app: FastAPI) -> None:
    """Every API route says who may call it: a write route without a role is a bug caught
    when the app is built, not a door left open."""
    for route in app.routes:
        if not isinstance(route, APIRoute) or declares_access(route):
            continue
        if set(route.methods or ()) - SAFE_METHODS:
            raise RuntimeError(
                f"route {route.path} ({route.name}) declares no role: add "
                "dependencies=requires(Role....) (api/auth.py)"
            )
