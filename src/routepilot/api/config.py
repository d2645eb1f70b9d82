"""Configuration of the REST API and dashboard (api/, web/)."""

from __future__ import annotations

from pydantic import Field

from routepilot.config.base import StrictModel


class ApiConfig(StrictModel):
    """Where the API listens and who may write."""

    listen: str = "127.0.0.1"
    """Address of the API and dashboard."""
    port: int = Field(8080, ge=1, le=65535)
    """TCP port of the API and dashboard."""
    write_token: str | None = None
    """Bearer token for actions (pin, pause, dry-run). No token: actions are refused."""
    read_token: str | None = None
    """Bearer token for reads. No token: reads are open."""
