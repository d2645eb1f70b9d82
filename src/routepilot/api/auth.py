"""Who is asking, and whether their role allows it.

Every route declares the role it needs, once, with ``dependencies=requires(Role.X)``:
reads need ``viewer``, the operator's actions ``operator``, users and configuration
``admin``. The app refuses to start with a write route that declares none, so a
route added later cannot forget it.

Who is asking comes from, in order: a bearer token (``api.write_token`` is an
admin, ``api.read_token`` a viewer, a user's own token carries the user's role),
or the dashboard's session cookie (then a write must also carry the session's
CSRF token in ``X-CSRF-Token``). Nobody identified may read when the config
allows anonymous reads, and nothing else. Tokens are compared in constant time
(the configured ones) or through their argon2 hash (the users').
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from routepilot.api.accounts import Accounts, Role
from routepilot.api.config import ApiConfig

SESSION_COOKIE = "routepilot_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PRINCIPAL_KEY = "routepilot.principal"
"""Where the identified caller is left in the request's scope (for the audit log)."""

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class AuthError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Principal:
    """Who made a request: ``name`` None for nobody identified (an anonymous read)."""

    name: str | None
    role: Role
    via: str
    """``token`` (a user's), ``session``, ``write_token``, ``read_token`` or ``anonymous``."""
    csrf: str | None = None


WRITE_TOKEN_USER = "api.write_token"
READ_TOKEN_USER = "api.read_token"


def _same(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def identify(
    config: ApiConfig, accounts: Accounts, token: str | None, cookie: str | None
) -> Principal | None:
    """The caller behind a bearer token or a session cookie; None when neither names one.

    Raises AuthError 401 for a token that is nobody's."""
    if token is not None:
        if _same(token, config.write_token):
            return Principal(WRITE_TOKEN_USER, Role.ADMIN, "write_token")
        if _same(token, config.read_token):
            return Principal(READ_TOKEN_USER, Role.VIEWER, "read_token")
        user = accounts.user_for_token(token)
        if user is None:
            raise AuthError("invalid token", 401)
        return Principal(user.name, Role.parse(user.role), "token")
    if cookie:
        found = accounts.session(cookie)
        if found is not None:
            session, user = found
            return Principal(user.name, Role.parse(user.role), "session", session.csrf)
    return None


def caller_name(config: ApiConfig, accounts: Accounts, scope: Any) -> str | None:
    """Who a request's credentials name (no role check), for the audit log; None: nobody."""
    request = Request(scope)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    try:
        who = identify(config, accounts, bearer, request.cookies.get(SESSION_COOKIE))
    except AuthError:
        return None
    return None if who is None else who.name


def answered_without_accounts(
    config: ApiConfig, needed: Role, token: str | None, cookie: str | None
) -> bool:
    """Whether :func:`authorize` decides on the configuration alone, reading no user, token
    or session from the store: a configured token, or an open read without credentials."""
    if token is not None:
        return _same(token, config.write_token) or _same(token, config.read_token)
    anonymous_ok = needed == Role.VIEWER and config.anonymous_reads and config.read_token is None
    return not cookie and anonymous_ok


def authorize(
    config: ApiConfig,
    accounts: Accounts,
    needed: Role,
    action: str,
    method: str,
    token: str | None,
    cookie: str | None,
    csrf: str | None,
) -> Principal:
    """The caller, when allowed to do ``action``; AuthError 401/403 saying why not."""
    anonymous_ok = needed == Role.VIEWER and config.anonymous_reads and config.read_token is None
    try:
        who = identify(config, accounts, token, cookie)
    except AuthError:
        if anonymous_ok:  # open reads: a stale token does not lock the dashboard out
            return Principal(None, Role.VIEWER, "anonymous")
        if config.write_token is None and not accounts.users():
            raise _disabled() from None
        raise
    if who is None:
        if anonymous_ok:
            return Principal(None, Role.VIEWER, "anonymous")
        if needed > Role.VIEWER and config.write_token is None and not accounts.users():
            raise _disabled()
        if needed == Role.VIEWER:
            raise AuthError(
                "this API needs a token: send Authorization: Bearer <token>, "
                "or log in to the dashboard",
                401,
            )
        raise AuthError(
            f"{action} needs the {needed.label} role: send Authorization: Bearer <token>, "
            "or log in to the dashboard",
            401,
        )
    forged = not csrf or who.csrf is None or not hmac.compare_digest(csrf, who.csrf)
    if who.via == "session" and method not in SAFE_METHODS and forged:
        raise AuthError(
            f"this change came without the session's {CSRF_HEADER} header: "
            "reload the dashboard and try again",
            403,
        )
    if who.role < needed:
        if who.via == "read_token":
            raise AuthError("the read-only token cannot change anything: use the write token", 403)
        raise AuthError(
            f"{who.name} has the {who.role.label} role; {action} needs the {needed.label} "
            "role (an admin can change it: routepilot users add/remove)",
            403,
        )
    return who


def _disabled() -> AuthError:
    return AuthError(
        "actions are disabled: no api.write_token is configured on the controller and no "
        "user exists (create one on its host: routepilot users add NAME --role admin "
        "--config FILE)",
        403,
    )


def requires(role: Role) -> list[Any]:
    """The dependency a route declares for the role it needs: ``dependencies=requires(...)``.

    It leaves the caller in the request's scope, where the audit log and the route
    (``request.scope[PRINCIPAL_KEY]``) find it."""

    async def dependency(request: Request, creds: Credentials) -> Principal:
        state = request.app.state
        route = request.scope.get("route")
        action = getattr(route, "name", None) or request.url.path
        config = state.api_config
        token = None if creds is None else creds.credentials
        cookie = request.cookies.get(SESSION_COOKIE)
        args = (config, state.accounts, role, action, request.method, token, cookie,
                request.headers.get(CSRF_HEADER))  # fmt: skip
        if answered_without_accounts(config, role, token, cookie):
            # On the event loop: a hop to a worker thread and back costs the request two
            # turns of the loop, each up to a slice of a table arriving (#18).
            who = authorize(*args)
        else:
            # Users, tokens and sessions are in the store: looked up on a worker thread,
            # never waited for on the event loop.
            who = await run_in_threadpool(authorize, *args)
        request.scope[PRINCIPAL_KEY] = who
        return who

    # Read back by the app's check that every write route declares a role.
    dependency.required_role = role  # type: ignore[attr-defined]
    return [Depends(dependency)]


def declared_role(route: Any) -> Role | None:
    """The role a route declared through :func:`requires`, if any."""
    for dep in getattr(route, "dependencies", None) or ():
        role = getattr(getattr(dep, "dependency", None), "required_role", None)
        if role is not None:
            return Role(role)
    return None


def public() -> list[Any]:
    """For the few writes anyone may attempt (logging in, logging out): declared, so that
    the app's check knows it is deliberate. Still audited."""

    def open_to_all() -> None:
        return None

    open_to_all.public = True  # type: ignore[attr-defined]
    return [Depends(open_to_all)]


def declares_access(route: Any) -> bool:
    """Whether a route declared who may call it (:func:`requires` or :func:`public`)."""
    for dep in getattr(route, "dependencies", None) or ():
        fn = getattr(dep, "dependency", None)
        if getattr(fn, "required_role", None) is not None or getattr(fn, "public", False):
            return True
    return False
