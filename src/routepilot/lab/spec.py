"""The lab's declarative spec and its addressing plan.

Everything about the lab's shape is decided here, as pure functions of the
spec, so that the builder, the tests and the generated controller config agree
on every address without asking the running lab.

Addressing plan (all inside ranges that are never routed on the host):

- destination prefix k: 198.18.k.0/24 (k < 256), then 198.19.(k-256).0/24;
  IPv6 prefix k: 2001:db8:(0x1000+k)::/48;
- edge <-> provider i: 100.64.i.0/24 (edge .1, provider .2), 2001:db8:ff00:i::/64;
- provider i <-> inet: 100.65.i.0/24 (provider .1, inet .2), 2001:db8:ff01:i::/64;
- edge <-> cust: 100.66.0.0/24 (edge .1, cust .2), 2001:db8:ff66::/64;
- edge <-> ctl: 100.66.1.0/24 (edge .1, ctl .2), 2001:db8:ff66:1::/64;
- ctl's probe source for provider i: 100.67.0.i and 2001:db8:ff67::i.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from routepilot.config.base import StrictModel

MAX_PREFIXES = 512
MAX_PREFIXES_V6 = 256
EDGE_ASN = 65000
DEST_V4 = ipaddress.IPv4Network("198.18.0.0/15")
DEST_V6 = ipaddress.IPv6Network("2001:db8:1000::/36")
CUSTOMER_V4 = "100.66.0.0/15"
CUSTOMER_V6 = "2001:db8:ff66::/47"
NODES_FIXED = ("edge", "inet", "cust", "ctl")


class ProviderSpec(StrictModel):
    """One upstream provider of the lab."""

    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,9}$")
    """Node name (also the interface name on edge)."""
    asn: int = Field(ge=1, le=4294967295)
    """The provider's AS number."""
    capacity_mbps: float = Field(100.0, gt=0, le=10000)
    """Nominal capacity of edge's link to this provider (shaped with TBF when shaping is on)."""
    base_delay_ms: float = Field(0.0, ge=0, le=1000)
    """Nominal one-way latency of this provider toward the internet, added to every
    destination (impairments add to it): gives the lab realistic RTTs."""
    announce: str = "all"
    """Which destination prefixes this provider announces: 'all', or index ranges
    such as '0-31,64-95' (a partial-transit or IX peer)."""

    @field_validator("announce")
    @classmethod
    def _ranges(cls, value: str) -> str:
        if value != "all" and not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", value):
            raise ValueError("expected 'all' or index ranges like '0-31,64-95'")
        return value

    def announced(self, count: int) -> list[int]:
        """Indices of the destination prefixes this provider announces, out of ``count``."""
        if self.announce == "all":
            return list(range(count))
        chosen: set[int] = set()
        for part in self.announce.split(","):
            lo, _, hi = part.partition("-")
            chosen.update(range(int(lo), int(hi or lo) + 1))
        return sorted(k for k in chosen if k < count)


class TrafficSpec(StrictModel):
    """Defaults of the traffic source (`lab traffic start`)."""

    rate_mbps: float = Field(5.0, gt=0, le=1000)
    """Total offered rate."""
    zipf_s: float = Field(1.1, gt=0, le=4)
    """Zipf exponent of the per-prefix share (heavier tail below 1)."""
    duration_s: float = Field(600.0, gt=0, le=86400)
    """Traffic stops by itself after this long."""
    hosts_per_prefix: int = Field(4, ge=1, le=254)
    """Distinct destination addresses used in each prefix."""
    tcp_share: float = Field(0.3, ge=0, le=1)
    """Share of the bytes sent over TCP (the rest is UDP)."""


class ExportSpec(StrictModel):
    """Flow export from edge's provider-facing links to ctl."""

    exporter: Literal["softflowd", "pmacct", "none"] = "softflowd"
    """Which real exporter runs on edge."""
    version: Literal[5, 9, 10] = 9
    """NetFlow version (10 = IPFIX)."""
    port: int = Field(2055, ge=1, le=65535)
    """UDP port on ctl the exports go to."""
    active_timeout_s: int = Field(10, ge=1, le=3600)
    """Long flows are exported at least this often."""


class LabSpec(StrictModel):
    """A multihomed network: edge, providers, the internet, a traffic source, a controller."""

    name: str = Field("rplab", pattern=r"^rplab[a-z0-9]{0,6}$")
    """Lab name; every namespace is called NAME-NODE, so labs never touch each other."""
    providers: list[ProviderSpec] = Field(min_length=2, max_length=8)
    """The upstreams (2 to 8)."""
    prefixes: int = Field(64, ge=1, le=MAX_PREFIXES)
    """Number of IPv4 destination /24s."""
    prefixes_v6: int = Field(16, ge=0, le=MAX_PREFIXES_V6)
    """Number of IPv6 destination /48s."""
    shape: bool = True
    """Shape each provider link to its capacity (TBF) on edge's egress."""
    edge_router: Literal["bird", "frr"] = "bird"
    """Which routing daemon plays the edge router: BIRD 2 or FRR."""
    traffic: TrafficSpec = Field(default_factory=TrafficSpec)
    export: ExportSpec = Field(default_factory=ExportSpec)

    @model_validator(mode="after")
    def _unique(self) -> LabSpec:
        names = [p.name for p in self.providers]
        for bad in set(NODES_FIXED) & set(names):
            raise ValueError(f"provider name {bad!r} is reserved for a lab node")
        if len(set(names)) != len(names):
            raise ValueError("provider names must be unique")
        asns = [p.asn for p in self.providers] + [EDGE_ASN]
        if len(set(asns)) != len(asns):
            raise ValueError(f"provider ASNs must be unique and differ from edge's {EDGE_ASN}")
        for p in self.providers:
            if not p.announced(self.prefixes):
                raise ValueError(
                    f"provider {p.name} announces none of the {self.prefixes} prefixes"
                )
        return self

    # -- the addressing plan -------------------------------------------------

    def index(self, provider: str) -> int:
        """1-based number of a provider, as used in its addresses."""
        for i, p in enumerate(self.providers, start=1):
            if p.name == provider:
                return i
        known = ", ".join(p.name for p in self.providers)
        raise KeyError(f"unknown provider {provider!r} (known: {known})")

    def ns(self, node: str) -> str:
        return f"{self.name}-{node}"

    def nodes(self) -> list[str]:
        return ["edge", *[p.name for p in self.providers], "inet", "cust", "ctl"]

    def prefixes_v4_list(self) -> list[str]:
        return [dest_prefix_v4(k) for k in range(self.prefixes)]

    def prefixes_v6_list(self) -> list[str]:
        return [dest_prefix_v6(k) for k in range(self.prefixes_v6)]

    def prepend(self, provider: str, k: int) -> int:
        """AS-path prepends provider adds to prefix k: distinct per provider, rotating with k,
        so BGP's choice is deterministic and spread over all providers."""
        i = self.index(provider) - 1
        return (k + i) % len(self.providers)

    def bgp_best(self, k: int, v6: bool = False) -> str:
        """The provider BGP's default choice uses for prefix k (the shortest AS path)."""
        count = self.prefixes_v6 if v6 else self.prefixes
        candidates = [p for p in self.providers if v6 or k in p.announced(count)]
        return min(candidates, key=lambda p: self.prepend(p.name, k)).name


def dest_prefix_v4(k: int) -> str:
    if not 0 <= k < MAX_PREFIXES:
        raise ValueError(f"prefix index {k} outside 0..{MAX_PREFIXES - 1}")
    return f"198.{18 + k // 256}.{k % 256}.0/24"


def dest_prefix_v6(k: int) -> str:
    if not 0 <= k < MAX_PREFIXES_V6:
        raise ValueError(f"prefix index {k} outside 0..{MAX_PREFIXES_V6 - 1}")
    return f"2001:db8:{0x1000 + k:x}::/48"


def edge_link(i: int) -> tuple[str, str, str, str]:
    """(edge v4, provider v4, edge v6, provider v6) addresses on edge's link to provider i."""
    return f"100.64.{i}.1", f"100.64.{i}.2", f"2001:db8:ff00:{i}::1", f"2001:db8:ff00:{i}::2"


def inet_link(i: int) -> tuple[str, str, str, str]:
    """(provider v4, inet v4, provider v6, inet v6) on provider i's link to inet."""
    return f"100.65.{i}.1", f"100.65.{i}.2", f"2001:db8:ff01:{i}::1", f"2001:db8:ff01:{i}::2"


CUST_LINK = ("100.66.0.1", "100.66.0.2", "2001:db8:ff66::1", "2001:db8:ff66::2")
CTL_LINK = ("100.66.1.1", "100.66.1.2", "2001:db8:ff66:1::1", "2001:db8:ff66:1::2")


def probe_source(i: int) -> tuple[str, str]:
    """ctl's (IPv4, IPv6) probe source addresses for provider i."""
    return f"100.67.0.{i}", f"2001:db8:ff67::{i:x}"


def probe_table(i: int) -> int:
    """Routing table (and fwmark) on edge that sends traffic out through provider i."""
    return 100 + i


def default_spec(
    providers: int = 3, prefixes: int = 64, name: str = "rplab", edge_router: str = "bird"
) -> LabSpec:
    if not 2 <= providers <= 8:
        raise ValueError(f"providers must be between 2 and 8, got {providers}")
    caps = [100.0, 100.0, 50.0, 200.0, 100.0, 50.0, 100.0, 100.0]
    # Nominal latencies within the latency threshold of each other: BGP's
    # choice is acceptable until something goes wrong.
    delays = [5.0, 8.0, 11.0, 7.0, 9.0, 12.0, 6.0, 10.0]
    return LabSpec(
        name=name,
        providers=[
            ProviderSpec(
                name=f"isp{i}",
                asn=65000 + i,
                capacity_mbps=caps[i - 1],
                base_delay_ms=delays[i - 1],
            )
            for i in range(1, providers + 1)
        ],
        prefixes=prefixes,
        edge_router=edge_router,
    )
