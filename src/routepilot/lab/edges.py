"""The two-edge lab (``edges: 2``) and its route reflector (``reflector: true``).

`edge2` is a second edge router (BIRD) with providers of its own and one provider
shared with `edge`; a customer (`cust2`) sits behind it. The edges run iBGP with
each other (or each with the reflector `rr`, FRR, when there is one), and every
provider's next hop resolves on both edges: each edge's BIRD holds static IGP
routes to the other edge's provider links, so a route naming any provider's
address (an iBGP path, or the one routepilot injects) is usable on either edge.

Addressing, beside the plan in `spec.py`:

- edge2 <-> provider i: 100.64.(16+i).0/24 (edge2 .1, provider .2), 2001:db8:ff00:(16+i)::/64;
- edge <-> edge2: 100.66.3.0/24 (edge .1, edge2 .2), 2001:db8:ff66:3::/64;
- edge2 <-> cust2: 100.66.4.0/24 (edge2 .1, cust2 .2), 2001:db8:ff66:4::/64;
- edge <-> rr: 100.66.5.0/24 (edge .1, rr .2), 2001:db8:ff66:5::/64.

The controller in `ctl` reaches edge2 and rr through edge (multihop iBGP). A
probe source of a provider edge does not reach is policy-routed by edge to
edge2, which sends it to that provider.
"""

from __future__ import annotations

from routepilot.lab.spec import (
    CUSTOMER_V4,
    CUSTOMER_V6,
    EDGE_ASN,
    LabSpec,
    edge_link,
    inet_link,
    probe_source,
    probe_table,
)

EDGES_LINK = ("100.66.3.1", "100.66.3.2", "2001:db8:ff66:3::1", "2001:db8:ff66:3::2")
CUST2_LINK = ("100.66.4.1", "100.66.4.2", "2001:db8:ff66:4::1", "2001:db8:ff66:4::2")
CUST2_V4, CUST2_V6 = "100.66.4.0/24", "2001:db8:ff66:4::/64"
RR_LINK = ("100.66.5.1", "100.66.5.2", "2001:db8:ff66:5::1", "2001:db8:ff66:5::2")
EDGE2_OFFSET = 16


def edge2_link(i: int) -> tuple[str, str, str, str]:
    """(edge2 v4, provider v4, edge2 v6, provider v6) on edge2's link to provider i."""
    n = EDGE2_OFFSET + i
    return f"100.64.{n}.1", f"100.64.{n}.2", f"2001:db8:ff00:{n:x}::1", f"2001:db8:ff00:{n:x}::2"


def link_of(node: str, i: int) -> tuple[str, str, str, str]:
    """An edge router's link to provider i (edge or edge2)."""
    return edge2_link(i) if node == "edge2" else edge_link(i)


def router_address(node: str) -> tuple[str, str]:
    """(v4, v6) of an edge router or the reflector as the controller and the other edge
    reach it: edge's and edge2's ends of their link, rr's end of its link to edge."""
    if node == "rr":
        return RR_LINK[1], RR_LINK[3]
    if node == "edge2":
        return EDGES_LINK[1], EDGES_LINK[3]
    return EDGES_LINK[0], EDGES_LINK[2]


def _addr(ifname: str, v4: str, v6: str) -> list[str]:
    return [
        f"addr add {v4}/24 dev {ifname}",
        f"addr add {v6}/64 dev {ifname} nodad",
        f"link set {ifname} up",
    ]


def veths(spec: LabSpec) -> list[tuple[str, str, str, str]]:
    """(node, ifname, peer node, peer ifname) of every link the two-edge lab adds."""
    if spec.edges < 2:
        return []
    links = [(p.name, "edge2") for p in spec.edge_providers("edge2")]
    out = [("edge2", name, name, peer) for name, peer in links]
    out += [("edge", "edge2", "edge2", "edge"), ("edge2", "cust2", "cust2", "edge2")]
    if spec.reflector:
        out.append(("edge", "rr", "rr", "edge"))
    return out


def remote_provider(spec: LabSpec, out: dict[str, list[str]], i: int) -> None:
    """Provider i's lines when edge does not reach it (its link to inet; the rest is in
    :func:`batches`, once edge2's links exist)."""
    p = spec.providers[i - 1]
    out[p.name] += _addr("inet", *_inet_ends(i))


def _inet_ends(i: int) -> tuple[str, str]:
    i4, _, i6, _ = inet_link(i)
    return i4, i6


def batches(spec: LabSpec, out: dict[str, list[str]]) -> None:
    """Adds edge2's, cust2's and rr's `ip` lines (and their peers') to ``out``."""
    if spec.edges < 2:
        return
    edge, edge2, cust2 = out["edge"], out["edge2"], out["cust2"]
    a4, b4, a6, b6 = EDGES_LINK
    edge += _addr("edge2", a4, a6)
    edge2 += _addr("edge", b4, b6)
    c4, d4, c6, d6 = CUST2_LINK
    edge2 += _addr("cust2", c4, c6)
    cust2 += _addr("edge2", d4, d6)
    cust2 += [f"route add default via {c4}", f"-6 route add default via {c6}"]
    # cust2 behind edge2; the customer, controller and reflector ranges behind edge.
    edge += [f"route add {CUST2_V4} via {b4}", f"-6 route add {CUST2_V6} via {b6}"]
    edge2 += [f"route add {CUSTOMER_V4} via {a4}", f"-6 route add {CUSTOMER_V6} via {a6}"]
    for p in spec.edge_providers("edge2"):
        i = spec.index(p.name)
        e4, p4, e6, p6 = edge2_link(i)
        edge2 += _addr(p.name, e4, e6)
        isp = out[p.name]
        isp += _addr("edge2", p4, p6)
        if "edge" in spec.provider_edges(p.name):
            # Shared: replies to cust2 come back through edge2, the rest through edge.
            isp += [f"route add {CUST2_V4} via {e4}", f"-6 route add {CUST2_V6} via {e6}"]
        else:
            isp += [f"route add {CUSTOMER_V4} via {e4}", f"-6 route add {CUSTOMER_V6} via {e6}"]
            t = probe_table(i)
            s4, s6 = probe_source(i)
            # edge sends this provider's probe sources to edge2, which sends them on.
            edge += [
                f"route add default via {b4} dev edge2 table {t}",
                f"-6 route add default via {b6} dev edge2 table {t}",
                f"rule add from {s4} lookup {t} pref {t}",
                f"-6 rule add from {s6} lookup {t} pref {t}",
            ]
            edge2 += [
                f"route add default via {p4} dev {p.name} table {t}",
                f"-6 route add default via {p6} dev {p.name} table {t}",
                f"rule add from {s4} lookup {t} pref {t}",
                f"-6 rule add from {s6} lookup {t} pref {t}",
            ]
    if spec.reflector:
        r4, q4, r6, q6 = RR_LINK
        edge += _addr("rr", r4, r6)
        out["rr"] += _addr("edge", q4, q6) + [
            f"route add default via {r4}",
            f"-6 route add default via {r6}",
        ]  # fmt: skip


def shaped(spec: LabSpec) -> list[tuple[str, str, float]]:
    """(node, interface, Mbps) of edge2's provider links, shaped like edge's."""
    if spec.edges < 2 or not spec.shape:
        return []
    return [("edge2", p.name, p.capacity_mbps) for p in spec.edge_providers("edge2")]


# -- BIRD on the edges -------------------------------------------------------------


def _igp_routes(spec: LabSpec, node: str) -> list[str]:
    """Static IGP routes on ``node`` to the other edge's provider links (through the
    edge-to-edge link), so that every provider's next hop resolves on both edges."""
    other = "edge2" if node == "edge" else "edge"
    via4, via6 = router_address(other)
    v4, v6 = [], []
    for p in spec.edge_providers(other):
        _, p4, _, p6 = link_of(other, spec.index(p.name))
        v4.append(f"    route {p4.rsplit('.', 1)[0]}.0/24 via {via4};")
        v6.append(f"    route {p6.rsplit('::', 1)[0]}::/64 via {via6};")
    return [
        "protocol static igp4 {\n    ipv4;\n" + "\n".join(v4) + "\n}",
        "protocol static igp6 {\n    ipv6;\n" + "\n".join(v6) + "\n}",
    ]


_FAST = """\
    connect delay time 1;
    connect retry time 2;
    error wait time 1, 5;
    error forget time 10;"""

# The edges send each other (or the reflector) every path they learned by eBGP, next
# hop unchanged: add-path, so that the reflector can pass all of them to the controller.
_IBGP = "add paths on; import all; export where source = RTS_BGP; next hop keep;"


def ibgp_sessions(spec: LabSpec, node: str) -> list[str]:
    """``node``'s iBGP with the other edge, or with the reflector when there is one."""
    if spec.edges < 2:
        return []
    if spec.reflector:
        # Not "rr": a keyword of BIRD's configuration language.
        name, peer = "reflector", RR_LINK[1]
    else:
        name, peer = ("edge2", EDGES_LINK[1]) if node == "edge" else ("edge", EDGES_LINK[0])
    local = router_address(node)[0] if not (node == "edge" and spec.reflector) else RR_LINK[0]
    return [
        f"protocol bgp {name} {{\n"
        f'    description "iBGP {name}";\n'
        f"    local {local} as {EDGE_ASN};\n"
        f"    neighbor {peer} as {EDGE_ASN};\n"
        f"{_FAST}\n"
        "    hold time 9;\n"
        f"    ipv4 {{ {_IBGP} }};\n"
        f"    ipv6 {{ {_IBGP} }};\n"
        "}",
        *_igp_routes(spec, node),
    ]


# -- the controller's view of the edges ------------------------------------------------


def next_hops(spec: LabSpec, i: int) -> list[str]:
    """Provider i's next hops: its address on each edge router's link to it."""
    out: list[str] = []
    for node in spec.provider_edges(spec.providers[i - 1].name):
        _, p4, _, p6 = link_of(node, i)
        out += [p4, p6]
    return out


def routers(spec: LabSpec, own4: str) -> list[dict] | None:
    """The controller's ``routers`` in a two-edge lab (None: the one-edge lab's).

    Each edge lists the providers it reaches. A provider only the other edge reaches is
    used through that edge's address on their link; a shared provider, through the
    edge's own link to it (its own next hop, where it differs from the provider's
    first). With the reflector, routepilot's only session is with rr."""
    if spec.edges < 2:
        return None
    if spec.reflector:
        return [
            {"name": "rr", "address": RR_LINK[1], "asn": EDGE_ASN, "local_address": own4,
             "route_reflector": True}
        ]  # fmt: skip
    out = []
    for node in spec.edge_nodes():
        other = "edge2" if node == "edge" else "edge"
        mine = [p.name for p in spec.edge_providers(node)]
        hops: dict[str, list[str]] = {}
        for p in spec.providers:
            i = spec.index(p.name)
            if p.name not in mine:
                hops[p.name] = list(router_address(other))
            elif node != spec.provider_edges(p.name)[0]:
                _, p4, _, p6 = link_of(node, i)
                hops[p.name] = [p4, p6]
        address = "100.66.1.1" if node == "edge" else router_address(node)[0]
        out.append(
            {"name": node, "address": address, "asn": EDGE_ASN, "local_address": own4,
             "providers": mine, "next_hops": hops}
        )  # fmt: skip
    return out


def flow_interfaces(
    spec: LabSpec, provider: str, exporter: str, indexes: dict[str, int],
    edge2_indexes: dict[str, int],
) -> list[dict]:  # fmt: skip
    """The exporter interfaces facing ``provider``: edge's (exporting from ``exporter``)
    and edge2's (exporting from its end of the edge link, its way to ctl)."""
    out = []
    if provider in indexes:
        out.append({"exporter": exporter, "ifindex": indexes[provider]})
    if provider in edge2_indexes:
        out.append({"exporter": EDGES_LINK[1], "ifindex": edge2_indexes[provider]})
    return out
