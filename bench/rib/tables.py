"""The tables the RIB benches feed routepilot, as UPDATEs and as a router's BMP stream.

Shared by ``bench/rib/learn.py`` (a station and a RIB in process) and
``bench/rib/daemon.py`` (the whole daemon over loopback TCP), so that both learn
the very same bytes. Three shapes:

- ``soak``: ``tableload.soak_table``, 4 providers, attribute sets shared per (origin,
  provider), so UPDATEs carry many NLRI, up to ``PER_UPDATE``;
- ``frr``: the same table as FRR's BMP sends it (post-policy Adj-RIB-In monitoring):
  one NLRI per UPDATE, so one Route Monitoring message per path, each with its
  whole attribute set; a provider's prefixes of one attribute set come in a run, as
  its peer sent them in UPDATEs;
- ``sync``: the same messages in the order of FRR's BMP initial sync (what the pr soak
  over BMP receives): prefix by prefix in address order, each prefix's paths (one per
  provider) in turn, so consecutive messages rarely share a peer or an attribute set
  (the soak's table has about 400k sets: an origin's prefixes are spread over the space);
- ``mrt``: ``lab.mrt.generate``, 14 peers, about 1.35 paths per attribute set.

Every prefix is in 240.0.0.0/4 or 2001:db8::/32, which no public network routes.
"""

from __future__ import annotations

PER_UPDATE = 64
"""NLRI per UPDATE at most, as bench/rib/memory.py."""

Update = tuple[int, str, list[tuple[int, list[int]]], int, int | None, tuple, list[str]]
"""(peer index, next hop, AS path segments, origin, MED, communities, NLRI)."""


def table_updates(table: str, paths: int) -> tuple[list[tuple[str, list[str]]], list[Update]]:
    """(providers as (name, next hops), the table's UPDATEs), about ``paths`` paths."""
    if table in ("soak", "frr", "sync"):
        from routepilot.lab.tableload import soak_table

        n = paths // 4
        soak = soak_table(n - n // 5, n // 5)
        providers = [
            (f"isp{k + 1}", [f"100.64.{k + 1}.2", f"2001:db8:ffff::{k + 1:x}"]) for k in range(4)
        ]
        updates: list[Update] = []
        per_update = PER_UPDATE if table == "soak" else 1
        for k in range(4):
            groups: dict[tuple, list[str]] = {}
            for prefix, asns in zip(soak.prefixes, soak.paths[k], strict=True):
                groups.setdefault((":" in prefix, *asns), []).append(prefix)
            for (v6, *path), prefixes in groups.items():
                hop = f"2001:db8:ffff::{k + 1:x}" if v6 else f"100.64.{k + 1}.2"
                for i in range(0, len(prefixes), per_update):
                    chunk = prefixes[i : i + per_update]
                    updates.append((k, hop, [(2, [64_601 + k, *path])], 0, None, (), chunk))
        if table == "sync":
            updates.sort(key=lambda u: (_address_key(u[-1][0]), u[0]))
        return providers, updates
    from routepilot.lab import mrt

    t = mrt.generate(paths)
    providers = [
        (f"peer{i + 1}", [p.address, f"2001:db8:ffff::{i + 1:x}"]) for i, p in enumerate(t.peers)
    ]
    updates = []
    groups_by_path: dict[int, tuple] = {}

    def out(path, prefixes) -> None:
        segments = [(kind, list(asns)) for kind, asns in path.segments]
        updates.append(
            (path.peer, path.next_hop, segments, path.origin, path.med, path.communities, prefixes)
        )

    for prefix, held in t.routes.items():
        for mrt_path in held:
            _, prefixes = groups_by_path.setdefault(id(mrt_path), (mrt_path, []))
            prefixes.append(prefix)
            if len(prefixes) == PER_UPDATE:
                out(mrt_path, prefixes)
                del groups_by_path[id(mrt_path)]
    for mrt_path, prefixes in groups_by_path.values():
        out(mrt_path, prefixes)
    return providers, updates


def _address_key(prefix: str) -> tuple[int, int, int]:
    """IPv4 before IPv6, then by address and length, as a router's table walk goes."""
    import ipaddress

    net = ipaddress.ip_network(prefix)
    return (net.version, int(net.network_address), net.prefixlen)


def bmp_stream(providers, updates) -> bytes:
    """What a router sends its BMP station (RFC 7854): an Initiation, a Peer Up per
    provider (one monitored peer each, post-policy Adj-RIB-In), then one Route
    Monitoring message per UPDATE (RFC 4271 section 4.3; IPv6 in MP_REACH_NLRI, RFC 4760)."""
    import socket
    import struct

    from tests import bmpenc as b

    peers = [b.peer_header(hops[0], 64_601 + k) for k, (_, hops) in enumerate(providers)]
    families = ((1, 1), (2, 1))
    out = [b.initiation(), *(b.peer_up(h, families) for h in peers)]
    for k, hop, segments, origin, med, communities, prefixes in updates:
        path = b"".join(
            struct.pack("!BB", kind, len(asns)) + struct.pack(f"!{len(asns)}I", *asns)
            for kind, asns in segments
        )
        attrs = b.attr(1, bytes([origin])) + b.attr(2, path)
        if med is not None:
            attrs += b.attr(4, struct.pack("!I", med), 0x80)
        if communities:
            value = b"".join(struct.pack("!HH", *map(int, c.split(":"))) for c in communities)
            attrs += b.attr(8, value, 0xC0)
        nlri = b"".join(b.prefix(p) for p in prefixes)
        if ":" in hop:
            pdu = b.update(attrs=b.mp_reach6(hop, nlri) + attrs)
        else:
            pdu = b.update(attrs=attrs + b.attr(3, socket.inet_aton(hop)), nlri=nlri)
        out.append(b.route_monitoring(peers[k], pdu))
    return b"".join(out)
