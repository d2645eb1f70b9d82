"""Configuration of link telemetry (telemetry/): SNMP agents, provider links, billing.

It lives in ``config/`` (re-exported as ``routepilot.telemetry.config``) so that
``config/`` stays a leaf that imports no stage.

Secrets (the v2c community, the v3 passphrases) are never written in the
configuration file: it names a file or an environment variable holding each, and
the model reads it at validation time into a private :class:`~pydantic.SecretStr`
attribute: never accepted from the file itself, never in a dump (``config dump``,
the API) nor a repr, so the secret is neither shown nor written back.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from routepilot.config.base import SnmpCredentials, StrictModel, read_snmp_secrets

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
BillingMode = Literal["separate", "greater", "greater_separate"]


def _address(value: str) -> str:
    return str(ipaddress.ip_address(value))


class SnmpAgentConfig(SnmpCredentials):
    """One SNMP agent (a router) and how to talk to it."""

    name: Name
    """Name the links refer to, e.g. the router's name."""
    address: Annotated[str, AfterValidator(_address)]
    """Agent address (IPv4 or IPv6)."""
    port: int = Field(161, ge=1, le=65535)
    """Agent UDP port."""
    timeout_s: float = Field(2.0, gt=0, le=60)
    """How long to wait for one answer before retrying."""
    retries: int = Field(1, ge=0, le=5)
    """Retries of an unanswered request before the poll counts as a timeout."""

    @model_validator(mode="after")
    def _complete(self) -> SnmpAgentConfig:
        if self.version == "3" and not self.user:
            raise ValueError(f"agent {self.name}: v3 needs user")
        read_snmp_secrets(self, f"agent {self.name}")
        return self


class LinkConfig(StrictModel):
    """One provider-facing interface whose counters are polled."""

    provider: Name
    """Provider this interface connects to; several links of one provider are summed."""
    agent: Name
    """Name of the SNMP agent (``agents[].name``) that serves the interface."""
    if_name: str | None = None
    """Interface name (IF-MIB ifName), resolved to its ifIndex by walking ifName."""
    if_index: int | None = Field(None, ge=1, le=2**31 - 1)
    """Interface index (IF-MIB ifIndex), when the name is not used."""

    @model_validator(mode="after")
    def _one_key(self) -> LinkConfig:
        if (self.if_name is None) == (self.if_index is None):
            raise ValueError(f"link of {self.provider}: give exactly one of if_name, if_index")
        return self


class BillingGroupConfig(StrictModel):
    """Providers billed together: their samples are summed before the percentile."""

    name: Name
    """Group name, distinct from every provider name."""
    providers: list[Name] = Field(min_length=2)
    """Member providers."""
    mode: BillingMode | None = None
    """Billing mode of the group; the billing ``mode`` when unset."""
    commit_mbps: float = Field(0.0, ge=0)
    """Commit of the group as a whole (0: none)."""


class BillingConfig(StrictModel):
    """How providers bill: samples, percentile, mode, billing day."""

    sample_s: float = Field(300.0, ge=1, le=3600)
    """Length of one billing sample (5 minutes as billed; shorter in tests and the lab)."""
    percentile: float = Field(95.0, gt=0, le=100)
    """Billed percentile: samples are sorted and the one at rank ceil(p/100 * n) is billed."""
    mode: BillingMode = "greater"
    """Default mode: ``separate`` (in and out each), ``greater`` (the larger of in/out per
    sample) or ``greater_separate`` (the larger of the separate in and out percentiles)."""
    modes: dict[Name, BillingMode] = Field(default_factory=dict)
    """Per-provider modes overriding ``mode``."""
    day: int = Field(1, ge=1, le=28)
    """Billing day: each period starts on this day of the month at 00:00 in ``timezone``."""
    timezone: str = "UTC"
    """IANA time zone of the billing day, e.g. ``Europe/Paris``."""
    groups: list[BillingGroupConfig] = Field(default_factory=list)
    """Providers billed together."""
    projection_samples: int = Field(288, ge=1)
    """Recent samples (a day of 5-minute samples by default) assumed to repeat until the end
    of the period when projecting its percentile."""

    @model_validator(mode="after")
    def _zone(self) -> BillingConfig:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        return self


class TelemetryConfig(StrictModel):
    """Link counters by SNMP: who to poll, how often, and how providers bill."""

    enabled: bool = False
    """Poll at all. Off by default: without it, link rates come from flows (said in status)."""
    interval_s: float = Field(10.0, ge=1, le=300)
    """Poll interval of every agent."""
    agents: list[SnmpAgentConfig] = Field(default_factory=list)
    """SNMP agents (routers)."""
    links: list[LinkConfig] = Field(default_factory=list)
    """Provider interfaces to poll."""
    billing: BillingConfig = Field(default_factory=BillingConfig)
    """Billing samples and percentile."""

    @model_validator(mode="after")
    def _references(self) -> TelemetryConfig:
        names = [a.name for a in self.agents]
        if len(set(names)) != len(names):
            raise ValueError("agents: duplicate name")
        for link in self.links:
            if link.agent not in names:
                raise ValueError(f"link of {link.provider}: unknown agent {link.agent!r}")
        keys = [(lk.agent, lk.if_name, lk.if_index) for lk in self.links]
        if len(set(keys)) != len(keys):
            raise ValueError("links: the same interface is listed twice")
        providers = {lk.provider for lk in self.links}
        for g in self.billing.groups:
            if g.name in providers:
                raise ValueError(f"billing group {g.name}: name clashes with a provider")
        return self

    def check_providers(self, providers: set[str]) -> None:
        """Raise ValueError naming the first link, group or mode of an unknown provider.

        Called by the top-level configuration, which knows the providers' names."""
        for link in self.links:
            if link.provider not in providers:
                raise ValueError(f"telemetry.links: unknown provider {link.provider!r}")
        for g in self.billing.groups:
            for p in g.providers:
                if p not in providers:
                    raise ValueError(f"telemetry.billing.groups.{g.name}: unknown provider {p!r}")
        for p in self.billing.modes:
            if p not in providers:
                raise ValueError(f"telemetry.billing.modes: unknown provider {p!r}")
