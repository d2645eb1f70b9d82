"""Builds the lab's namespaces, links, addresses and kernel routing from the spec.

Pure generation of `ip` batch lines per namespace (testable without root), and
one function that applies them.
"""

from __future__ import annotations

from routepilot.lab import edges, ix, transit
from routepilot.lab.netns import add_namespace, ip_batch, nsrun, run, sysctl
from routepilot.lab.spec import (
    CTL_LINK,
    CUST_LINK,
    CUSTOMER_V4,
    CUSTOMER_V6,
    DEST_V4,
    DEST_V6,
    LabSpec,
    controller_link,
    db_link,
    edge_link,
    inet_link,
    probe_source,
    probe_table,
)

_ROUTER_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv6.conf.all.forwarding": "1",
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    # ICMP errors (time exceeded for traceroute, unreachables) are measurements
    # here, not noise: never rate-limit them.
    "net.ipv4.icmp_ratelimit": "0",
    "net.ipv4.icmp_msgs_per_sec": "1000000",
    "net.ipv4.icmp_msgs_burst": "1000000",
    "net.ipv6.icmp.ratelimit": "0",
    "net.ipv6.conf.all.accept_dad": "0",
    "net.ipv6.conf.default.accept_dad": "0",
    # Unprivileged ICMP ("ping") sockets, closed by default in a new namespace.
    "net.ipv4.ping_group_range": "0 2147483647",
}

_NFT_INET = """\
table inet rplab_return {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    ct state new ct mark set meta iifname map { %(marks)s }
  }
  chain output {
    type route hook output priority mangle; policy accept;
    meta mark set ct mark
  }
}
"""


def _veth(a_ns: str, a_if: str, b_ns: str, b_if: str) -> None:
    run(
        ["ip", "-n", a_ns, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b_ns]
    )


def _addr(ifname: str, v4: str, v6: str, plen6: int = 64) -> list[str]:
    return [
        f"addr add {v4}/24 dev {ifname}",
        f"addr add {v6}/{plen6} dev {ifname} nodad",
        f"link set {ifname} up",
    ]


def batches(spec: LabSpec) -> dict[str, list[str]]:
    """The `ip` commands for each node, once the links exist."""
    out: dict[str, list[str]] = {n: [] for n in spec.nodes()}
    edge, inet = out["edge"], out["inet"]
    for i, p in enumerate(spec.providers, start=1):
        e4, p4, e6, p6 = edge_link(i)
        i4, n4, i6, n6 = inet_link(i)
        isp = out[p.name]
        t = probe_table(i)
        if "edge" not in spec.provider_edges(p.name):
            edges.remote_provider(spec, out, i)
            if not spec.transits:
                _inet_side(inet, p.name, i)
            continue
        edge += _addr(p.name, e4, e6)
        isp += _addr("edge", p4, p6) + ([] if spec.transits else _addr("inet", i4, i6))
        # Replies to the customer's and the controller's addresses go back to edge.
        isp += [f"route add {CUSTOMER_V4} via {e4}", f"route add {CUSTOMER_V6} via {e6}"]
        # Probe steering on edge: each probe source leaves through its provider.
        s4, s6 = probe_source(i)
        edge += [
            f"route add default via {p4} dev {p.name} table {t}",
            f"-6 route add default via {p6} dev {p.name} table {t}",
            f"rule add from {s4} lookup {t} pref {t}",
            f"-6 rule add from {s6} lookup {t} pref {t}",
            f"rule add fwmark {t} lookup {t} pref {t + 100}",
            f"-6 rule add fwmark {t} lookup {t} pref {t + 100}",
        ]
        if spec.transits:
            continue  # the transits stand between the providers and inet (transit.py)
        _inet_side(inet, p.name, i)
    if spec.transits:
        transit.batches(spec, out)
    else:
        _inet_routes(inet)
    ce4, cc4, ce6, cc6 = CUST_LINK
    edge += _addr("cust", ce4, ce6)
    out["cust"] += _addr("edge", cc4, cc6) + [
        f"route add default via {ce4}",
        f"-6 route add default via {ce6}",
    ]
    te4, tc4, te6, tc6 = CTL_LINK
    edge += _addr("ctl", te4, te6) + [
        "route add 100.67.0.0/24 via " + tc4,
        "-6 route add 2001:db8:ff67::/64 via " + tc6,
    ]
    ctl = out["ctl"]
    ctl += _addr("edge", tc4, tc6) + [
        f"route add default via {te4}",
        f"-6 route add default via {te6}",
    ]
    for i in range(1, len(spec.providers) + 1):
        s4, s6 = probe_source(i)
        ctl += [f"addr add {s4}/32 dev lo", f"addr add {s6}/128 dev lo nodad"]
    if spec.controllers > 1:
        _second_controller(spec, out)
    edges.batches(spec, out)
    for node, lines in ix.batches(spec).items():
        out[node] += lines
    return out


def _inet_side(inet: list[str], name: str, i: int) -> None:
    """inet answers through the provider a connection came in by (ct mark i)."""
    i4, n4, i6, n6 = inet_link(i)
    t = probe_table(i)
    inet += _addr(name, n4, n6)
    inet += [
        f"route add {CUSTOMER_V4} via {i4} table {t}",
        f"-6 route add {CUSTOMER_V6} via {i6} table {t}",
        f"rule add fwmark {i} lookup {t} pref {t}",
        f"-6 rule add fwmark {i} lookup {t} pref {t}",
    ]


def _inet_routes(inet: list[str]) -> None:
    """inet answers for every destination, and by provider 1 when no mark says otherwise."""
    first4, first6 = inet_link(1)[0], inet_link(1)[2]
    inet += [
        f"route add local {DEST_V4} dev lo",
        f"-6 route add local {DEST_V6} dev lo",
        f"route add {CUSTOMER_V4} via {first4}",
        f"-6 route add {CUSTOMER_V6} via {first6}",
    ]


def _second_controller(spec: LabSpec, out: dict[str, list[str]]) -> None:
    """ctl2 beside ctl (its own link to edge and probe sources), and the database node
    with a link to each controller (so that one of them can be cut off from it)."""
    edge, ctl2 = out["edge"], out["ctl2"]
    te4, tc4, te6, tc6 = controller_link("ctl2")
    edge += _addr("ctl2", te4, te6) + [
        f"route add 100.67.1.0/24 via {tc4}",
        f"-6 route add 2001:db8:ff67:1::/64 via {tc6}",
    ]
    ctl2 += _addr("edge", tc4, tc6) + [
        f"route add default via {te4}",
        f"-6 route add default via {te6}",
    ]
    for i in range(1, len(spec.providers) + 1):
        t = probe_table(i)
        s4, s6 = probe_source(i, "ctl2")
        ctl2 += [f"addr add {s4}/32 dev lo", f"addr add {s6}/128 dev lo nodad"]
        edge += [
            f"rule add from {s4} lookup {t} pref {t}",
            f"-6 rule add from {s6} lookup {t} pref {t}",
        ]
    for node in ("ctl", "ctl2"):
        c4, d4 = db_link(node)
        out[node] += [f"addr add {c4}/24 dev db", "link set db up"]
        out["db"] += [f"addr add {d4}/24 dev {node}", f"link set {node} up"]


def build(spec: LabSpec, created: list[str]) -> None:
    """Creates namespaces and links and applies addressing; appends each namespace to
    ``created`` as soon as it exists so a failure can be cleaned up."""
    for node in spec.nodes():
        ns = spec.ns(node)
        add_namespace(ns)
        created.append(ns)
        sysctl(ns, _ROUTER_SYSCTLS)
    for p in spec.providers:
        if "edge" in spec.provider_edges(p.name):
            _veth(spec.ns("edge"), p.name, spec.ns(p.name), "edge")
        if not spec.transits:
            _veth(spec.ns(p.name), "inet", spec.ns("inet"), p.name)
    for node, ifname, peer, peer_if in edges.veths(spec):
        _veth(spec.ns(node), ifname, spec.ns(peer), peer_if)
    for a, a_if, b, b_if in transit.veths(spec):
        _veth(spec.ns(a), a_if, spec.ns(b), b_if)
    _veth(spec.ns("edge"), "cust", spec.ns("cust"), "edge")
    _veth(spec.ns("edge"), "ctl", spec.ns("ctl"), "edge")
    if spec.controllers > 1:
        _veth(spec.ns("edge"), "ctl2", spec.ns("ctl2"), "edge")
        for node in ("ctl", "ctl2"):
            _veth(spec.ns(node), "db", spec.ns("db"), node)
    for a_ns, a_if, b_ns, b_if in ix.links(spec):
        _veth(a_ns, a_if, b_ns, b_if)
    for node, lines in batches(spec).items():
        ip_batch(spec.ns(node), lines)
    if spec.transits:
        for node, table in transit.return_marks(spec).items():
            run(["ip", "netns", "exec", spec.ns(node), "nft", "-f", "-"], input=table)
    else:
        marks = ", ".join(
            [f'"{p.name}" : {i}' for i, p in enumerate(spec.providers, start=1)]
            + ix.inet_marks(spec)
        )
        run(
            ["ip", "netns", "exec", spec.ns("inet"), "nft", "-f", "-"],
            input=_NFT_INET % {"marks": marks},
        )
    if spec.shape:
        links = [("edge", p.name, p.capacity_mbps) for p in spec.edge_providers("edge")]
        for node, ifname, mbps in links + edges.shaped(spec):
            nsrun(
                spec.ns(node),
                [
                    "tc",
                    "qdisc",
                    "replace",
                    "dev",
                    ifname,
                    "root",
                    "tbf",
                    "rate",
                    f"{int(mbps * 1000)}kbit",
                    "burst",
                    "256kb",
                    "latency",
                    "50ms",
                ],
            )
        for cmd in ix.shaping(spec):
            nsrun(spec.ns("edge"), cmd)
