"""Bodies of the on-demand measurements (``POST /api/v1/probe`` and ``/api/v1/traceroute``):
the JSON field names are a contract, like api/models.py's."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from routepilot.api.models import _In, _Out

Kind = Literal["icmp", "tcp", "udp"]
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class ProbeRequest(_In):
    address: str = Field(min_length=1, max_length=64)
    """One IPv4 or IPv6 address (never a name or a prefix) inside a prefix learned from the
    routers or a ``probe.on_demand.allowed`` range."""
    providers: list[Annotated[str, Field(min_length=1, max_length=64, pattern=NAME)]] | None = (
        Field(None, min_length=1, max_length=64)
    )
    """Providers to probe through; default: every provider with a route for the address."""
    kind: Kind = "icmp"
    """ICMP echo, TCP SYN (to ``probe.tcp_port``) or UDP (to ``probe.udp_port``)."""
    count: int = Field(10, ge=1, le=100)
    """Probes through each provider (at most ``probe.on_demand.max_count``)."""


class ProbeResultRow(_Out):
    provider: str
    sent: int
    answered: int
    unreachable: int
    """Answers saying the address is unreachable (not counted as answered)."""
    loss: float | None
    """Share of the probes sent that got no answer (0..1)."""
    loss_low: float | None
    """95% interval of the loss (Wilson), low end."""
    loss_high: float | None
    rtt_min_ms: float | None
    rtt_median_ms: float | None
    rtt_p90_ms: float | None
    rtt_max_ms: float | None
    jitter_ms: float | None
    """RFC 3550 interarrival jitter of the answers."""
    responders: list[str]
    """Addresses that answered (the target, or a router's ICMP error)."""


class ProbeResult(_Out):
    address: str
    kind: Kind
    count: int
    interval_s: float
    """Gap between two probes through one provider (``on_demand.interval_s``, longer when
    ``probe.per_target_rate`` needs it)."""
    prefix: str
    """The range that allowed it: the learned prefix covering the address, or an
    ``on_demand.allowed`` range."""
    scope: Literal["learned", "allowed"]
    time: float
    """When it started (seconds since the epoch)."""
    results: list[ProbeResultRow]
    """One row per provider, in configuration order."""


class TraceRequest(_In):
    address: str = Field(min_length=1, max_length=64)
    """One IPv4 or IPv6 address, held to the same ranges as a probe."""
    provider: str = Field(min_length=1, max_length=64, pattern=NAME)
    """The provider to trace through (it needs a route for the address)."""
    kind: Kind = "icmp"


class TraceHopRow(_Out):
    ttl: int
    responder: str | None
    """Who answered at this TTL (null: nobody, a ``*``)."""
    asn: int | None
    """The responder's AS by the learned RIB's longest match (null: not routed)."""
    rtts_ms: list[float]
    loss: float
    """Share of this hop's probes without an answer."""
    reached: bool
    """The address itself answered at this TTL."""


class TraceResult(_Out):
    address: str
    provider: str
    kind: Kind
    prefix: str
    scope: Literal["learned", "allowed"]
    time: float
    reached: bool
    """Whether the address answered within ``probe.on_demand.max_hops``."""
    hops: list[TraceHopRow]
    """From TTL 1 to the address (or the last TTL tried)."""
