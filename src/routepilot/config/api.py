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


class WebhookConfig(StrictModel):
    """One receiver of alerts: a URL that takes a JSON POST."""

    url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=2000)
    """Where alerts are POSTed (http or https)."""
    timeout_s: float = Field(5.0, gt=0, le=60)
    """Time allowed for one delivery attempt."""


class AlertsConfig(StrictModel):
    """Alerts by webhook on provider outage/brownout, commit overrun, BGP session down,
    controller degraded; raised and cleared on transitions, never repeated while they hold."""

    webhooks: list[WebhookConfig] = Field(default_factory=list)
    """Receivers; none: alerts are only logged and counted."""
    queue_size: int = Field(1000, ge=1, le=100_000)
    """Alerts waiting per webhook; past it the oldest is dropped (and counted)."""
    max_attempts: int = Field(5, ge=1, le=20)
    """Delivery attempts per alert before giving up (and counting a failure)."""
    backoff_initial_s: float = Field(1.0, gt=0, le=600)
    """Wait before the first retry; doubled after each failed attempt."""
    backoff_max_s: float = Field(60.0, gt=0, le=3600)
    """Longest wait between two attempts."""
    brownout_loss: float = Field(0.02, gt=0, le=1)
    """Probe loss (0..1) at or above which a provider is browning out."""
    outage_loss: float = Field(0.5, gt=0, le=1)
    """Probe loss (0..1) at or above which a provider is out (so is a session down)."""
    commit_margin: float = Field(0.0, ge=0, le=10)
    """Commit overrun once the 95th percentile exceeds commit x (1 + margin)."""
    raise_after: int = Field(1, ge=1, le=100)
    """Consecutive observations a condition must hold before its alert fires."""
    clear_after: int = Field(3, ge=1, le=100)
    """Consecutive clean observations before a firing alert resolves (no flapping)."""
