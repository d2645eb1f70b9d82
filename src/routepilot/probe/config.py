"""Configuration of the prober (probe/)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from routepilot.config.base import StrictModel


class ProbeConfig(StrictModel):
    """How hard and how often routepilot measures. Nothing is probed unless enabled."""

    enabled: bool = False
    """Probe at all. Off by default: routepilot probes nothing until configured to."""
    kind: Literal["icmp", "tcp", "udp"] = "icmp"
    """Default probe kind."""
    tcp_port: int = Field(80, ge=1, le=65535)
    """Destination port of TCP SYN probes."""
    udp_port: int = Field(33434, ge=1, le=65535)
    """Destination port of UDP probes (a closed high port answers ICMP port unreachable)."""
    max_rate: float = Field(1000.0, gt=0)
    """Global cap on probes per second, a hard limit."""
    per_target_rate: float = Field(5.0, gt=0)
    """Politeness cap: probes per second to one address, all providers together."""
    interval_s: float = Field(1.0, gt=0)
    """Probe interval of the current exit of the busiest prefixes."""
    alternative_interval_s: float = Field(5.0, gt=0)
    """Probe interval of alternative providers."""
    timeout_s: float = Field(2.0, gt=0)
    """How long to wait for an answer before counting a probe lost."""
    targets_per_prefix: int = Field(3, ge=1, le=64)
    """How many live addresses are kept per prefix."""
    allowed_ranges: list[str] = Field(default_factory=list)
    """Configured ranges probing may touch besides learned prefixes."""
