"""Configuration of route injection (inject/)."""

from __future__ import annotations

from pydantic import Field

from routepilot.config.base import StrictModel


class InjectConfig(StrictModel):
    """How improvements are announced to the routers."""

    dry_run: bool = True
    """Decide and record, announce nothing (recommendation mode). On until switched off."""
    local_preference: int = Field(500, ge=0, le=2**32 - 1)
    """LOCAL_PREF of injected routes; must beat every provider route."""
    communities: list[str] = Field(default_factory=lambda: ["no-export", "no-advertise"])
    """Communities on every injected route; NO_EXPORT and NO_ADVERTISE keep them from leaking."""
    max_routes: int = Field(10000, ge=0)
    """Most routes injected at once; desired routes past it (lowest priority) are dropped."""
    dry_run_journal: int = Field(10000, ge=0)
    """How many would-be changes dry-run mode keeps in memory for inspection."""
