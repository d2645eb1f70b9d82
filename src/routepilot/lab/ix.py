"""The lab's exchange LAN (`lab up --ix-peers N`): N peers on one shared LAN with edge.

The exchange is a Linux bridge ``ix`` in edge's namespace holding edge's address
on the LAN (100.69.0.1/24); every peer ``ixK`` plugs into it by its own port
(``ixpK``, a veth whose other end is ``lan`` in the peer's namespace) and has
100.69.0.(10+K). So all peers share one subnet and one edge interface, as on a
real exchange, and edge's BGP next hop for each peer's routes is the peer's LAN
address. The bridge's ports play the exchange switch's member ports: the flow
exporter runs on each port (a real exchange exports sFlow per member port), so
traffic is attributed per peer, and each port is shaped to the peer's capacity.

Each peer (BIRD, AS 65100+K) reaches the internet by its own link
(100.70.K.0/24: peer .1, inet .2) and announces one slice of the IPv4
destinations over a direct peering path (its AS, then the origin's): a partial
table. The last slice is announced by no peer. Peers carry no IPv6.
Probe source for peer K: 100.67.0.(100+K), steered by edge's table 200+K.
"""

from __future__ import annotations

from routepilot.lab.spec import (
    CUSTOMER_V4,
    EDGE_ASN,
    LabSpec,
    dest_prefix_v4,
    probe_table,
)

EXCHANGE = "ix"
"""The exchange's name (the bridge on edge, and ``exchange`` in the controller's config)."""
LAN_EDGE = "100.69.0.1"
PEER_ASN_BASE = 65100
PEER_CAPACITY_MBPS = 100.0

_TIMERS = """\
    connect delay time 1;
    connect retry time 2;
    error wait time 1, 5;
    error forget time 10;"""


def peers(spec: LabSpec) -> list[str]:
    """The peers' node names, ix1 … ixN (none without an exchange)."""
    return [f"ix{k}" for k in range(1, spec.ix_peers + 1)]


def number(peer: str) -> int:
    return int(peer.removeprefix("ix"))


def lan_address(peer: str) -> str:
    return f"100.69.0.{10 + number(peer)}"


def port(peer: str) -> str:
    """The bridge port on edge that the peer plugs into."""
    return f"ixp{number(peer)}"


def asn(peer: str) -> int:
    return PEER_ASN_BASE + number(peer)


def inet_link(peer: str) -> tuple[str, str]:
    """(peer v4, inet v4) on the peer's own link to the internet."""
    k = number(peer)
    return f"100.70.{k}.1", f"100.70.{k}.2"


def slot(peer: str) -> int:
    """The peer's number among the lab's exits, after the providers' 1..8: probe source
    100.67.0.(100+K), edge's table 200+K, inet's connection mark 100+K."""
    return 100 + number(peer)


def probe_source(peer: str) -> str:
    return f"100.67.0.{slot(peer)}"


def announced(spec: LabSpec, peer: str) -> list[int]:
    """Indices of the IPv4 destinations the peer announces: slice K of N+1 equal slices
    (the last slice is nobody's at the exchange)."""
    size = max(1, spec.prefixes // (spec.ix_peers + 1))
    k = number(peer)
    return [i for i in range((k - 1) * size, k * size) if i < spec.prefixes]


# -- topology -------------------------------------------------------------------------


def links(spec: LabSpec) -> list[tuple[str, str, str, str]]:
    """(namespace, interface, peer namespace, peer interface) of every veth the exchange
    needs: edge's bridge ports and each peer's link to the internet."""
    out = []
    for peer in peers(spec):
        out.append((spec.ns("edge"), port(peer), spec.ns(peer), "lan"))
        out.append((spec.ns(peer), "inet", spec.ns("inet"), peer))
    return out


def batches(spec: LabSpec) -> dict[str, list[str]]:
    """The `ip` commands of the exchange, per node (added after the lab's own)."""
    if not spec.ix_peers:
        return {}
    edge = [
        f"link add {EXCHANGE} type bridge",
        f"addr add {LAN_EDGE}/24 dev {EXCHANGE}",
        f"link set {EXCHANGE} up",
    ]
    out: dict[str, list[str]] = {"edge": edge, "inet": []}
    for peer in peers(spec):
        lan = lan_address(peer)
        p4, n4 = inet_link(peer)
        t, s4 = probe_table(slot(peer)), probe_source(peer)
        edge += [
            f"link set {port(peer)} master {EXCHANGE}",
            f"link set {port(peer)} up",
            # Probe steering: this peer's probe source leaves by the peer.
            f"route add default via {lan} dev {EXCHANGE} table {t}",
            f"rule add from {s4} lookup {t} pref {t}",
        ]
        out[peer] = [
            f"addr add {lan}/24 dev lan",
            "link set lan up",
            f"addr add {p4}/24 dev inet",
            "link set inet up",
            f"route add {CUSTOMER_V4} via {LAN_EDGE}",
        ]
        # inet answers through the peer a connection came in by (ct mark 100+K).
        out["inet"] += [
            f"addr add {n4}/24 dev {peer}",
            f"link set {peer} up",
            f"route add {CUSTOMER_V4} via {p4} table {t}",
            f"rule add fwmark {slot(peer)} lookup {t} pref {t}",
        ]
    out["ctl"] = [f"addr add {probe_source(peer)}/32 dev lo" for peer in peers(spec)]
    return out


def inet_marks(spec: LabSpec) -> list[str]:
    """Entries of inet's interface -> connection mark map for the peers' links."""
    return [f'"{peer}" : {slot(peer)}' for peer in peers(spec)]


def shaping(spec: LabSpec) -> list[list[str]]:
    """Each bridge port shaped (TBF) to its peer's capacity, as the lab shapes providers."""
    rate = f"{int(PEER_CAPACITY_MBPS * 1000)}kbit"
    return [
        ["tc", "qdisc", "replace", "dev", port(peer), "root", "tbf", "rate", rate,
         "burst", "256kb", "latency", "50ms"]
        for peer in peers(spec)
    ]  # fmt: skip


# -- routers --------------------------------------------------------------------------


def edge_sessions(spec: LabSpec) -> list[str]:
    """BIRD protocols on edge: one eBGP session per peer over the exchange LAN."""
    return [
        f"protocol bgp {peer} {{\n"
        f'    description "exchange peer {peer}";\n'
        f"    local {LAN_EDGE} as {EDGE_ASN};\n"
        f"    neighbor {lan_address(peer)} as {asn(peer)};\n"
        f"{_TIMERS}\n"
        "    ipv4 { import all; export none; };\n"
        "}"
        for peer in peers(spec)
    ]


def peer_config(spec: LabSpec, peer: str, log_path: str) -> str:
    """BIRD on a peer: its slice of the destinations via its internet link, announced to
    edge with the origin AS after its own, prepended so that the path is longer than any
    provider's: BGP's choice stays the transit's, and a move to a peer is routepilot's."""
    _, n4 = inet_link(peer)
    nets = [dest_prefix_v4(k) for k in announced(spec, peer)]
    static = "\n".join(f"    route {n} via {n4};" for n in nets)
    rules = []
    for k in announced(spec, peer):
        origin = spec.origin_asn(k)
        prepend = f"bgp_path.prepend({origin}); " if origin else ""
        own = f"bgp_path.prepend({asn(peer)}); " * len(spec.providers)
        rules.append(f"    if net = {dest_prefix_v4(k)} then {{ {prepend}{own}}}")
    body = "\n".join(rules)
    return f"""\
log "{log_path}" all;
router id {lan_address(peer)};
protocol device {{ scan time 5; }}
protocol direct {{ ipv4; }}
protocol kernel kernel4 {{ ipv4 {{ export where source = RTS_STATIC; import none; }}; }}
protocol static static4 {{
    ipv4;
{static}
}}
filter to_edge {{
    if source != RTS_STATIC then reject;
{body}
    accept;
}}
protocol bgp edge {{
    local {lan_address(peer)} as {asn(peer)};
    neighbor {LAN_EDGE} as {EDGE_ASN};
{_TIMERS}
    ipv4 {{ import none; export filter to_edge; }};
}}
"""


def sessions(spec: LabSpec) -> set[str]:
    """Edge's session names toward the peers (BIRD protocol names)."""
    return set(peers(spec))


# -- the controller -------------------------------------------------------------------


def controller_providers(spec: LabSpec, exporter: str, ifindexes: dict[str, int]) -> list[dict]:
    """The peers as the controller's providers: one each, its LAN next hop, its own
    capacity and probe source, its bridge port's flows, and the exchange they share."""
    return [
        {
            "name": peer,
            "asn": asn(peer),
            "next_hops": [lan_address(peer)],
            "capacity_mbps": PEER_CAPACITY_MBPS,
            "probe": {"source": probe_source(peer)},
            "flow_interfaces": [{"exporter": exporter, "ifindex": ifindexes[port(peer)]}],
            "exchange": EXCHANGE,
        }
        for peer in peers(spec)
    ]
