"""Configuration of the REST API and dashboard (api/, web/)."""

from __future__ import annotations

from pydantic import Field

from routepilot.config.base import StrictModel


class ApiConfig(StrictModel):
    """Where the API listens and who may do what.

    Users (``routepilot users add``) have a role: ``viewer`` reads, ``operator`` also
    pins, excludes, pauses and switches dry-run, ``admin`` also manages users and the
    configuration. The two tokens below keep working: the write token as an admin, the
    read token as a viewer."""

    listen: str = "127.0.0.1"
    """Address of the API and dashboard."""
    port: int = Field(8080, ge=1, le=65535)
    """TCP port of the API and dashboard."""
    write_token: str | None = None
    """Bearer token with the admin role (every action). No token and no user: actions are
    refused."""
    read_token: str | None = None
    """Bearer token for reads. No token: reads are open."""
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=64 * 1024 * 1024)
    """Largest request body taken; a larger one is refused (413) before it is read."""
    max_requests_in_flight: int = Field(64, ge=1, le=10_000)
    """Requests handled at once; more are refused (503) at once rather than queued."""
    """Bearer token with the viewer role. Set: reads need a token or a dashboard login."""
    anonymous_reads: bool = True
    """Reads without a token or login, as a viewer (only while no read_token is set)."""
    session_ttl_s: float = Field(43200.0, ge=60, le=30 * 86400)
    """How long a dashboard login lasts (seconds); then the user logs in again."""
    secure_cookie: bool = False
    """Mark the dashboard's session cookie Secure (set it when a TLS proxy fronts the API)."""
