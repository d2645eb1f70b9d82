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


class GoBGPConfig(StrictModel):
    """How routepilot runs GoBGP (Debian ``gobgpd``), which it starts and stops itself."""

    command: list[str] = Field(default_factory=lambda: ["gobgpd"])
    """Command that runs gobgpd; routepilot adds the configuration file and the API socket."""
    wrapper: list[str] = Field(default_factory=list)
    """Prefix for the command, e.g. ``[ip, netns, exec, ctl]`` to run it in a namespace."""
    log_level: Literal["debug", "info", "warn", "error"] = "warn"
    """gobgpd's own log level (its output is kept and logged when it dies)."""
    start_timeout: float = Field(20.0, gt=0)
    """Seconds to wait for gobgpd's gRPC API to answer."""
    cpus: int = Field(0, ge=0, le=1024)
    """Go threads running gobgpd at once (``--cpus``); 0: every core."""
    listen: bool = False
    """Also accept the routers' connections, on port 179 of each router's
    ``local_address`` (of every address if one has none). gobgpd waits 5 to 10 s before
    it connects, at start and again after a session drops; a router that connects
    itself brings the session up at once. Needs that port free on those addresses
    (not on a host whose own BGP daemon listens on every address) and the right to
    bind it (root or ``CAP_NET_BIND_SERVICE``)."""


class SpeakerConfig(StrictModel):
    """The BGP speaker that holds routepilot's iBGP sessions with the routers."""

    backend: Literal["exabgp", "gobgp"] = "exabgp"
    """Which implementation: ``exabgp`` (PyPI ExaBGP, run by routepilot) or ``gobgp``
    (Debian ``gobgpd``, run by routepilot and driven over its gRPC API; it learns a
    full table faster and in less memory, see docs/performance.md)."""
    router_id: str | None = None
    """routepilot's BGP identifier; by default the first router's local_address."""
    hold_time: int = Field(9, ge=3, le=65535)
    """BGP hold time in seconds; a hung router (or speaker) is noticed after this long."""
    families: list[AddressFamily] = Field(default_factory=_all_families, min_length=1)
    """Address families negotiated on every session."""
    batch_size: int = Field(1000, ge=1, le=20000)
    """Prefixes per command: an ExaBGP ``announce attributes ... nlri`` line, or a
    GoBGP ``AddPathStream`` message."""
    restart_delay: float = Field(1.0, ge=0)
    """Seconds before a dead speaker is started again."""
    exabgp: ExaBGPConfig = Field(default_factory=ExaBGPConfig)
    """ExaBGP specifics."""
    gobgp: GoBGPConfig = Field(default_factory=GoBGPConfig)
    """GoBGP specifics."""

    @field_validator("router_id")
    @classmethod
    def _check_router_id(cls, value: str | None) -> str | None:
        return None if value is None else _router_id(value)


class BmpConfig(StrictModel):
    """routepilot's BMP station (RFC 7854), for routers whose ``route_source`` uses BMP."""

    listen: str = "::"
    """Address to listen on (``::`` accepts IPv4 too); routers connect to it."""
    port: int = Field(11019, ge=0, le=65535)
    """TCP port (RFC 7854 assigns none; 11019 as GoBGP uses; 0 lets the kernel pick)."""
    max_message: int = Field(262144, ge=4096, le=16 * 2**20)
    """Largest BMP message accepted, in bytes; a longer one closes the session unread."""
    process: bool = True
    """Decode BMP in a process of its own, on another core than the daemon's event loop
    (a full table is millions of messages); ``false`` decodes it in the daemon."""

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        return str(ipaddress.ip_address(value))


class RibConfig(StrictModel):
    """What rib/ learns from the routers."""

    speaker: SpeakerConfig = Field(default_factory=SpeakerConfig)
    """The BGP speaker."""
    bmp: BmpConfig = Field(default_factory=BmpConfig)
    """The BMP station (used only when a router's ``route_source`` is ``bmp`` or ``both``)."""
    default_local_pref: int = Field(100, ge=0, le=2**32 - 1)
    """LOCAL_PREF assumed for a path that carries none (RFC 4271 section 5.1.5)."""
    max_prefixes: int = Field(4_000_000, ge=1)
    """Distinct prefixes the RIB holds; new ones past it are not taken (counted in
    ``routepilot_rib_paths_dropped_total{reason="prefix_limit"}``)."""
    max_paths_per_prefix: int = Field(64, ge=1, le=4096)
    """Paths of one prefix over every router (add-path ids included); more are not
    taken (``prefix_path_limit``)."""
    max_paths_per_router: int = Field(20_000_000, ge=1)
    """Paths learned from one router, like a maximum-prefix limit; more are not taken
    (``router_path_limit``): a leak cannot grow the RIB without bound."""
    sync_quiet_time: float = Field(3.0, gt=0)
    """For a router that sends no End-of-RIB: seconds after its first path, and seconds
    over which its path rate must have fallen to churn (1% of its busiest second),
    before its table counts as whole. While a router's first table since its session came
    up arrives, the quiet time is at least a tenth of how long it has been arriving (at
    most 30 s): a busy speaker stalls for seconds in the middle of a big table.

    FRR and GoBGP send End-of-RIB only when graceful restart is negotiated, which
    routepilot does not do: a router holding our routes through a restart would not
    fail open. Until the routers' tables are whole nothing decides, alerts or warns.
    """
    sync_first_path_wait: float = Field(30.0, gt=0)
    """Seconds after a session comes up with no path and no End-of-RIB before that
    router's table counts as whole and empty (GoBGP sends its first UPDATE seconds
    after the session comes up). From then until it sends, the router is ``silent``:
    the controller is degraded (its status says which router and for how long), and no
    provider is called out for missing routes, since they may be the ones it has not
    sent yet."""
