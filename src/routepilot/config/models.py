"""The top-level configuration: routers, providers and each stage's settings.

Each stage's own model sits beside this one (``config/flows.py``,
``config/probe.py`` …, re-exported as ``routepilot.flows.config`` and so on), so
that ``config/`` is a leaf that imports no stage. This module composes them and
checks what spans stages: unique names, next-hops that identify exactly one
provider, probe sources that are not shared.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from routepilot.config.api import AlertsConfig, ApiConfig
from routepilot.config.base import StrictModel
from routepilot.config.decide import PolicyConfig
from routepilot.config.flows import FlowsConfig
from routepilot.config.inject import InjectConfig
from routepilot.config.probe import ProbeConfig
from routepilot.config.report import SlaConfig
from routepilot.config.rib import RibConfig
from routepilot.config.run import ControllerConfig
from routepilot.config.store import StoreConfig


def _ip(value: str) -> str:
    return str(ipaddress.ip_address(value))


def _network(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=True))


IPAddress = Annotated[str, AfterValidator(_ip)]
IPNetwork = Annotated[str, AfterValidator(_network)]
Name = Annotated[str, Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_-]{0,31}$")]


class RouterConfig(StrictModel):
    """An edge router routepilot peers with over iBGP (add-path receive)."""

    name: Name
    """Short name used in logs, the API and the journal."""
    address: IPAddress
    """The router's address for the iBGP session."""
    asn: int = Field(ge=1, le=4294967295)
    """The router's (and so routepilot's, over iBGP) autonomous system number."""
    local_address: IPAddress | None = None
    """routepilot's address for this session; by default the kernel picks it."""


class FlowInterface(StrictModel):
    """An exporter interface that faces one provider."""

    exporter: IPAddress
    """Source address of the exporter's datagrams."""
    ifindex: int = Field(ge=0, le=2**32 - 1)
    """SNMP ifIndex of the provider-facing interface, as the exporter reports it."""


class ProviderProbe(StrictModel):
    """How probes are steered through this provider (one method is enough)."""

    source: IPAddress | None = None
    """IPv4 probe source address; the router policy-routes it to this provider."""
    source6: IPAddress | None = None
    """IPv6 probe source address."""
    mark: int | None = Field(None, ge=1, le=2**32 - 1)
    """SO_MARK for hosts that are themselves the router."""
    interface: str | None = None
    """Interface to bind (SO_BINDTODEVICE)."""


class ProviderConfig(StrictModel):
    """An upstream: transit, IX peer or private peer."""

    name: Name
    """Short name used everywhere (isp1, cogent, ix-ams …)."""
    asn: int = Field(ge=1, le=4294967295)
    """The provider's AS number (first AS of its paths)."""
    next_hops: list[IPAddress] = Field(min_length=1)
    """BGP next-hops by which the router's routes identify this provider."""
    capacity_mbps: float = Field(gt=0)
    """Nominal capacity of the link."""
    commit_mbps: float = Field(0.0, ge=0)
    """Committed rate billed at the 95th percentile; 0 for none."""
    cost_per_mbps: float = Field(0.0, ge=0)
    """Price per Mbps (95th percentile) above the commit."""
    probe: ProviderProbe = Field(default_factory=ProviderProbe)
    """Probe steering through this provider."""
    flow_interfaces: list[FlowInterface] = Field(default_factory=list)
    """Exporter interfaces facing this provider, to attribute flow records."""


class Config(StrictModel):
    """routepilot's whole configuration."""

    routers: list[RouterConfig] = Field(default_factory=list)
    """Edge routers to peer with."""
    providers: list[ProviderConfig] = Field(default_factory=list)
    """Upstream providers."""
    prefixes: list[IPNetwork] = Field(default_factory=list)
    """Destination prefixes to aggregate on when no routing table is known yet."""
    flows: FlowsConfig = Field(default_factory=FlowsConfig)
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    rib: RibConfig = Field(default_factory=RibConfig)
    """Routes learned from the routers, and the BGP speaker."""
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    inject: InjectConfig = Field(default_factory=InjectConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    """Alerts by webhook (provider outage/brownout, commit overrun, BGP session, degraded)."""
    sla: SlaConfig = Field(default_factory=SlaConfig)
    """Service-level targets the reports check every provider against."""
    controller: ControllerConfig = Field(default_factory=ControllerConfig)
    """The daemon's decision loop."""
    log_level: str = Field("info", pattern=r"^(debug|info|warning|error)$")
    """Log level of the daemon."""

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        _unique("routers", [r.name for r in self.routers])
        _unique("providers", [p.name for p in self.providers])
        _unique("provider next_hops", [nh for p in self.providers for nh in p.next_hops])
        sources = [s for p in self.providers for s in (p.probe.source, p.probe.source6) if s]
        _unique("provider probe sources", sources)
        _unique(
            "provider flow_interfaces",
            [f"{fi.exporter}/{fi.ifindex}" for p in self.providers for fi in p.flow_interfaces],
        )
        for p in self.providers:
            if p.commit_mbps > p.capacity_mbps:
                raise ValueError(
                    f"provider {p.name}: commit_mbps {p.commit_mbps:g} exceeds capacity_mbps "
                    f"{p.capacity_mbps:g}; a commit can never be more than the link carries"
                )
        _no_overlap([ipaddress.ip_network(n) for n in self.prefixes])
        if self.inject.max_routes < self.policy.max_improvements:
            raise ValueError(
                f"inject.max_routes ({self.inject.max_routes}) is below "
                f"policy.max_improvements ({self.policy.max_improvements}): improvements over "
                "the route cap would be re-announced every round"
            )
        if self.probe.outage_losses != self.policy.outage_consecutive_losses:
            raise ValueError(
                f"probe.outage_losses ({self.probe.outage_losses}) and "
                f"policy.outage_consecutive_losses ({self.policy.outage_consecutive_losses}) "
                "must be equal: both say how many losses in a row make an outage"
            )
        unknown = sorted(set(self.sla.providers) - {p.name for p in self.providers})
        if unknown:
            raise ValueError(f"sla.providers names unknown providers: {', '.join(unknown)}")
        return self

    def provider(self, name: str) -> ProviderConfig:
        for p in self.providers:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.providers) or "none"
        raise KeyError(f"unknown provider {name!r} (known: {known})")


def _no_overlap(nets: list) -> None:
    """Configured prefixes must not overlap: each address belongs to one prefix."""
    for version in (4, 6):
        ordered = sorted(
            (n for n in nets if n.version == version),
            key=lambda n: (int(n.network_address), n.prefixlen),
        )
        for a, b in zip(ordered, ordered[1:], strict=False):
            if b.subnet_of(a) or a == b:
                raise ValueError(f"prefixes {a} and {b} overlap; list each address range once")


def _unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{what} must be unique; {v!r} appears more than once")
        seen.add(v)
