"""BIRD 2 configurations for edge and the provider routers, generated from the spec."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from routepilot.lab import edges, ix
from routepilot.lab.spec import (
    CTL_LINK,
    EDGE_ASN,
    LabSpec,
    controller_link,
    dest_prefix_v4,
    dest_prefix_v6,
    edge_link,
    inet_link,
)

# Timers chosen so every session is Established within seconds of `lab up`, and a
# restarted controller is accepted again at once (BIRD's default error wait time
# after a hold-timer expiry is up to minutes).
_FAST_TIMERS = """\
    connect delay time 1;
    connect retry time 2;
    error wait time 1, 5;
    error forget time 10;"""
FAST_TIMERS = _FAST_TIMERS

_TO_CONTROLLER = "add paths tx; import all; export where source = RTS_BGP; next hop keep;"


def edge_config(spec: LabSpec, log_path: str, node: str = "edge") -> str:
    """BIRD on an edge router (``edge``, or ``edge2`` in the two-edge lab)."""
    router_id = CTL_LINK[0] if node == "edge" else edges.router_address(node)[0]
    lines = [
        f'log "{log_path}" all;',
        f"router id {router_id};",
        "protocol device { scan time 5; }",
        # Provider and controller links in the IGP tables: iBGP next-hops resolve
        # through them (gateway recursive), which is how the controller's
        # injected routes point at a provider.
        "protocol direct { ipv4; ipv6; }",
        # A big netlink buffer: with many routes the default overflows and the FIB
        # only catches up at the next scan.
        "protocol kernel kernel4 { ipv4 { export where source = RTS_BGP; import none; }; "
        "merge paths on; netlink rx buffer 8388608; }",
        "protocol kernel kernel6 { ipv6 { export where source = RTS_BGP; import none; }; "
        "merge paths on; netlink rx buffer 8388608; }",
    ]
    for p in spec.edge_providers(node):
        i = spec.index(p.name)
        e4, p4, e6, p6 = edges.link_of(node, i)
        for suffix, chan, local, peer in (("", "ipv4", e4, p4), ("_v6", "ipv6", e6, p6)):
            lines.append(
                f"protocol bgp {p.name}{suffix} {{\n"
                f'    description "provider {p.name}";\n'
                f"    local {local} as {EDGE_ASN};\n"
                f"    neighbor {peer} as {p.asn};\n"
                f"{_FAST_TIMERS}\n"
                f"    {chan} {{ import all; export none; }};\n"
                "}"
            )
    lines += edges.ibgp_sessions(spec, node)
    # One session to each controller carries both families; add-path tx sends
    # every provider's path per prefix, next hop kept so that the next-hop
    # tells the controller which provider a path comes from.
    for ctl in [] if spec.reflector else spec.controller_nodes():
        e4, c4, _, _ = controller_link(ctl)
        if node != "edge":
            e4 = edges.router_address(node)[0]
        lines.append(
            f"protocol bgp {ctl} {{\n"
            '    description "routepilot controller";\n'
            f"    local {e4} as {EDGE_ASN};\n"
            f"    neighbor {c4} as {EDGE_ASN};\n"
            f"{_FAST_TIMERS}\n"
            "    hold time 9;\n"
            f"    ipv4 {{ {_TO_CONTROLLER} }};\n"
            f"    ipv6 {{ {_TO_CONTROLLER} }};\n"
            "}"
        )
    lines += ix.edge_sessions(spec)
    return "\n".join(lines) + "\n"


def provider_config(spec: LabSpec, provider: str, log_path: str) -> str:
    i = spec.index(provider)
    p = spec.providers[i - 1]
    e4, p4, e6, p6 = edge_link(i)
    i4, n4, i6, n6 = inet_link(i)
    announced = p.announced(spec.prefixes)
    static4 = "\n".join(f"    route {dest_prefix_v4(k)} via {n4};" for k in announced)
    static6 = "\n".join(f"    route {dest_prefix_v6(k)} via {n6};" for k in range(spec.prefixes_v6))
    rules = origin_rules(spec, announced) + prepend_rules(spec, provider, p.asn, announced)
    body = "\n".join(rules)
    return f"""\
log "{log_path}" all;
router id {p4};
protocol device {{ scan time 5; }}
protocol direct {{ ipv4; ipv6; }}
protocol kernel kernel4 {{ ipv4 {{ export where source = RTS_STATIC; import none; }}; }}
protocol kernel kernel6 {{ ipv6 {{ export where source = RTS_STATIC; import none; }}; }}
protocol static static4 {{
    ipv4;
{static4}
}}
protocol static static6 {{
    ipv6;
{static6}
}}
filter to_edge {{
    if source != RTS_STATIC then reject;
{body}
    accept;
}}
{"".join(_to_edge(spec, p.asn, i, node) for node in spec.provider_edges(provider))}"""


def net_rules(groups: Mapping[int, list[str]], action: Callable[[int], str]) -> list[str]:
    """BIRD filter lines ``if net ~ [ ... ] then { action }``: one per group and address
    family (IPv4 first), in the order of the groups' keys."""
    rules = []
    for key, nets in sorted(groups.items()):
        for family in ([n for n in nets if ":" not in n], [n for n in nets if ":" in n]):
            if family:
                rules.append(f"    if net ~ [ {', '.join(family)} ] then {{ {action(key)} }}")
    return rules


def origin_rules(spec: LabSpec, v4: Iterable[int]) -> list[str]:
    """The destination's origin AS first on its path (its own network, the same through
    every provider), so that it ends every path: prepends and the announcing AS (added
    by BGP on export) come before it. For the IPv4 prefixes ``v4`` and every IPv6 one."""
    origins: dict[int, list[str]] = {}
    for k in v4:
        if spec.origin_asn(k):
            origins.setdefault(spec.origin_asn(k) or 0, []).append(dest_prefix_v4(k))
    for k in range(spec.prefixes_v6):
        if spec.origin_asn(k):
            origins.setdefault(spec.origin_asn(k) or 0, []).append(dest_prefix_v6(k))
    return net_rules(origins, lambda asn: f"bgp_path.prepend({asn});")


def prepend_rules(spec: LabSpec, provider: str, asn: int, v4: Iterable[int]) -> list[str]:
    """A provider's prepends, grouped by count: prefix k gets ``spec.prepend(provider, k)``
    extra copies of ``asn``, so that path lengths differ per provider and rotate with k."""
    groups: dict[int, list[str]] = {}
    for k in v4:
        groups.setdefault(spec.prepend(provider, k), []).append(dest_prefix_v4(k))
    for k in range(spec.prefixes_v6):
        groups.setdefault(spec.prepend(provider, k), []).append(dest_prefix_v6(k))
    groups.pop(0, None)
    return net_rules(groups, lambda count: " ".join([f"bgp_path.prepend({asn});"] * count))


def _to_edge(spec: LabSpec, asn: int, i: int, node: str) -> str:
    """Provider i's sessions (IPv4, IPv6) with one edge router."""
    e4, p4, e6, p6 = edges.link_of(node, i)
    return f"""\
protocol bgp {node} {{
    local {p4} as {asn};
    neighbor {e4} as {EDGE_ASN};
{_FAST_TIMERS}
    ipv4 {{ import none; export filter to_edge; }};
}}
protocol bgp {node}_v6 {{
    local {p6} as {asn};
    neighbor {e6} as {EDGE_ASN};
{_FAST_TIMERS}
    ipv6 {{ import none; export filter to_edge; }};
}}
"""
