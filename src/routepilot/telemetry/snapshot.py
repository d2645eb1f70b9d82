"""The typed value telemetry/ hands on: per-link and per-provider rates, billing status."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from routepilot.telemetry.ledger import BillingStatus

SOURCE_SNMP = "snmp"
SOURCE_NONE = "none"


@dataclass(frozen=True)
class LinkRate:
    """The latest rate of one polled interface."""

    provider: str
    agent: str
    interface: str
    """As configured: the ifName, or the ifIndex as text."""
    if_index: int | None
    """Resolved ifIndex; None until the name is resolved."""
    in_bps: float
    """Inbound bits per second over the last good interval; NaN when unknown or stale."""
    out_bps: float
    """Outbound bits per second over the last good interval; NaN when unknown or stale."""
    updated: float
    """Wall time of the last good interval's end (0 if none)."""
    counter_bits: int
    """64 (ifHC*Octets) or 32 (ifIn/OutOctets)."""
    status: str
    """``ok`` or the latest problem, stated for an operator."""


@dataclass(frozen=True)
class TelemetrySnapshot:
    """Link truth at ``time``: what decide/ reads for link load and commits."""

    time: float
    source: str
    """``snmp`` when counters are polled, ``none`` when telemetry is off (use flows)."""
    links: tuple[LinkRate, ...] = ()
    provider_in_bps: dict[str, float] = field(default_factory=dict)
    """Per provider, the sum of its links; NaN when any of its links is unknown."""
    provider_out_bps: dict[str, float] = field(default_factory=dict)
    billing: dict[str, BillingStatus] = field(default_factory=dict)
    """Per provider and per billing group."""
    errors: dict[str, int] = field(default_factory=dict)
    """Failed requests and dropped intervals since start, per reason."""
    warnings: tuple[str, ...] = ()
    """Current problems, one line each, for status and the API."""

    def known(self, provider: str) -> bool:
        """True when the provider's link rate is measured right now."""
        return not math.isnan(self.provider_out_bps.get(provider, math.nan))

    @staticmethod
    def empty(time: float = 0.0) -> TelemetrySnapshot:
        return TelemetrySnapshot(time, SOURCE_NONE)
