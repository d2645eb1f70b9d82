"""Configuration of the prober (probe/)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from routepilot.config.base import StrictModel


def _network(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=True))


def _address(value: str) -> str:
    return str(ipaddress.ip_address(value))


class ProbeConfig(StrictModel):
    """How hard and how often routepilot measures. Nothing is probed unless enabled."""

    enabled: bool = False
    """Probe at all. Off by default: routepilot probes nothing until configured to."""
    kind: Literal["icmp", "tcp", "udp"] = "icmp"
    """Default probe kind."""
    fallback_kinds: list[Literal["icmp", "tcp", "udp"]] = Field(default_factory=list)
    """Kinds tried, in order, on a candidate target that does not answer ``kind`` (many hosts
    drop ICMP but answer a TCP SYN to ``tcp_port``); each target is then probed with the kind
    it answered."""
    tcp_port: int = Field(80, ge=1, le=65535)
    """Destination port of TCP SYN probes."""
    udp_port: int = Field(33434, ge=1, le=65535)
    """Destination port of UDP probes (a closed high port answers ICMP port unreachable)."""
    max_rate: float = Field(1000.0, gt=0, le=1_000_000)
    """Global cap on probes per second, a hard limit."""
    max_burst: float = Field(0.0, ge=0)
    """Probes the global cap lets out at once; 0 means 20 ms worth of ``max_rate``."""
    per_target_rate: float = Field(5.0, gt=0)
    """Politeness cap: probes per second to one address, all providers together."""
    per_target_burst: float = Field(10.0, ge=1)
    """Probes one address may receive back to back before the politeness cap applies."""
    interval_s: float = Field(1.0, gt=0)
    """Probe interval of the current exit of the busiest prefixes."""
    exit_interval_s: float = Field(2.0, gt=0)
    """Probe interval of the current exit of the other prefixes."""
    alternative_interval_s: float = Field(5.0, gt=0)
    """Probe interval of alternative providers."""
    busy_prefixes: int = Field(100, ge=0)
    """How many of the busiest prefixes get ``interval_s`` on their current exit."""
    max_prefixes: int = Field(10_000, ge=1)
    """Prefixes measured at most, busiest first."""
    train_size: int = Field(3, ge=1, le=100)
    """Probes per round on one path, ``train_spacing_s`` apart, to estimate loss."""
    train_spacing_s: float = Field(0.05, ge=0)
    """Gap between the probes of a train."""
    jitter: float = Field(0.1, ge=0, lt=1)
    """Random spread of each interval (fraction), so probes do not arrive in lockstep."""
    class_weights: tuple[int, int, int] = (16, 4, 1)
    """Share of a saturated rate cap for busy exits, other exits and alternatives."""
    timeout_s: float = Field(1.5, gt=0)
    """How long to wait for an answer before counting a probe lost. With the default
    interval and train, a blackhole is flagged within interval + train + timeout < 3 intervals."""
    window_s: float = Field(60.0, gt=0)
    """Window of the statistics handed to decide/."""
    outage_losses: int = Field(3, ge=1)
    """Consecutive losses that flag a path as down."""
    targets_per_prefix: int = Field(3, ge=1, le=64)
    """How many live addresses are kept per prefix."""
    targets: list[Annotated[str, AfterValidator(_address)]] = Field(default_factory=list)
    """Configured fallback targets, used in the prefix that contains each one."""
    host_offsets: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [1])
    """Host numbers tried inside a prefix when neither flows nor ``targets`` give an address
    (1 = the prefix's first address, e.g. 198.18.3.1 in 198.18.3.0/24); [] to probe only
    addresses learned from flows or listed in ``targets``."""
    retry_unprobeable_s: float = Field(600.0, gt=0)
    """How long an address that failed verification rests before it is tried again."""
    allowed_ranges: list[Annotated[str, AfterValidator(_network)]] = Field(default_factory=list)
    """Configured ranges probing may touch besides learned prefixes."""
    payload_bytes: int = Field(0, ge=0, le=1400)
    """Extra zero bytes in ICMP and UDP probes (after the 8-byte token)."""
    tick_s: float = Field(0.001, gt=0, le=0.1)
    """How often the sender wakes to send what is due."""

    @model_validator(mode="after")
    def _intervals(self) -> ProbeConfig:
        if not self.interval_s <= self.exit_interval_s <= self.alternative_interval_s:
            raise ValueError(
                "expected interval_s <= exit_interval_s <= alternative_interval_s "
                "(busy exits are probed fastest)"
            )
        return self
