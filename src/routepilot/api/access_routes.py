"""The endpoints of people: the dashboard's login session, users (admin), the audit log.

Handlers that hash (argon2) or touch the store are plain ``def``: FastAPI runs
them on its worker threads, so the event loop the controller shares never
waits on them.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from fastapi import Path as PathParam

from routepilot.api import access_models as am
from routepilot.api.accounts import Accounts, Role
from routepilot.api.auth import (
    PRINCIPAL_KEY,
    SESSION_COOKIE,
    AuthError,
    Principal,
    public,
    requires,
)
from routepilot.api.config import ApiConfig
from routepilot.api.params import TIME_HELP, check_window, parse_time
from routepilot.store.base import AuditQuery, UserRecord

PREFIX = "/api/v1"
USER_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
Since = Annotated[str | None, Query(max_length=40, description="Start. " + TIME_HELP)]
Until = Annotated[str | None, Query(max_length=40, description="End. " + TIME_HELP)]
UserPath = Annotated[str, PathParam(pattern=USER_NAME, description="A user's name.")]


def _user(u: UserRecord) -> dict[str, Any]:
    return {
        "name": u.name,
        "role": u.role,
        "created": u.created,
        "has_password": u.password_hash is not None,
    }


def add_access_routes(
    app: FastAPI,
    accounts: Accounts,
    config: ApiConfig,
    responses: dict[str, dict[int | str, dict[str, Any]]],
) -> None:
    """``responses``: the error sets of the app (``read``, ``write``) for the spec."""
    tags: list[str | Enum] = ["access"]
    reads, writes = responses["read"], responses["write"]

    @app.get(f"{PREFIX}/session", response_model=am.Session, dependencies=requires(Role.VIEWER),
             responses=reads, tags=tags)  # fmt: skip
    def get_session(request: Request) -> Any:
        """Who this request comes from and what they may do (the dashboard hides the rest)."""
        who: Principal = request.scope[PRINCIPAL_KEY]
        out: dict[str, Any] = {"name": who.name, "role": who.role.label, "via": who.via}
        if who.via == "session":
            found = accounts.session(request.cookies.get(SESSION_COOKIE, ""))
            if found is not None:
                out.update(csrf_token=found[0].csrf, expires=found[0].expires)
        return out

    @app.post(f"{PREFIX}/session", response_model=am.Session, dependencies=public(),
              responses=writes, tags=tags)  # fmt: skip
    def login(request: Request, response: Response, body: am.LoginRequest) -> Any:
        """Log in to the dashboard: sets the session cookie (HttpOnly, SameSite=Strict)."""
        opened = accounts.login(body.name, body.password)
        if opened is None:
            raise AuthError("wrong user name or password", 401)
        session_id, session = opened
        user = accounts.user(session.user)
        role = Role.parse(user.role if user else "viewer")
        request.scope[PRINCIPAL_KEY] = Principal(session.user, role, "session", session.csrf)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(accounts.session_ttl_s),
            path="/",
            httponly=True,
            samesite="strict",
            secure=config.secure_cookie,
        )
        return {
            "name": session.user,
            "role": role.label,
            "via": "session",
            "csrf_token": session.csrf,
            "expires": session.expires,
        }

    @app.delete(f"{PREFIX}/session", status_code=204, dependencies=public(), responses=writes,
                tags=tags)  # fmt: skip
    def logout(request: Request, response: Response) -> None:
        """Log out of the dashboard: ends the session and clears its cookie."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            found = accounts.session(cookie)
            if found is not None:
                role = Role.parse(found[1].role)
                request.scope[PRINCIPAL_KEY] = Principal(found[1].name, role, "session")
            accounts.logout(cookie)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")

    @app.get(f"{PREFIX}/users", response_model=list[am.User], dependencies=requires(Role.ADMIN),
             responses=reads | {403: writes[403]}, tags=tags)  # fmt: skip
    def list_users() -> Any:
        """Every user and their role (never a token or a password)."""
        return [_user(u) for u in accounts.users()]

    @app.post(f"{PREFIX}/users", response_model=am.UserWithToken, status_code=201,
              dependencies=requires(Role.ADMIN), responses=writes, tags=tags)  # fmt: skip
    def add_user(body: am.NewUser) -> Any:
        """Add a user with a role; the answer holds their API token, shown this once."""
        user, token = accounts.add_user(body.name, Role.parse(body.role), body.password)
        return {**_user(user), "token": token}

    @app.delete(f"{PREFIX}/users/{{name}}", status_code=204, dependencies=requires(Role.ADMIN),
                responses=writes, tags=tags)  # fmt: skip
    def remove_user(name: UserPath) -> None:
        """Remove a user: their tokens and sessions stop working at once."""
        accounts.remove_user(name)

    @app.post(f"{PREFIX}/users/{{name}}/token", response_model=am.UserWithToken,
              dependencies=requires(Role.ADMIN), responses=writes, tags=tags)  # fmt: skip
    def rotate_token(name: UserPath) -> Any:
        """Revoke the user's tokens and issue a new one, shown this once."""
        token = accounts.rotate_token(name)
        user = accounts.user(name)
        assert user is not None
        return {**_user(user), "token": token}

    @app.put(f"{PREFIX}/users/{{name}}/password", response_model=am.User,
             dependencies=requires(Role.ADMIN), responses=writes, tags=tags)  # fmt: skip
    def set_password(name: UserPath, body: am.PasswordRequest) -> Any:
        """Set the user's dashboard password (their open sessions end)."""
        return _user(accounts.set_password(name, body.password))

    @app.get(f"{PREFIX}/audit", response_model=list[am.AuditEntry],
             dependencies=requires(Role.OPERATOR), responses=reads | {403: writes[403]},
             tags=tags)  # fmt: skip
    def get_audit(
        user: Annotated[str | None, Query(max_length=64, description="Who.")] = None,
        action: Annotated[
            str | None,
            Query(pattern=r"^[a-z_]{1,40}$", description="An endpoint's name, e.g. pause."),
        ] = None,
        since: Annotated[
            str | None, Query(max_length=40, description="Start. " + TIME_HELP)
        ] = None,
        until: Annotated[str | None, Query(max_length=40, description="End. " + TIME_HELP)] = None,
        limit: Annotated[int, Query(ge=1, le=10000, description="At most this many.")] = 200,
    ) -> Any:
        """Every write made through the API, newest first: who, when, from where, what,
        and how it ended. Nothing in the API changes or deletes it. Its times are the
        host's wall clock, and so are the durations of ``since``/``until`` (``1h``)."""
        t = time.time()
        start, end = parse_time(since, t, "since"), parse_time(until, t, "until")
        check_window(start, end)
        rows = accounts.store.audit(
            AuditQuery(since=start, until=end, user=user, action=action, limit=limit)
        )
        return [r.__dict__ for r in rows]
