"""BIRD 2 configurations for edge and the provider routers, generated from the spec."""

from __future__ import annotations

from routepilot.lab.spec import (
    CTL_LINK,
    EDGE_ASN,
    LabSpec,
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


def edge_config(spec: LabSpec, log_path: str) -> str:
    lines = [
        f'log "{log_path}" all;',
        f"router id {CTL_LINK[0]};",
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
    for i, p in enumerate(spec.providers, start=1):
        e4, p4, e6, p6 = edge_link(i)
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
    e4, c4, _, _ = CTL_LINK
    # One session to the controller carries both families; add-path tx sends
    # every provider's path per prefix, next hop kept so that the next-hop
    # tells the controller which provider a path comes from.
    lines.append(
        "protocol bgp ctl {\n"
        '    description "routepilot controller";\n'
        f"    local {e4} as {EDGE_ASN};\n"
        f"    neighbor {c4} as {EDGE_ASN};\n"
        f"{_FAST_TIMERS}\n"
        "    hold time 9;\n"
        "    ipv4 { add paths tx; import all; export where source = RTS_BGP; next hop keep; };\n"
        "    ipv6 { add paths tx; import all; export where source = RTS_BGP; next hop keep; };\n"
        "}"
    )
    return "\n".join(lines) + "\n"


def provider_config(spec: LabSpec, provider: str, log_path: str) -> str:
    i = spec.index(provider)
    p = spec.providers[i - 1]
    e4, p4, e6, p6 = edge_link(i)
    i4, n4, i6, n6 = inet_link(i)
    announced = p.announced(spec.prefixes)
    static4 = "\n".join(f"    route {dest_prefix_v4(k)} via {n4};" for k in announced)
    static6 = "\n".join(f"    route {dest_prefix_v6(k)} via {n6};" for k in range(spec.prefixes_v6))
    # Prepends grouped by count: prefix k gets spec.prepend(provider, k) extra
    # copies of our AS, so path lengths differ per provider and rotate with k.
    groups: dict[int, list[str]] = {}
    for k in announced:
        groups.setdefault(spec.prepend(provider, k), []).append(dest_prefix_v4(k))
    for k in range(spec.prefixes_v6):
        groups.setdefault(spec.prepend(provider, k), []).append(dest_prefix_v6(k))
    rules = []
    for count, nets in sorted(groups.items()):
        if count == 0:
            continue
        v4 = [n for n in nets if ":" not in n]
        v6 = [n for n in nets if ":" in n]
        prepend = " ".join(f"bgp_path.prepend({p.asn});" for _ in range(count))
        if v4:
            rules.append(f"    if net ~ [ {', '.join(v4)} ] then {{ {prepend} }}")
        if v6:
            rules.append(f"    if net ~ [ {', '.join(v6)} ] then {{ {prepend} }}")
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
protocol bgp edge {{
    local {p4} as {p.asn};
    neighbor {e4} as {EDGE_ASN};
{_FAST_TIMERS}
    ipv4 {{ import none; export filter to_edge; }};
}}
protocol bgp edge_v6 {{
    local {p6} as {p.asn};
    neighbor {e6} as {EDGE_ASN};
{_FAST_TIMERS}
    ipv6 {{ import none; export filter to_edge; }};
}}
"""
