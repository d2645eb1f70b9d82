"""Configuration of the flow collector (flows/)."""

from __future__ import annotations

from pydantic import Field

from routepilot.config.base import StrictModel


class FlowsConfig(StrictModel):
    """Where the collector listens and how it aggregates."""

    enabled: bool = True
    """Run the collector. Without it, decisions have no traffic to weigh."""
    listen_address: str = "::"
    """Address to bind; '::' accepts IPv4 and IPv6 exports."""
    netflow_port: int = Field(2055, ge=1, le=65535)
    """UDP port for NetFlow v5/v9."""
    ipfix_port: int = Field(4739, ge=1, le=65535)
    """UDP port for IPFIX."""
    sflow_port: int = Field(6343, ge=1, le=65535)
    """UDP port for sFlow v5."""
    receive_buffer_bytes: int = Field(32 * 1024 * 1024, ge=65536)
    """Socket receive buffer; kernel drops beyond it are counted."""
    ipv4_granularity: int = Field(24, ge=8, le=32)
    """Aggregation length for IPv4 destinations when no routing table is known."""
    ipv6_granularity: int = Field(48, ge=16, le=128)
    """Aggregation length for IPv6 destinations when no routing table is known."""
    top_n: int = Field(1000, ge=1)
    """How many busiest prefixes the snapshot carries."""
