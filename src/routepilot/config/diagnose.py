"""Configuration of the diagnosis (diagnose/): per-provider traceroutes and incidents."""

from __future__ import annotations

from pydantic import Field

from routepilot.config.base import StrictModel


class DiagnoseConfig(StrictModel):
    """Where the trouble is: traceroutes through each provider, hops mapped to ASNs, and
    incidents that name the AS, the provider or the prefix that is degraded."""

    enabled: bool = True
    """Diagnose while the daemon runs (needs probing)."""
    interval_s: float = Field(5.0, ge=0.5, le=600)
    """How often the measurements are correlated into incidents."""
    loss: float = Field(0.05, gt=0, le=1)
    """A path (prefix, provider) is degraded when it loses at least this share of probes
    over the measurement window (0.05 = 5%) …"""
    rtt_excess_ms: float = Field(100.0, gt=0, le=10000)
    """… or when its median RTT exceeds the prefix's best provider's by this much."""
    min_samples: int = Field(8, ge=1, le=100000)
    """Probes a path needs in the window before it counts as degraded or healthy."""
    min_prefixes: int = Field(3, ge=2, le=100000)
    """The documented minimum: an AS or a provider is named as the cause only when it
    explains at least this many degraded prefixes; fewer (one noisy prefix) give prefix
    incidents."""
    open_rounds: int = Field(2, ge=1, le=100)
    """Consecutive diagnoses that must agree before an incident opens (noise never does)."""
    close_after_s: float = Field(30.0, ge=0, le=86400)
    """An incident closes once its cause has explained nothing for this long."""
    trace_degraded: bool = True
    """Traceroute every degraded prefix through every provider (at most once per
    ``trace_every_s`` per path)."""
    trace_every_s: float = Field(60.0, ge=1, le=86400)
    """Shortest time between two traceroutes of one (prefix, provider)."""
    trace_busiest: int = Field(10, ge=0, le=10000)
    """Also traceroute the busiest prefixes through every provider, every ``busiest_every_s``."""
    busiest_every_s: float = Field(600.0, ge=10, le=86400)
    """How often the busiest prefixes are traced."""
    max_hops: int = Field(16, ge=2, le=64)
    """Longest path a traceroute follows."""
    trace_timeout_s: float = Field(1.0, gt=0, le=10)
    """How long a traceroute waits for the last answer."""
    concurrent_traces: int = Field(4, ge=1, le=64)
    """Traceroutes in flight at once."""
    keep_closed: int = Field(200, ge=0, le=100000)
    """Closed incidents kept in memory for the API (all stay in the store)."""
