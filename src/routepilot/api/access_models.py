"""Request and response bodies of the users, session and audit endpoints (a contract)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from routepilot.api.models import _In, _Out

RoleName = Literal["viewer", "operator", "admin"]


class User(_Out):
    name: str
    role: RoleName
    created: float
    """When the user was added (seconds since the epoch)."""
    has_password: bool
    """Whether the user can log in to the dashboard."""


class NewUser(_In):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$", max_length=64)
    role: RoleName
    password: str | None = Field(None, min_length=10, max_length=1024)
    """For the dashboard's login; without one the user has only the API token."""


class UserWithToken(User):
    token: str
    """The user's API token: shown this once, only its hash is kept."""


class PasswordRequest(_In):
    password: str = Field(min_length=10, max_length=1024)


class LoginRequest(_In):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class Session(_Out):
    name: str | None
    """Who the request came from; null for an anonymous reader."""
    role: RoleName
    via: Literal["session", "token", "write_token", "read_token", "anonymous"]
    csrf_token: str | None = None
    """For a dashboard session: send it back in ``X-CSRF-Token`` with every change."""
    expires: float | None = None
    """When the session ends (seconds since the epoch)."""


class AuditEntry(_Out):
    id: int
    time: float
    user: str | None
    """The user, ``api.write_token`` or ``api.read_token``; null: nobody was identified."""
    address: str | None
    """The client's IP address, as the API saw it."""
    action: str
    """The endpoint's name: pause, resume, pin, unpin, exclude, include, dry_run, add_user …"""
    method: str
    path: str
    request: str
    """The request body as JSON text, secrets masked."""
    change: str
    """The answer as JSON text: the resulting state, or the error."""
    status: int
    outcome: Literal["ok", "refused", "failed"]
