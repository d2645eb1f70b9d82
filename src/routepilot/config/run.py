"""Configuration of the daemon's loop (run/)."""

from __future__ import annotations

from pydantic import Field

from routepilot.config.base import StrictModel


class ControllerConfig(StrictModel):
    """How often routepilot decides, and how it keeps its own state."""

    cycle_s: float = Field(10.0, gt=0, le=300)
    """Seconds between decision rounds (latency, loss, capacity, cost)."""
    outage_check_s: float = Field(0.25, gt=0, le=10)
    """How often the current exits are checked for an outage; one triggers a round at once."""
    routes_refresh_s: float = Field(5.0, gt=0)
    """How often the flow collector's prefix table follows the routers' table."""
    remeasure_after_s: float = Field(30.0, gt=0)
    """A move's new exit is re-measured this long after it, for the journal and reports."""
    warm_start_s: float = Field(120.0, ge=0)
    """After a restart, the last stored minute of traffic stands in for the flows this
    long at most, until the live view is whole again (every flow reported once: see
    ``flows.active_timeout_s``)."""
    startup_grace_s: float = Field(5.0, ge=0)
    """No decision before the routers' paths have had this long to arrive."""
