"""Configuration of the routes stage (rib/) and of its BGP speaker."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from routepilot.config.base import StrictModel

AddressFamily = Literal["ipv4 unicast", "ipv6 unicast"]


def _all_families() -> list[AddressFamily]:
    return ["ipv4 unicast", "ipv6 unicast"]


def _router_id(value: str) -> str:
    """A BGP identifier is a non-zero IPv4 address (RFC 6286)."""
    address = ipaddress.IPv4Address(value)
    if int(address) == 0:
        raise ValueError("router_id must not be 0.0.0.0")
    return str(address)


class ExaBGPConfig(StrictModel):
    """How routepilot runs ExaBGP, which it starts and stops itself."""

    command: list[str] = Field(default_factory=list)
    """Command that runs ExaBGP; empty means the ``exabgp`` installed beside routepilot."""
    wrapper: list[str] = Field(default_factory=list)
    """Prefix for the command, e.g. ``[ip, netns, exec, ctl]`` to run it in a namespace."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING"
    """ExaBGP's own log level; below INFO it logs every route, which slows it down."""
    reactor_speed: float = Field(0.1, gt=0, le=1.0)
    """Seconds per ExaBGP reactor loop (``exabgp_reactor_speed``); lower reacts faster."""
    user: str = "root"
    """Account ExaBGP runs as; its default (nobody) may not reach the Python it needs."""
    start_timeout: float = Field(20.0, gt=0)
    """Seconds to wait for ExaBGP and its helper to come up."""


class SpeakerConfig(StrictModel):
    """The BGP speaker that holds routepilot's iBGP sessions with the routers."""

    backend: Literal["exabgp"] = "exabgp"
    """Which implementation: only ExaBGP for now (GoBGP can follow as a new backend)."""
    router_id: str | None = None
    """routepilot's BGP identifier; by default the first router's local_address."""
    hold_time: int = Field(9, ge=3, le=65535)
    """BGP hold time in seconds; a hung router (or speaker) is noticed after this long."""
    families: list[AddressFamily] = Field(default_factory=_all_families, min_length=1)
    """Address families negotiated on every session."""
    batch_size: int = Field(1000, ge=1, le=20000)
    """Prefixes per ``announce attributes ... nlri`` command."""
    restart_delay: float = Field(1.0, ge=0)
    """Seconds before a dead speaker is started again."""
    exabgp: ExaBGPConfig = Field(default_factory=ExaBGPConfig)
    """ExaBGP specifics."""

    @field_validator("router_id")
    @classmethod
    def _check_router_id(cls, value: str | None) -> str | None:
        return None if value is None else _router_id(value)


class RibConfig(StrictModel):
    """What rib/ learns from the routers."""

    speaker: SpeakerConfig = Field(default_factory=SpeakerConfig)
    """The BGP speaker."""
    default_local_pref: int = Field(100, ge=0, le=2**32 - 1)
    """LOCAL_PREF assumed for a path that carries none (RFC 4271 section 5.1.5)."""
    sync_quiet_time: float = Field(3.0, gt=0)
    """Seconds without updates after which a router that sends no End-of-RIB counts as synced.

    FRR sends End-of-RIB only when graceful restart is negotiated, which routepilot
    does not do: a router holding our routes through a restart would not fail open.
    """
