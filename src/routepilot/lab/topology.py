"""Builds the lab's namespaces, links, addresses and kernel routing from the spec.

Pure generation of `ip` batch lines per namespace (testable without root), and
one function that applies them.
"""

from __future__ import annotations

from routepilot.lab.netns import add_namespace, ip_batch, nsrun, run, sysctl
from routepilot.lab.spec import (
    CTL_LINK,
    CUST_LINK,
    CUSTOMER_V4,
    CUSTOMER_V6,
    DEST_V4,
    DEST_V6,
    LabSpec,
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
        edge += _addr(p.name, e4, e6)
        isp += _addr("edge", p4, p6) + _addr("inet", i4, i6)
        # Replies to the customer's and the controller's addresses go back to edge.
        isp += [f"route add {CUSTOMER_V4} via {e4}", f"route add {CUSTOMER_V6} via {e6}"]
        # Probe steering on edge: each probe source leaves through its provider.
        t = probe_table(i)
        s4, s6 = probe_source(i)
        edge += [
            f"route add default via {p4} dev {p.name} table {t}",
            f"-6 route add default via {p6} dev {p.name} table {t}",
            f"rule add from {s4} lookup {t} pref {t}",
            f"-6 rule add from {s6} lookup {t} pref {t}",
            f"rule add fwmark {t} lookup {t} pref {t + 100}",
            f"-6 rule add fwmark {t} lookup {t} pref {t + 100}",
        ]
        # inet answers through the provider a connection came in by (ct mark i).
        inet += _addr(p.name, n4, n6)
        inet += [
            f"route add {CUSTOMER_V4} via {i4} table {t}",
            f"-6 route add {CUSTOMER_V6} via {i6} table {t}",
            f"rule add fwmark {i} lookup {t} pref {t}",
            f"-6 rule add fwmark {i} lookup {t} pref {t}",
        ]
    first4, first6 = inet_link(1)[0], inet_link(1)[2]
    inet += [
        f"route add local {DEST_V4} dev lo",
        f"-6 route add local {DEST_V6} dev lo",
        f"route add {CUSTOMER_V4} via {first4}",
        f"-6 route add {CUSTOMER_V6} via {first6}",
    ]
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
    return out


def build(spec: LabSpec, created: list[str]) -> None:
    """Creates namespaces and links and applies addressing; appends each namespace to
    ``created`` as soon as it exists so a failure can be cleaned up."""
    for node in spec.nodes():
        ns = spec.ns(node)
        add_namespace(ns)
        created.append(ns)
        sysctl(ns, _ROUTER_SYSCTLS)
    for p in spec.providers:
        _veth(spec.ns("edge"), p.name, spec.ns(p.name), "edge")
        _veth(spec.ns(p.name), "inet", spec.ns("inet"), p.name)
    _veth(spec.ns("edge"), "cust", spec.ns("cust"), "edge")
    _veth(spec.ns("edge"), "ctl", spec.ns("ctl"), "edge")
    for node, lines in batches(spec).items():
        ip_batch(spec.ns(node), lines)
    marks = ", ".join(f'"{p.name}" : {i}' for i, p in enumerate(spec.providers, start=1))
    run(
        ["ip", "netns", "exec", spec.ns("inet"), "nft", "-f", "-"],
        input=_NFT_INET % {"marks": marks},
    )
    if spec.shape:
        for p in spec.providers:
            nsrun(
                spec.ns("edge"),
                [
                    "tc",
                    "qdisc",
                    "replace",
                    "dev",
                    p.name,
                    "root",
                    "tbf",
                    "rate",
                    f"{int(p.capacity_mbps * 1000)}kbit",
                    "burst",
                    "256kb",
                    "latency",
                    "50ms",
                ],
            )
