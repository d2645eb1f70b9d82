"""Configuration of maintenance windows (decide/maintenance.py applies them).

Windows started on demand (API, CLI) live in the store; the ones here are the
planned ones: a cron schedule with a duration, or one start and end.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from routepilot.config.base import StrictModel


def _cron(value: str) -> str:
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValueError(
            f"{value!r} is not a cron expression: five fields, minute hour day month "
            "weekday, e.g. '0 2 * * 2' for Tuesdays at 02:00 UTC"
        )
    return value


def _utc(value: datetime) -> datetime:
    """A time without a zone is UTC, like the cron schedules."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


Cron = Annotated[str, AfterValidator(_cron)]
Time = Annotated[datetime, AfterValidator(_utc)]


class WindowConfig(StrictModel):
    """A planned maintenance window of one provider: ``cron`` and ``duration_s`` for a
    repeating one, or ``start`` and ``end`` for a one-off."""

    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")
    """Names the window in the API, the journal and the logs."""
    provider: str
    """The provider under maintenance (one of ``providers``)."""
    cron: Cron | None = None
    """When it begins, as a cron expression evaluated in UTC (e.g. '0 2 * * 2')."""
    duration_s: float | None = Field(None, gt=0, le=31 * 86400)
    """How long each occurrence of ``cron`` lasts."""
    start: Time | None = None
    """A one-off window's start (ISO 8601; UTC when no zone is given)."""
    end: Time | None = None
    """A one-off window's end."""
    drain: bool = False
    """Also move the traffic whose BGP default is this provider onto the others, from
    ``maintenance.drain_lead_s`` before the window until it ends."""
    reason: str = Field("", max_length=200)
    """Free text shown with the window (ticket number, provider's notice …)."""

    @model_validator(mode="after")
    def _one_kind(self) -> WindowConfig:
        repeating = self.cron is not None or self.duration_s is not None
        one_off = self.start is not None or self.end is not None
        if repeating == one_off:
            raise ValueError(
                f"window {self.name}: give either cron and duration_s, or start and end"
            )
        if repeating and (self.cron is None or self.duration_s is None):
            raise ValueError(f"window {self.name}: cron and duration_s go together")
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError(f"window {self.name}: start and end go together")
            if self.end <= self.start:
                raise ValueError(f"window {self.name}: end must be after start")
        return self


class MaintenanceConfig(StrictModel):
    """Planned maintenance windows, and the limits of windows started on demand."""

    windows: list[WindowConfig] = Field(default_factory=list)
    """Planned windows, applied from the next decision round after a (re)load."""
    drain_lead_s: float = Field(60.0, ge=0, le=86400)
    """A draining window moves the traffic this long before it begins, so that it has
    left the provider (change limits permitting) when the work starts."""
    max_duration_s: float = Field(7 * 86400.0, gt=0)
    """Longest window the API or the CLI may start."""

    @model_validator(mode="after")
    def _unique_names(self) -> MaintenanceConfig:
        seen: set[str] = set()
        for w in self.windows:
            if w.name in seen:
                raise ValueError(f"maintenance window names must be unique; {w.name!r} repeats")
            seen.add(w.name)
        return self

    def check_providers(self, known: set[str]) -> None:
        unknown = sorted({w.provider for w in self.windows} - known)
        if unknown:
            raise ValueError(f"maintenance.windows name unknown providers: {', '.join(unknown)}")
