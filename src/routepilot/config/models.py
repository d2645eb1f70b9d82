"""The top-level configuration: routers, providers and each stage's settings.

Each stage's own model sits beside this one (``config/flows.py``,
``config/probe.py`` …, re-exported as ``routepilot.flows.config`` and so on), so
that ``config/`` is a leaf that imports no stage. This module composes them and
checks what spans stages: unique names, next-hops that identify exactly one
provider, probe sources that are not shared.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PrivateAttr, SecretStr, model_validator

from routepilot.config.alerts import AlertsConfig
from routepilot.config.api import ApiConfig
from routepilot.config.base import StrictModel, read_secret
from routepilot.config.decide import PolicyConfig
from routepilot.config.diagnose import DiagnoseConfig
from routepilot.config.flows import FlowsConfig
from routepilot.config.ha import HaConfig
from routepilot.config.inject import InjectConfig
from routepilot.config.maintenance import MaintenanceConfig
from routepilot.config.probe import ProbeConfig
from routepilot.config.report import SlaConfig
from routepilot.config.rib import RibConfig
from routepilot.config.run import ControllerConfig
from routepilot.config.store import StoreConfig
from routepilot.config.telemetry import TelemetryConfig


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
    md5_password_file: str | None = None
    """TCP-MD5 (RFC 2385) on this session: a file holding the password (one line, at most
    80 bytes), readable by routepilot only. Never shown by the API nor logged."""
    md5_password_env: str | None = None
    """Or the name of an environment variable holding it."""
    route_source: Literal["addpath", "bmp", "both"] = "addpath"
    """Where routepilot learns this router's paths: its iBGP add-path session, the BMP
    (RFC 7854) stream it sends to ``rib.bmp``, or both (add-path is used, BMP compared)."""
    bmp_address: IPAddress | None = None
    """Source address of this router's BMP connection; by default ``address``."""
    providers: list[Name] = Field(default_factory=list)
    """The providers this router reaches directly (its own eBGP sessions): only their paths
    learned from this router count as theirs, and a provider is down when every router
    that reaches it is. Empty: every provider (one edge router, or a route reflector)."""
    next_hops: dict[Name, list[IPAddress]] = Field(default_factory=dict)
    """Per provider, the next hops routes sent to this router use when they differ from the
    provider's ``next_hops``: a provider reached through another router, with the address
    this router resolves toward it (that router's address, say), or a provider this
    router reaches on a link of its own. A provider neither in ``providers`` nor here is
    one this router cannot use: its improvements are not sent to it."""
    route_reflector: bool = False
    """This session is with a route reflector, which passes routepilot's routes on to its
    clients: routes sent on it never carry NO_ADVERTISE (whatever ``inject`` says), and its
    next hops must resolve on every edge router (docs/deployment.md)."""

    _md5_password: SecretStr | None = PrivateAttr(None)

    @property
    def md5_password(self) -> SecretStr | None:
        """The TCP-MD5 password read from ``md5_password_file``/``md5_password_env``."""
        return self._md5_password

    @model_validator(mode="after")
    def _read_md5(self) -> RouterConfig:
        if self.md5_password_file is not None and self.md5_password_env is not None:
            raise ValueError("give the TCP-MD5 password in md5_password_file or md5_password_env")
        secret = read_secret(
            self.md5_password_file, self.md5_password_env, f"router {self.name} md5_password"
        )
        if secret is not None and len(secret.get_secret_value().encode()) > 80:
            # TCP_MD5SIG_MAXKEYLEN: the kernel refuses longer keys.
            raise ValueError(f"router {self.name}: the TCP-MD5 password is over 80 bytes")
        self._md5_password = secret
        return self


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
    exchange: Name | None = None
    """The exchange (IX) LAN this provider is a peer on: the peers of one exchange share
    its name. Each peer stays a provider of its own (its next hops, partial table checked
    per prefix, capacity, probes); the API adds their traffic and health up per exchange
    (``GET /api/v1/exchanges``)."""


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
    maintenance: MaintenanceConfig = Field(default_factory=MaintenanceConfig)
    """Planned maintenance windows per provider (windows on demand: API and CLI)."""
    inject: InjectConfig = Field(default_factory=InjectConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    ha: HaConfig = Field(default_factory=HaConfig)
    """Active/standby on a PostgreSQL store (off by default: one instance, always active)."""
    api: ApiConfig = Field(default_factory=ApiConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    """Alerts (provider outage/brownout, commit overrun, BGP session, degraded) to webhooks
    (generic, Slack, Teams, PagerDuty), email and SNMP traps; see docs/alerts.md."""
    sla: SlaConfig = Field(default_factory=SlaConfig)
    """Service-level targets the reports check every provider against."""
    diagnose: DiagnoseConfig = Field(default_factory=DiagnoseConfig)
    """Where the trouble is: traceroutes per provider, hops mapped to ASNs, incidents."""
    controller: ControllerConfig = Field(default_factory=ControllerConfig)
    """The daemon's decision loop."""
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    """Link counters by SNMP and billing as providers bill (off by default: link rates from
    flows)."""
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
        self.telemetry.check_providers({p.name for p in self.providers})
        _policy_providers(self)
        _router_providers(self)

        self.maintenance.check_providers({p.name for p in self.providers})

        unknown = sorted(self.policy.commit.names() - {p.name for p in self.providers})
        if unknown:
            raise ValueError(f"policy.commit names unknown providers: {', '.join(unknown)}")
        if self.ha.enabled and self.store.kind != "postgresql":
            raise ValueError(
                "ha.enabled needs store.kind postgresql: the instances share its lease and state"
            )
        return self

    def egress(self) -> dict[str, list[str]]:
        """Provider -> the routers that reach it directly (``routers[].providers``; a router
        that lists none reaches every provider)."""
        return {
            p.name: [r.name for r in self.routers if not r.providers or p.name in r.providers]
            for p in self.providers
        }

    def provider(self, name: str) -> ProviderConfig:
        for p in self.providers:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.providers) or "none"
        raise KeyError(f"unknown provider {name!r} (known: {known})")


def _policy_providers(config: Config) -> None:
    """Every provider a rule, an exclusion or an announcement setting names must exist."""
    known = {p.name for p in config.providers}
    named: list[tuple[str, str]] = []
    for i, rule in enumerate(config.policy.rules):
        where = f"policy.rules[{i}]"
        named += [(where, n) for n in rule.providers]
        if rule.provider is not None:
            named.append((where, rule.provider))
    named += [("policy.target_exclusions", n) for n in config.policy.target_exclusions]
    inject = config.inject
    for key in ("local_preference_by_provider", "communities_by_provider",
                "large_communities_by_provider"):  # fmt: skip
        named += [(f"inject.{key}", n) for n in getattr(inject, key)]
    for where, name in named:
        if name not in known:
            raise ValueError(
                f"{where} names unknown provider {name!r} "
                f"(known: {', '.join(sorted(known)) or 'none'})"
            )


def _router_providers(config: Config) -> None:
    """Providers a router names exist, and when routers say which providers they reach,
    every provider is reached by one of them. Two providers may share a router's next
    hop: both reached through the same other router."""
    known = {p.name for p in config.providers}
    for r in config.routers:
        for where, names in (("providers", r.providers), ("next_hops", list(r.next_hops))):
            for name in names:
                if name not in known:
                    raise ValueError(
                        f"routers[{r.name}].{where} names unknown provider {name!r} "
                        f"(known: {', '.join(sorted(known)) or 'none'})"
                    )
        for name, hops in r.next_hops.items():
            if not hops:
                raise ValueError(f"routers[{r.name}].next_hops.{name} is empty")
    listing = [r for r in config.routers if r.providers]
    if not listing:
        return
    reached = {name for r in config.routers for name in (r.providers or known)}
    unreached = sorted(known - reached)
    if unreached:
        raise ValueError(
            f"no router reaches provider(s) {', '.join(unreached)}: list each provider in the "
            "providers of the routers it is connected to (routers[].providers)"
        )


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
