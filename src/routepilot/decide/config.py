"""Configuration of the decision policy (decide/)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from routepilot.config.base import StrictModel


class PolicyConfig(StrictModel):
    """Thresholds and limits of the decision engine; all enforced in decide/."""

    mode: Literal["performance", "cost"] = "performance"
    """Optimise for performance, or for cost while performance stays within tolerance."""
    loss_threshold_pct: float = Field(2.0, ge=0, le=100)
    """Minimum loss improvement, in percentage points, to move a prefix."""
    latency_threshold_ms: float = Field(10.0, ge=0)
    """Minimum absolute RTT improvement to move a prefix."""
    latency_threshold_pct: float = Field(10.0, ge=0)
    """Minimum relative RTT improvement to move a prefix."""
    target_utilization_pct: float = Field(90.0, gt=0, le=100)
    """Never project a link above this share of its capacity."""
    hold_down_s: float = Field(300.0, ge=0)
    """Minimum time between two moves of the same prefix (not applied to outages)."""
    max_improvements: int = Field(1000, ge=0)
    """Cap on prefixes routed away from BGP's default at once."""
    max_changes_per_minute: int = Field(100, ge=0)
    """Cap on route changes per minute."""
    ipv4_granularity: int = Field(24, ge=8, le=32)
    """Most specific IPv4 prefix length routepilot announces."""
    ipv6_granularity: int = Field(48, ge=16, le=128)
    """Most specific IPv6 prefix length routepilot announces."""
