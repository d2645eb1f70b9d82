"""Configuration of leadership (ha/): an active/standby pair on one PostgreSQL."""

from __future__ import annotations

import socket

from pydantic import Field, model_validator

from routepilot.config.base import StrictModel


class HaConfig(StrictModel):
    """Active/standby: instances on one PostgreSQL database, one of them holding a fenced
    lease. Only the holder announces; the others keep their BGP sessions, flows and
    probes up and take over when the lease expires (see docs/ha.md)."""

    enabled: bool = False
    """Take part in leadership (needs `store.kind: postgresql`). Off: this instance is
    always active and writes unfenced, so every instance on one database must enable it."""
    node: str = Field("", pattern=r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})?$")
    """This instance's name in the lease, `GET /api/v1/ha` and the standby's errors
    (empty: the host name). Unique among the instances."""
    api_url: str = ""
    """Where operators reach this instance's API (`http://ctl1.example:8080`), shown by
    the other instances when they refuse a write as standby."""
    lease_s: float = Field(15.0, ge=2, le=300)
    """How long a lease lasts without renewal: the longest a dead active keeps the
    network without optimization before a standby takes over."""
    renew_s: float = Field(1.0, gt=0, le=60)
    """How often the active renews its lease (and a standby looks for an expired one)."""
    margin_s: float = Field(2.0, gt=0, le=120)
    """The active withdraws every route when its last successful renewal is older than
    `lease_s - margin_s`: this is the time its withdrawal has to reach the routers
    before a standby may announce, and covers the hosts' clock drift."""

    resume_max_age_s: float = Field(120.0, ge=0)
    """At takeover, the improvements in force in the shared state are announced at once
    when it was saved this recently (the active saves it every round); else the new
    active decides anew from its own measurements."""

    @model_validator(mode="after")
    def _timings(self) -> HaConfig:
        if self.margin_s >= self.lease_s:
            raise ValueError(
                f"margin_s ({self.margin_s:g}) must be below lease_s ({self.lease_s:g})"
            )
        if self.renew_s * 2 > self.lease_s - self.margin_s:
            raise ValueError(
                f"renew_s ({self.renew_s:g}) must fit twice in lease_s - margin_s "
                f"({self.lease_s - self.margin_s:g}): one missed renewal must not cost the lease"
            )
        return self

    def node_name(self) -> str:
        """The configured node name, else the host's name."""
        return self.node or socket.gethostname()
