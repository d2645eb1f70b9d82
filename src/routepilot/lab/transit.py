"""The AS-level lab (`lab up --transit N`): transit ASes between the providers and `inet`.

Without transits (the default) every provider has a link to `inet` and originates
the destinations itself. With N transits, provider i instead has BGP sessions with
some transit nodes t1 … tN, each its own AS; the transits originate the
destinations (with the origin AS first in the path), so that edge learns paths
(provider, transit, origin) and a problem can sit in a transit that several
providers cross.

Which transits a provider buys from (``provider_transits``): providers are spread
over the transits in order, and a provider that falls between two transits buys
from both, so that with 3 providers and 2 transits isp1 uses t1, isp2 uses t1 and
t2, isp3 uses t2. A provider with several transits reaches prefix k through the
``k mod n``-th of them (``transit_for``): the transit a path crosses depends on
both the provider and the prefix.

Addressing (inside 100.64.0.0/10, apart from the default lab's ranges):

- provider i <-> transit j: 100.90.(10*i+j).0/24 (provider .1, transit .2),
  2001:db8:ff90:(10*i+j)::/64;
- transit j <-> inet: 100.91.j.0/24 (transit .1, inet .2), 2001:db8:ff91:j::/64;
- each router's own address, announced in BGP by its AS so that a traceroute hop
  maps to that AS: provider i 100.92.i.1 (in 100.92.i.0/24), transit j
  100.92.(100+j).1 (in 100.92.(100+j).0/24). Routers answer traceroutes from it.
"""

from __future__ import annotations

from routepilot.lab import bird
from routepilot.lab.spec import (
    CUSTOMER_V4,
    CUSTOMER_V6,
    DEST_V4,
    DEST_V6,
    EDGE_ASN,
    TRANSIT_ASN_BASE,
    LabSpec,
    dest_prefix_v4,
    dest_prefix_v6,
    edge_link,
)

TRANSIT_TABLE_BASE = 200
"""On transits and inet: routing table (and ct mark) of the return path through a link."""

_NFT_RETURN = """\
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


_NFT_TRANSIT = """\
table inet rplab_return {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    ct state new ct mark set meta iifname map { %(marks)s }
    meta mark set ct mark
  }
  chain output {
    type route hook output priority mangle; policy accept;
    meta mark set ct mark
  }
}
"""
"""On a transit the answers are forwarded, not sent: the mark is set before routing."""


def transit_asn(j: int) -> int:
    return TRANSIT_ASN_BASE + j


def transit_index(name: str) -> int:
    """1-based number of transit node ``tJ``."""
    return int(name[1:])


def provider_transits(spec: LabSpec, i: int) -> list[int]:
    """The transits (1-based) provider i (1-based) buys from."""
    n, p = spec.transits, len(spec.providers)
    if n <= 1:
        return [1] * (n == 1)
    pos_num, den = (i - 1) * (n - 1), max(1, p - 1)
    lo, rest = divmod(pos_num, den)
    return [lo + 1] if rest == 0 else [lo + 1, lo + 2]


def transit_for(spec: LabSpec, i: int, k: int) -> int:
    """The transit provider i reaches destination prefix k through."""
    mine = provider_transits(spec, i)
    return mine[k % len(mine)]


def link(i: int, j: int) -> tuple[str, str, str, str]:
    """(provider v4, transit v4, provider v6, transit v6) on provider i's link to transit j."""
    n = 10 * i + j
    return f"100.90.{n}.1", f"100.90.{n}.2", f"2001:db8:ff90:{n}::1", f"2001:db8:ff90:{n}::2"


def inet_uplink(j: int) -> tuple[str, str, str, str]:
    """(transit v4, inet v4, transit v6, inet v6) on transit j's link to inet."""
    return f"100.91.{j}.1", f"100.91.{j}.2", f"2001:db8:ff91:{j}::1", f"2001:db8:ff91:{j}::2"


def provider_infra(i: int) -> tuple[str, str]:
    """(router address, announced prefix) of provider i's own network."""
    return f"100.92.{i}.1", f"100.92.{i}.0/24"


def transit_infra(j: int) -> tuple[str, str]:
    """(router address, announced prefix) of transit j's own network."""
    return f"100.92.{100 + j}.1", f"100.92.{100 + j}.0/24"


def uplink_pattern(spec: LabSpec, node: str) -> str:
    """The interface name (nft wildcard) a node's traffic toward the destinations leaves
    by, where impairments apply: a transit's `inet`, a provider's links to its transits."""
    if spec.transits and node not in spec.transit_names():
        return "t*"
    return "inet"


def is_transit(spec: LabSpec, node: str) -> bool:
    return node in spec.transit_names()


def veths(spec: LabSpec) -> list[tuple[str, str, str, str]]:
    """(node a, interface in a, node b, interface in b) of every transit-lab link."""
    out = []
    for i, p in enumerate(spec.providers, start=1):
        for j in provider_transits(spec, i):
            out.append((p.name, f"t{j}", f"t{j}", p.name))
    for t in spec.transit_names():
        out.append((t, "inet", "inet", t))
    return out


def _addr(ifname: str, v4: str, v6: str) -> list[str]:
    return [
        f"addr add {v4}/24 dev {ifname}",
        f"addr add {v6}/64 dev {ifname} nodad",
        f"link set {ifname} up",
    ]


def batches(spec: LabSpec, out: dict[str, list[str]]) -> None:
    """Adds the `ip` commands of the transit lab to ``out`` (per node): the providers'
    links to their transits, the transits' links to inet, return routes and own addresses."""
    inet = out["inet"]
    users: dict[int, list[int]] = {}
    for i, p in enumerate(spec.providers, start=1):
        isp = out[p.name]
        e4 = edge_link(i)[0]
        own4, _ = provider_infra(i)
        isp += [f"addr add {own4}/32 dev lo"]
        for j in provider_transits(spec, i):
            users.setdefault(j, []).append(i)
            a4, _, a6, _ = link(i, j)
            isp += _addr(f"t{j}", a4, a6)
        # Answers (traceroute's time-exceeded among them) leave from the provider's own
        # address, which its AS announces: a hop maps to the provider's AS.
        isp += [f"route replace {CUSTOMER_V4} via {e4} src {own4}"]
    for j, name in enumerate(spec.transit_names(), start=1):
        t = out[name]
        up4, in4, up6, in6 = inet_uplink(j)
        own4, _ = transit_infra(j)
        t += [f"addr add {own4}/32 dev lo"] + _addr("inet", up4, up6)
        t += [f"route add {DEST_V4} via {in4}", f"-6 route add {DEST_V6} via {in6}"]
        # Answers go back through the provider a connection came in by (ct mark), and
        # by the first of them when none is known (the transit's own ICMP errors).
        for n, i in enumerate(users.get(j, []), start=0):
            pa4, ta4, pa6, ta6 = link(i, j)
            table = TRANSIT_TABLE_BASE + i
            pname = spec.providers[i - 1].name
            t += _addr(pname, ta4, ta6)
            t += [
                f"route add {CUSTOMER_V4} via {pa4} src {own4} table {table}",
                f"-6 route add {CUSTOMER_V6} via {pa6} table {table}",
                f"rule add fwmark {table} lookup {table} pref {table}",
                f"-6 rule add fwmark {table} lookup {table} pref {table}",
            ]
            if n == 0:
                t += [
                    f"route add {CUSTOMER_V4} via {pa4} src {own4}",
                    f"-6 route add {CUSTOMER_V6} via {pa6}",
                ]
        table = TRANSIT_TABLE_BASE + j
        inet += _addr(name, in4, in6) + [
            f"route add {CUSTOMER_V4} via {up4} table {table}",
            f"-6 route add {CUSTOMER_V6} via {up6} table {table}",
            f"rule add fwmark {table} lookup {table} pref {table}",
            f"-6 rule add fwmark {table} lookup {table} pref {table}",
        ]
    first4, _, first6, _ = inet_uplink(1)
    inet += [
        f"route add local {DEST_V4} dev lo",
        f"-6 route add local {DEST_V6} dev lo",
        f"route add {CUSTOMER_V4} via {first4}",
        f"-6 route add {CUSTOMER_V6} via {first6}",
    ]


def return_marks(spec: LabSpec) -> dict[str, str]:
    """Per node (inet, each transit): the nftables table that marks each connection with
    the link it came in by, so that answers go back the same way."""
    out = {}
    inet = ", ".join(
        f'"{t}" : {TRANSIT_TABLE_BASE + j}' for j, t in enumerate(spec.transit_names(), start=1)
    )
    out["inet"] = _NFT_RETURN % {"marks": inet}
    for j, t in enumerate(spec.transit_names(), start=1):
        users = [i for i in range(1, len(spec.providers) + 1) if j in provider_transits(spec, i)]
        if users:
            marks = ", ".join(
                f'"{spec.providers[i - 1].name}" : {TRANSIT_TABLE_BASE + i}' for i in users
            )
            out[t] = _NFT_TRANSIT % {"marks": marks}
    return out


# -- BIRD --------------------------------------------------------------------------------


def _prefixes_via(spec: LabSpec, i: int, j: int) -> tuple[list[str], list[str]]:
    """The destinations provider i reaches through transit j (IPv4, IPv6)."""
    p = spec.providers[i - 1]
    v4 = [dest_prefix_v4(k) for k in p.announced(spec.prefixes) if transit_for(spec, i, k) == j]
    v6 = [dest_prefix_v6(k) for k in range(spec.prefixes_v6) if transit_for(spec, i, k) == j]
    return v4, v6


def _net_set(nets: list[str]) -> str:
    return "[ " + ", ".join(nets) + " ]" if nets else ""


def transit_config(spec: LabSpec, node: str, log_path: str, timers: str) -> str:
    """BIRD for transit tJ: originates every destination (origin AS first), announces to
    each provider that buys from it the prefixes that provider routes through it, and
    its own network."""
    j = transit_index(node)
    asn = transit_asn(j)
    _, in4, _, in6 = inet_uplink(j)
    own4, infra4 = transit_infra(j)
    static4 = "\n".join(f"    route {dest_prefix_v4(k)} via {in4};" for k in range(spec.prefixes))
    static4 += f"\n    route {infra4} blackhole;"
    static6 = "\n".join(
        f"    route {dest_prefix_v6(k)} via {in6};" for k in range(spec.prefixes_v6)
    )
    rules = bird.origin_rules(spec, range(spec.prefixes))
    sessions = []
    for i, p in enumerate(spec.providers, start=1):
        if j not in provider_transits(spec, i):
            continue
        pa4, ta4, pa6, ta6 = link(i, j)
        v4, v6 = _prefixes_via(spec, i, j)
        for suffix, chan, nets, local, peer, extra in (
            ("", "ipv4", v4, ta4, pa4, [infra4]),
            ("_v6", "ipv6", v6, ta6, pa6, []),
        ):
            allowed = nets + extra
            cond = f"net ~ {_net_set(allowed)}" if allowed else "false"
            sessions.append(
                f"filter to_{p.name}{suffix} {{\n"
                f"    if source != RTS_STATIC then reject;\n"
                f"    if {cond} then {{\n        origin_paths();\n        accept;\n    }}\n"
                "    reject;\n}\n"
                f"protocol bgp {p.name}{suffix} {{\n"
                f"    local {local} as {asn};\n"
                f"    neighbor {peer} as {p.asn};\n"
                f"{timers}\n"
                f"    {chan} {{ import none; export filter to_{p.name}{suffix}; }};\n"
                "}"
            )
    body = "\n".join(rules)
    joined = "\n".join(sessions)
    return f"""\
log "{log_path}" all;
router id {own4};
protocol device {{ scan time 5; }}
protocol direct {{ ipv4; ipv6; }}
protocol static static4 {{
    ipv4;
{static4}
}}
protocol static static6 {{
    ipv6;
{static6}
}}
function origin_paths() {{
{body}
}}
{joined}
"""


def provider_config(spec: LabSpec, provider: str, log_path: str, timers: str) -> str:
    """BIRD for a provider of the transit lab: learns the destinations from its transits,
    announces them to edge with its prepends (as in the default lab) and its own network."""
    i = spec.index(provider)
    p = spec.providers[i - 1]
    e4, p4, e6, p6 = edge_link(i)
    own4, infra4 = provider_infra(i)
    rules = bird.prepend_rules(spec, provider, p.asn, p.announced(spec.prefixes))
    sessions = []
    for j in provider_transits(spec, i):
        pa4, ta4, pa6, ta6 = link(i, j)
        for suffix, chan, local, peer in (("", "ipv4", pa4, ta4), ("_v6", "ipv6", pa6, ta6)):
            sessions.append(
                f"protocol bgp t{j}{suffix} {{\n"
                f"    local {local} as {p.asn};\n"
                f"    neighbor {peer} as {transit_asn(j)};\n"
                f"{timers}\n"
                f"    {chan} {{ import all; export none; }};\n"
                "}"
            )
    body = "\n".join(rules)
    joined = "\n".join(sessions)
    return f"""\
log "{log_path}" all;
router id {own4};
protocol device {{ scan time 5; }}
protocol direct {{ ipv4; ipv6; }}
protocol kernel kernel4 {{ ipv4 {{ export where source = RTS_BGP; import none; }}; }}
protocol kernel kernel6 {{ ipv6 {{ export where source = RTS_BGP; import none; }}; }}
protocol static static4 {{
    ipv4;
    route {infra4} blackhole;
}}
filter to_edge {{
    if source = RTS_STATIC then accept;
    if source != RTS_BGP then reject;
{body}
    accept;
}}
{joined}
protocol bgp edge {{
    local {p4} as {p.asn};
    neighbor {e4} as {EDGE_ASN};
{timers}
    ipv4 {{ import none; export filter to_edge; }};
}}
protocol bgp edge_v6 {{
    local {p6} as {p.asn};
    neighbor {e6} as {EDGE_ASN};
{timers}
    ipv6 {{ import none; export filter to_edge; }};
}}
"""
