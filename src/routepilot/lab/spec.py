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

With two controllers (``controllers: 2``, the HA lab):

- edge <-> ctl2: 100.66.2.0/24 (edge .1, ctl2 .2), 2001:db8:ff66:2::/64;
- ctl2's probe source for provider i: 100.67.1.i and 2001:db8:ff67:1::i;
- ctl <-> db: 100.68.1.0/24 (ctl .1, db .2); ctl2 <-> db: 100.68.2.0/24 (ctl2 .1, db .2).
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
ORIGIN_ASN_BASE = 64600
DEST_V4 = ipaddress.IPv4Network("198.18.0.0/15")
DEST_V6 = ipaddress.IPv6Network("2001:db8:1000::/36")
CUSTOMER_V4 = "100.66.0.0/15"
CUSTOMER_V6 = "2001:db8:ff66::/47"
NODES_FIXED = ("edge", "inet", "cust", "ctl", "ctl2", "db", "edge2", "cust2", "rr")
EDGE_NODES = ("edge", "edge2")
MAX_TRANSITS = 8
TRANSIT_ASN_BASE = 64500
"""Transit tJ has AS ``64500 + J``: below the origins (64600 …), apart from the providers."""


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
    edges: list[Literal["edge", "edge2"]] = Field(default_factory=list)
    """The edge routers this provider is connected to, in a lab with ``edges: 2``; empty:
    the lab's default (isp2 on both; isp1, isp4, isp6 … on edge; isp3, isp5 … on edge2)."""

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

    name: str = Field("rplab", pattern=r"^[a-z][a-z0-9]{0,10}$")
    """Lab name; every namespace is called NAME-NODE, so labs never touch each other. The
    lab's own names start with ``rplab``; a bench run beside them (the soak while a test
    run holds the lab lock) takes another name, such as ``bsk1``."""
    providers: list[ProviderSpec] = Field(min_length=2, max_length=8)
    """The upstreams (2 to 8)."""
    prefixes: int = Field(64, ge=1, le=MAX_PREFIXES)
    """Number of IPv4 destination /24s."""
    prefixes_v6: int = Field(16, ge=0, le=MAX_PREFIXES_V6)
    """Number of IPv6 destination /48s."""
    origin_asns: int = Field(16, ge=0, le=1000)
    """Destination prefix k is originated by AS ``ORIGIN_ASN_BASE + k % origin_asns`` (64600
    …), the last AS of every provider's path to it, so that rules by origin AS mean
    something in the lab; 0: no origin AS (paths end in the provider's own AS)."""
    shape: bool = True
    """Shape each provider link to its capacity (TBF) on edge's egress."""
    edge_router: Literal["bird", "frr"] = "bird"
    """Which routing daemon plays the edge router: BIRD 2 or FRR."""
    edges: int = Field(1, ge=1, le=2)
    """Edge routers: 1 (`edge`), or 2 (`edge` and `edge2`, BIRD), each with its own
    providers and one provider on both, iBGP between them and a customer behind each
    (`cust`, `cust2`); the controller peers with both."""
    reflector: bool = False
    """A route reflector (FRR, node `rr`) that the edges and the controller peer with
    instead of each other (with ``edges: 2``)."""
    traffic: TrafficSpec = Field(default_factory=TrafficSpec)
    export: ExportSpec = Field(default_factory=ExportSpec)
    snmp: bool = False
    """Run net-snmp's snmpd on edge (its own interface counters) and have the controller
    poll it: link rates and billing from SNMP instead of flows."""
    billing_sample_s: float = Field(300.0, ge=1, le=3600)
    """Billing sample length of the controller (5 minutes as providers bill; the tests use
    5 s so that a period's samples accumulate in seconds)."""
    controllers: int = Field(1, ge=1, le=2)
    """Controller nodes: 1 (`ctl`, SQLite), or 2 for an active/standby pair (`ctl` and
    `ctl2`, both peering with edge) on a PostgreSQL server in node `db`."""
    transits: int = Field(0, ge=0, le=MAX_TRANSITS)
    """Transit ASes between the providers and the internet (`lab up --transit N`): 0 (the
    default) links every provider straight to `inet`; N > 0 adds nodes t1 … tN, each a BIRD
    router with its own AS (``TRANSIT_ASN_BASE + J``), so that paths read (provider,
    transit, origin) and some providers share a transit (see `lab/transit.py`)."""
    bmp: bool = False
    """The edge router also sends BMP (RFC 7854, post-policy Adj-RIB-In of every session)
    to the controller's BMP station (``BMP_PORT`` on ctl). Needs the FRR edge
    (``bgpd -M bmp``): BIRD 2.0.12 has no BMP."""
    ix_peers: int = Field(0, ge=0, le=8)
    """An exchange LAN with this many peers (``ix1`` … , BIRD), each announcing a slice of
    the IPv4 destinations (lab/ix.py); 0: none. Needs the BIRD edge."""

    @model_validator(mode="after")
    def _unique(self) -> LabSpec:
        names = [p.name for p in self.providers]
        for bad in set(NODES_FIXED) & set(names):
            raise ValueError(f"provider name {bad!r} is reserved for a lab node")
        if len(set(names)) != len(names):
            raise ValueError("provider names must be unique")
        if self.controllers > 1 and self.edge_router != "bird":
            raise ValueError("two controllers need the BIRD edge (edge_router: bird)")
        _check_edges(self)
        if self.bmp and self.edge_router != "frr":
            raise ValueError("bmp needs the FRR edge (edge_router: frr): BIRD 2.0.12 has no BMP")
        if self.ix_peers and self.edge_router != "bird":
            raise ValueError("ix_peers needs the BIRD edge (edge_router: bird)")
        if self.ix_peers and self.controllers > 1:
            raise ValueError("ix_peers needs one controller (the peers' probe sources are ctl's)")
        for bad in {f"ix{k}" for k in range(1, self.ix_peers + 1)} & set(names):
            raise ValueError(f"provider name {bad!r} is taken by an exchange peer")
        asns = [p.asn for p in self.providers] + [EDGE_ASN]
        if len(set(asns)) != len(asns):
            raise ValueError(f"provider ASNs must be unique and differ from edge's {EDGE_ASN}")
        if any(re.fullmatch(r"t\d+", n) for n in names) and self.transits:
            raise ValueError("provider names tN are reserved for transit nodes")
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
        extra = ["ctl2", "db"] if self.controllers > 1 else []
        extra += ["edge2", "cust2"] if self.edges > 1 else []
        extra += ["rr"] if self.reflector else []
        transits = self.transit_names()
        peers = [f"ix{k}" for k in range(1, self.ix_peers + 1)]
        return [
            "edge", *[p.name for p in self.providers], *transits, "inet", "cust", "ctl", *extra,
            *peers,
        ]  # fmt: skip

    def transit_names(self) -> list[str]:
        """The transit nodes (t1 … tN), none in the default lab."""
        return [f"t{j}" for j in range(1, self.transits + 1)]

    def edge_nodes(self) -> list[str]:
        """The edge routers: `edge`, and `edge2` in a two-edge lab."""
        return list(EDGE_NODES[: self.edges])

    def provider_edges(self, provider: str) -> list[str]:
        """The edge routers ``provider`` is connected to."""
        i = self.index(provider)
        p = self.providers[i - 1]
        if self.edges == 1:
            return ["edge"]
        if p.edges:
            return [e for e in EDGE_NODES if e in p.edges]
        if i == 2:
            return ["edge", "edge2"]
        # The others alternate: isp1 on edge, isp3 on edge2, isp4 on edge …
        rest = [k for k in range(1, len(self.providers) + 1) if k != 2]
        return [EDGE_NODES[rest.index(i) % 2]]

    def edge_providers(self, node: str = "edge") -> list[ProviderSpec]:
        """The providers an edge router is connected to, in spec order."""
        return [p for p in self.providers if node in self.provider_edges(p.name)]

    def controller_nodes(self) -> list[str]:
        """The controller nodes, in the order of their API ports (8080, 8081)."""
        return ["ctl", "ctl2"][: self.controllers]

    def prefixes_v4_list(self) -> list[str]:
        return [dest_prefix_v4(k) for k in range(self.prefixes)]

    def prefixes_v6_list(self) -> list[str]:
        return [dest_prefix_v6(k) for k in range(self.prefixes_v6)]

    def prepend(self, provider: str, k: int) -> int:
        """AS-path prepends provider adds to prefix k: distinct per provider, rotating with k,
        so BGP's choice is deterministic and spread over all providers."""
        i = self.index(provider) - 1
        return (k + i) % len(self.providers)

    def origin_asn(self, k: int) -> int | None:
        """The AS that originates destination prefix k (IPv4 and IPv6 alike), if any."""
        return ORIGIN_ASN_BASE + k % self.origin_asns if self.origin_asns else None

    def bgp_best(self, k: int, v6: bool = False) -> str:
        """The provider BGP's default choice uses for prefix k (the shortest AS path)."""
        count = self.prefixes_v6 if v6 else self.prefixes
        candidates = [p for p in self.providers if v6 or k in p.announced(count)]
        return min(candidates, key=lambda p: self.prepend(p.name, k)).name


def _check_edges(spec: LabSpec) -> None:
    if spec.edges > 1 and spec.edge_router != "bird":
        raise ValueError("two edges need the BIRD edge router (edge_router: bird)")
    if spec.edges > 1 and spec.controllers > 1:
        raise ValueError("two edges and two controllers are not combined in one lab")
    if spec.reflector and spec.edges < 2:
        raise ValueError("the route reflector lab needs two edges (edges: 2)")
    for p in spec.providers:
        if p.edges and spec.edges < 2:
            raise ValueError(f"provider {p.name}: edges is for a lab with edges: 2")
    for node in spec.edge_nodes():
        if not spec.edge_providers(node):
            raise ValueError(f"{node} has no provider: give it one (providers[].edges)")


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


def probe_source(i: int, node: str = "ctl") -> tuple[str, str]:
    """A controller node's (IPv4, IPv6) probe source addresses for provider i."""
    if node == "ctl2":
        return f"100.67.1.{i}", f"2001:db8:ff67:1::{i:x}"
    return f"100.67.0.{i}", f"2001:db8:ff67::{i:x}"


CTL2_LINK = ("100.66.2.1", "100.66.2.2", "2001:db8:ff66:2::1", "2001:db8:ff66:2::2")


def controller_link(node: str) -> tuple[str, str, str, str]:
    """(edge v4, controller v4, edge v6, controller v6) on edge's link to a controller node."""
    return CTL2_LINK if node == "ctl2" else CTL_LINK


def db_link(node: str) -> tuple[str, str]:
    """(controller v4, db v4) on a controller node's link to the database node."""
    n = 2 if node == "ctl2" else 1
    return f"100.68.{n}.1", f"100.68.{n}.2"


DB_PORT = 5432
BMP_PORT = 11019
"""The controller's BMP station port in the lab (routepilot's default ``rib.bmp.port``)."""


def probe_table(i: int) -> int:
    """Routing table (and fwmark) on edge that sends traffic out through provider i."""
    return 100 + i


def default_spec(
    providers: int = 3,
    prefixes: int = 64,
    name: str = "rplab",
    edge_router: str = "bird",
    controllers: int = 1,
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
        controllers=controllers,
    )


def with_transits(spec: LabSpec, transits: int) -> LabSpec:
    """``spec`` with ``transits`` transit ASes between its providers and the internet."""
    if not 0 <= transits <= MAX_TRANSITS:
        raise ValueError(f"--transit must be between 0 and {MAX_TRANSITS}, got {transits}")
    return LabSpec.model_validate({**spec.model_dump(), "transits": transits})
