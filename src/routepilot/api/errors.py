"""How the API says no: one JSON shape, ``{"error": "..."}``, for every 4xx and 500.

FastAPI's own answers (422 for validation, plain-text 404/405) are replaced
here, and the OpenAPI spec is made to say so.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from routepilot.api.auth import AuthError
from routepilot.api.params import TIME_HELP, BadInput
from routepilot.api.view import ActionError
from routepilot.log import get_logger

log = get_logger(__name__)


async def strict_query(request: Request) -> None:
    """Refuses query parameters an endpoint does not take: a typo must not be ignored.
    Async, so that it runs on the event loop and not on a worker thread and back."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or getattr(route, "name", "") == "dashboard":
        return  # static files may carry cache-busting queries (app.js?v=3)
    taken = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        taken |= {p.alias for p in sub.query_params}
    unknown = sorted(set(request.query_params) - taken)
    if unknown:
        takes = ", ".join(sorted(taken)) or "none"
        raise BadInput(
            f"unknown query parameter {unknown[0][:40]!r} (this endpoint takes: {takes})"
        )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def allowed(request: Request) -> list[str]:
    """Methods some API route takes on this path (the dashboard's catch-all excluded)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if getattr(route, "name", "") == "dashboard" or not hasattr(route, "methods"):
            continue
        if route.matches(request.scope)[0] != Match.NONE:
            methods |= set(route.methods or ())
    return sorted(methods)


def not_allowed(request: Request) -> JSONResponse:
    methods = allowed(request)
    message = f"method {request.method} not allowed on {request.url.path}"
    if methods:
        message += f" (allowed: {', '.join(methods)})"
    return error(405, message, {"Allow": ", ".join(methods)})


_HINTS = {
    "prefix": "expected an IPv4 or IPv6 prefix such as 198.18.3.0/24 (or 198.18.3.0_24 in a URL)",
    "since": TIME_HELP,
    "until": TIME_HELP,
    "provider": "expected a provider name (letters, digits, '.', '_' or '-')",
    "reason": "expected a reason code such as latency, jitter, loss, outage, capacity, revert",
}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = [str(x) for x in err.get("loc", ())]
        where = loc[0] if loc else "request"
        name = ".".join(loc[1:])
        if err.get("type") == "json_invalid":
            parts.append("request body: invalid JSON")
            continue
        label = {"query": "query parameter", "path": "path", "body": "body field"}.get(where, where)
        msg = err.get("msg", "invalid")
        if err.get("type") == "string_pattern_mismatch" and name in _HINTS:
            parts.append(f"bad {name} {str(err.get('input'))[:64]!r}: {_HINTS[name]}")
            continue
        parts.append(f"{label} {name!r}: {msg}" if name else f"request {where}: {msg}")
    return "; ".join(str(p) for p in parts) or "invalid request"


def install_errors(app: FastAPI) -> None:
    @app.exception_handler(BadInput)
    async def _bad(_: Request, exc: BadInput) -> JSONResponse:
        return error(400, str(exc))

    @app.exception_handler(ActionError)
    async def _action(_: Request, exc: ActionError) -> JSONResponse:
        status = exc.status if 400 <= exc.status < 600 else 400
        # A refusal that names a wait (an on-demand measurement over its rate) says it the
        # standard way too (RFC 9110 section 10.2.3).
        retry = getattr(exc, "retry_after_s", None)
        return error(status, str(exc), None if retry is None else {"Retry-After": str(retry)})

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error(exc.status, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error(400, _validation_message(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            return not_allowed(request)
        else:
            message = str(exc.detail)
        return error(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(ResponseValidationError)
    async def _contract(request: Request, exc: ResponseValidationError) -> JSONResponse:
        log.error("view answer breaks the api contract", path=request.url.path, errors=str(exc))
        return error(500, "the controller's answer does not match the API contract (logged)")

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("api request failed", path=request.url.path, exc_info=exc)
        return error(500, f"internal error: {type(exc).__name__} (logged)")


def drop_422(schema: dict[str, Any]) -> dict[str, Any]:
    """Validation errors are answered 400 with ErrorBody: the spec must not promise 422."""
    for path in schema.get("paths", {}).values():
        for op in path.values():
            op.get("responses", {}).pop("422", None)
    comps = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        comps.pop(name, None)
    return schema
