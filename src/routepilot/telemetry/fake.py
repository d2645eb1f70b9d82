"""Fakes for tests: an in-memory SNMP agent, and a telemetry source with set rates.

:class:`FakeAgent` implements :class:`~routepilot.telemetry.snmp.SnmpClient` over a
table of interfaces whose counters the test moves (``advance``), and can be made
to time out, refuse credentials, restart or lose its 64-bit counters, so the
poller's handling of each is tested without a network.
:class:`FakeTelemetry` gives other stages' tests a snapshot with chosen rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from routepilot.telemetry import snmp
from routepilot.telemetry.counters import COUNTER32, COUNTER64
from routepilot.telemetry.ledger import BillingStatus
from routepilot.telemetry.metrics import TelemetryMetrics
from routepilot.telemetry.poller import (
    IF_DISCONTINUITY,
    IF_HC_IN,
    IF_HC_OUT,
    IF_IN,
    IF_NAME,
    IF_OUT,
    IF_SPEED,
    SYS_UPTIME,
)
from routepilot.telemetry.snapshot import SOURCE_SNMP, LinkRate, TelemetrySnapshot


@dataclass
class FakeInterface:
    name: str
    in_octets: int = 0
    out_octets: int = 0
    speed_bps: int = 1_000_000_000
    discontinuity_cs: int = 0


@dataclass
class FakeAgent:
    """An agent whose time and counters the test drives."""

    interfaces: dict[int, FakeInterface] = field(default_factory=dict)
    uptime_cs: int = 0
    has_hc: bool = True
    has_discontinuity_time: bool = True
    failure: snmp.SnmpError | None = None
    """When set, every request fails with it (timeout, auth, ...)."""
    requests: int = 0

    def advance(self, seconds: float, rates_bps: dict[int, tuple[float, float]]) -> None:
        """Let ``seconds`` pass with the given (in, out) rate per ifIndex."""
        self.uptime_cs += round(seconds * 100)
        for idx, (r_in, r_out) in rates_bps.items():
            i = self.interfaces[idx]
            i.in_octets = (i.in_octets + round(r_in * seconds / 8)) % COUNTER64
            i.out_octets = (i.out_octets + round(r_out * seconds / 8)) % COUNTER64

    def restart(self) -> None:
        """The router reboots: uptime and counters start again from zero."""
        self.uptime_cs = 0
        for i in self.interfaces.values():
            i.in_octets = i.out_octets = 0

    def _value(self, oid: str) -> int | str | None:
        if oid == SYS_UPTIME:
            return self.uptime_cs
        base, _, idx_text = oid.rpartition(".")
        i = self.interfaces.get(int(idx_text))
        if i is None:
            return None
        if base == IF_HC_IN and self.has_hc:
            return i.in_octets
        if base == IF_HC_OUT and self.has_hc:
            return i.out_octets
        if base == IF_IN:
            return i.in_octets % COUNTER32
        if base == IF_OUT:
            return i.out_octets % COUNTER32
        if base == IF_SPEED:
            return min(i.speed_bps, COUNTER32 - 1)
        if base == IF_DISCONTINUITY and self.has_discontinuity_time:
            return i.discontinuity_cs
        return None

    async def get(self, oids: list[str]) -> dict[str, int | str | None] | snmp.SnmpError:
        self.requests += 1
        if self.failure is not None:
            return self.failure
        return {o: self._value(o) for o in oids}

    async def walk(self, oid: str) -> dict[str, int | str] | snmp.SnmpError:
        self.requests += 1
        if self.failure is not None:
            return self.failure
        if oid != IF_NAME:
            return {}
        return {f"{IF_NAME}.{idx}": i.name for idx, i in sorted(self.interfaces.items())}

    def close(self) -> None:
        pass


class FakeTelemetry:
    """A telemetry source for other stages' tests: rates and billing set by hand."""

    def __init__(self, time: float = 0.0) -> None:
        self.time = time
        self.rates: dict[str, tuple[float, float]] = {}
        self.billing: dict[str, BillingStatus] = {}
        self.metrics = TelemetryMetrics()
        self.started = False

    def set_rate(self, provider: str, in_bps: float, out_bps: float) -> None:
        self.rates[provider] = (in_bps, out_bps)

    def snapshot(self) -> TelemetrySnapshot:
        links = tuple(
            LinkRate(p, "fake", p, 1, r_in, r_out, self.time, 64, "ok")
            for p, (r_in, r_out) in sorted(self.rates.items())
        )
        return TelemetrySnapshot(
            self.time,
            SOURCE_SNMP,
            links,
            {p: r[0] for p, r in self.rates.items()},
            {p: r[1] for p, r in self.rates.items()},
            dict(self.billing),
        )

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False


__all__ = ["FakeAgent", "FakeInterface", "FakeTelemetry"]
