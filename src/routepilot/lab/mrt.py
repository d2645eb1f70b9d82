"""MRT routing table dumps (RFC 6396 TABLE_DUMP_V2): a generator and a reader.

The generator writes a table shaped like a route collector's RIB dump (several
peers, mostly /24 and /48 prefixes, AS paths of realistic length with 4-byte
ASNs, prepends and AS_SETs, communities, MEDs), entirely inside reserved space:
IPv4 in 240.0.0.0/4 (class E, never routed on the internet) and IPv6 in
2001:db8::/32 (documentation). gobgpd loads such a file with ``gobgp mrt inject
global`` and sends it on like a real table. The reader gives back, per prefix,
every peer's path, so a test can check that each one was learned exactly.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

TABLE_DUMP_V2 = 13
PEER_INDEX_TABLE = 1
RIB_IPV4_UNICAST = 2
RIB_IPV6_UNICAST = 4

ORIGIN, AS_PATH, NEXT_HOP, MED, COMMUNITIES, MP_REACH_NLRI = 1, 2, 3, 4, 8, 14
AS_SET, AS_SEQUENCE = 1, 2
TRANSITIVE, OPTIONAL, EXTENDED = 0x40, 0x80, 0x10

V4_SPACE = ipaddress.ip_network("240.0.0.0/4")
V6_SPACE = ipaddress.ip_network("2001:db8::/32")

# Share of prefixes per length in a full table (IPv4 about 60% /24s; IPv6 about
# half /48s), limited to what the reserved ranges can hold.
V4_LENGTHS = {24: 600, 23: 90, 22: 110, 21: 45, 20: 40, 19: 28, 18: 14, 17: 8, 16: 20}
V4_LENGTHS.update({15: 2, 14: 2, 13: 1, 12: 1})
V6_LENGTHS = {48: 520, 47: 20, 46: 30, 45: 10, 44: 120, 42: 20, 40: 130, 36: 40}
V6_LENGTHS.update({35: 10, 34: 20, 33: 40})


@dataclass(frozen=True)
class Peer:
    """A peer of the collector: its paths' next-hop is its address."""

    bgp_id: str
    address: str
    asn: int


@dataclass(frozen=True)
class MrtPath:
    """One peer's path for one prefix, as the dump holds it."""

    peer: int
    next_hop: str
    segments: tuple[tuple[int, tuple[int, ...]], ...]
    """(AS_SET or AS_SEQUENCE, ASNs) per AS_PATH segment."""
    origin: int
    med: int | None
    communities: tuple[str, ...]

    def as_path(self) -> tuple[int, ...]:
        """ASNs in order, an AS_SET as its lowest ASN (how routepilot counts it)."""
        out: list[int] = []
        for kind, asns in self.segments:
            if kind == AS_SEQUENCE:
                out.extend(asns)
            elif asns:
                out.append(min(asns))
        return tuple(out)


@dataclass(frozen=True)
class Table:
    peers: tuple[Peer, ...]
    routes: dict[str, list[MrtPath]]
    """Prefix -> every peer's path for it, in the dump's order."""

    @property
    def paths(self) -> int:
        return sum(len(p) for p in self.routes.values())


def generate(
    paths: int,
    peers: int = 14,
    seed: int = 1,
    ipv6_share: float = 0.15,
    multi_path_share: float = 0.012,
) -> Table:
    """A table of about ``paths`` paths from ``peers`` peers (next-hops 100.64.20.1 ...).

    Most prefixes come from one peer and ``multi_path_share`` of them from 2 to 4,
    as in a collector dump taken with one best path per peer session; prefixes of
    one origin AS share their attributes per peer, so UPDATEs carry many NLRI.
    """
    rng = random.Random(seed)
    peer_list = tuple(
        Peer(
            f"100.64.20.{i + 1}",
            f"100.64.20.{i + 1}",
            # A third of the peers have 4-byte ASNs (RFC 6793).
            4_200_000_000 + i if i % 3 == 2 else 64_600 + i,
        )
        for i in range(peers)
    )
    n_prefixes = int(paths / (1 + multi_path_share * 2))
    n6 = int(n_prefixes * ipv6_share)
    prefixes = _prefixes(rng, V4_SPACE, V4_LENGTHS, n_prefixes - n6)
    prefixes += _prefixes(rng, V6_SPACE, V6_LENGTHS, n6)
    origins = [_asn(rng) for _ in range(max(1, n_prefixes // 7))]
    transit = [_asn(rng) for _ in range(400)]
    attrs: dict[tuple[int, int, int, int], MrtPath] = {}
    routes: dict[str, list[MrtPath]] = {}
    for net in prefixes:
        # Heavy-tailed: a few origins announce many prefixes.
        heavy = rng.random() < 0.3
        origin = origins[rng.randrange(max(1, len(origins) // 100) if heavy else len(origins))]
        count = rng.randint(2, 4) if rng.random() < multi_path_share else 1
        chosen = rng.sample(range(peers), min(count, peers))
        paths_of_prefix = []
        for peer in chosen:
            key = (peer, origin, rng.randrange(3), net.version)
            path = attrs.get(key)
            if path is None:
                path = attrs[key] = _path(rng, peer_list, peer, origin, transit, net.version)
            paths_of_prefix.append(path)
        routes[str(net)] = paths_of_prefix
    return Table(peer_list, routes)


def _asn(rng: random.Random) -> int:
    # Public-looking numbers do not matter inside reserved prefixes; a quarter
    # are 4-byte.
    return rng.randint(131_072, 400_000) if rng.random() < 0.25 else rng.randint(1_000, 64_000)


def _prefixes(
    rng: random.Random,
    space: ipaddress.IPv4Network | ipaddress.IPv6Network,
    lengths: dict[int, int],
    n: int,
) -> list:
    choices, weights = list(lengths), list(lengths.values())
    seen: set[tuple[int, int]] = set()
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    base, bits = int(space.network_address), space.max_prefixlen
    while len(out) < n:
        length = rng.choices(choices, weights)[0]
        host_bits = bits - length
        network = base | (rng.getrandbits(length - space.prefixlen) << host_bits)
        if (network, length) in seen:
            continue
        seen.add((network, length))
        out.append(ipaddress.ip_network((network, length)))
    out.sort(key=lambda net: (net.version, int(net.network_address), net.prefixlen))
    return out


def _path(
    rng: random.Random,
    peers: tuple[Peer, ...],
    peer: int,
    origin: int,
    transit: list[int],
    version: int,
) -> MrtPath:
    length = max(1, min(12, int(rng.gauss(4.2, 1.4))))
    middle = [rng.choice(transit) for _ in range(length - 2)] if length > 2 else []
    sequence = [peers[peer].asn, *middle, origin][:length] if length > 1 else [peers[peer].asn]
    if rng.random() < 0.08:  # prepends
        sequence += [sequence[-1]] * rng.randint(1, 3)
    segments: list[tuple[int, tuple[int, ...]]] = [(AS_SEQUENCE, tuple(sequence))]
    if rng.random() < 0.005:  # aggregated routes end in an AS_SET
        segments.append((AS_SET, tuple(sorted({rng.choice(transit) for _ in range(3)}))))
    roll = rng.random()
    origin_code = 0 if roll < 0.9 else (2 if roll < 0.98 else 1)
    med = rng.randrange(0, 1000) if rng.random() < 0.3 else None
    communities: tuple[str, ...] = ()
    if rng.random() < 0.5:
        high = peers[peer].asn if peers[peer].asn < 65536 else 65000
        communities = tuple(
            sorted({f"{high}:{rng.randrange(65536)}" for _ in range(rng.randint(1, 6))})
        )
    next_hop = peers[peer].address if version == 4 else f"2001:db8:ffff::{peer + 1:x}"
    return MrtPath(peer, next_hop, tuple(segments), origin_code, med, communities)


# Writing (RFC 6396 section 4.3).


Encoding = Literal["rfc6396", "gobgp3"]
"""``rfc6396``: IPv6 next-hops in the abbreviated MP_REACH_NLRI of RFC 6396 section
4.3.4, as collectors write them. ``gobgp3``: a whole MP_REACH_NLRI (AFI, SAFI,
next-hop, NLRI), the only form gobgp 3.10's MRT reader parses, and the table
followed by ``padding`` of its own first records again: ``gobgp mrt inject`` of
3.10 exits without closing its gRPC stream, so the last records it sends are
lost; re-adding records already loaded is harmless and absorbs that loss."""


def write(
    table: Table,
    path: Path,
    timestamp: int = 1_700_000_000,
    encoding: Encoding = "rfc6396",
    padding: int = 0,
) -> None:
    with path.open("wb") as out:
        _record(out, timestamp, PEER_INDEX_TABLE, _peer_index(table.peers))
        encoded: dict[tuple[MrtPath, str], bytes] = {}
        items = list(table.routes.items())
        items += items[:padding]
        for seq, (prefix, paths) in enumerate(items):
            net = ipaddress.ip_network(prefix)
            body = bytearray(struct.pack("!IB", seq, net.prefixlen))
            body += net.network_address.packed[: (net.prefixlen + 7) // 8]
            body += struct.pack("!H", len(paths))
            for p in paths:
                key = (p, prefix if encoding == "gobgp3" and net.version == 6 else "")
                attrs = encoded.get(key)
                if attrs is None:
                    attrs = encoded[key] = _attributes(p, net, encoding)
                body += struct.pack("!HIH", p.peer, timestamp, len(attrs)) + attrs
            subtype = RIB_IPV4_UNICAST if net.version == 4 else RIB_IPV6_UNICAST
            _record(out, timestamp, subtype, bytes(body))


def _record(out: BinaryIO, timestamp: int, subtype: int, body: bytes) -> None:
    out.write(struct.pack("!IHHI", timestamp, TABLE_DUMP_V2, subtype, len(body)) + body)


def _peer_index(peers: tuple[Peer, ...]) -> bytes:
    body = bytearray(ipaddress.IPv4Address("100.64.20.254").packed)
    body += struct.pack("!H", 0) + struct.pack("!H", len(peers))
    for p in peers:
        address = ipaddress.ip_address(p.address)
        # Bit 0: IPv6 peer address; bit 1: 4-byte AS number.
        kind = (1 if address.version == 6 else 0) | 2
        body += struct.pack("!B", kind) + ipaddress.IPv4Address(p.bgp_id).packed
        body += address.packed + struct.pack("!I", p.asn)
    return bytes(body)


def _attribute(flags: int, code: int, value: bytes) -> bytes:
    if len(value) > 255:
        return struct.pack("!BBH", flags | EXTENDED, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def _attributes(
    p: MrtPath, net: ipaddress.IPv4Network | ipaddress.IPv6Network, encoding: Encoding
) -> bytes:
    out = _attribute(TRANSITIVE, ORIGIN, bytes([p.origin]))
    segments = b"".join(
        struct.pack("!BB", kind, len(asns)) + struct.pack(f"!{len(asns)}I", *asns)
        for kind, asns in p.segments
    )
    out += _attribute(TRANSITIVE, AS_PATH, segments)
    if net.version == 4:
        out += _attribute(TRANSITIVE, NEXT_HOP, ipaddress.IPv4Address(p.next_hop).packed)
    elif encoding == "rfc6396":
        # TABLE_DUMP_V2 abbreviates MP_REACH_NLRI to the next-hop (RFC 6396 section 4.3.4).
        hop = ipaddress.IPv6Address(p.next_hop).packed
        out += _attribute(OPTIONAL, MP_REACH_NLRI, bytes([len(hop)]) + hop)
    else:
        # The whole attribute (RFC 4760 section 3): AFI 2, SAFI 1, next-hop, reserved, NLRI.
        hop = ipaddress.IPv6Address(p.next_hop).packed
        nlri = bytes([net.prefixlen]) + net.network_address.packed[: (net.prefixlen + 7) // 8]
        value = struct.pack("!HBB", 2, 1, len(hop)) + hop + b"\0" + nlri
        out += _attribute(OPTIONAL, MP_REACH_NLRI, value)
    if p.med is not None:
        out += _attribute(OPTIONAL, MED, struct.pack("!I", p.med))
    if p.communities:
        values = [tuple(int(x) for x in c.split(":")) for c in p.communities]
        out += _attribute(
            OPTIONAL | TRANSITIVE,
            COMMUNITIES,
            b"".join(struct.pack("!HH", a, b) for a, b in values),
        )
    return out


# Reading.


def read(path: Path) -> Table:
    """Every RIB entry of a TABLE_DUMP_V2 file (IPv4 and IPv6 unicast)."""
    peers: tuple[Peer, ...] = ()
    routes: dict[str, list[MrtPath]] = {}
    for subtype, body in _records(path):
        if subtype == PEER_INDEX_TABLE:
            peers = _read_peers(body)
        elif subtype in (RIB_IPV4_UNICAST, RIB_IPV6_UNICAST):
            prefix, paths = _read_rib(body, 4 if subtype == RIB_IPV4_UNICAST else 6, peers)
            routes.setdefault(prefix, []).extend(paths)
    return Table(peers, routes)


def _records(path: Path) -> Iterator[tuple[int, bytes]]:
    data = path.read_bytes()
    at = 0
    while at + 12 <= len(data):
        _, kind, subtype, length = struct.unpack_from("!IHHI", data, at)
        body = data[at + 12 : at + 12 + length]
        if len(body) < length:
            raise ValueError(f"{path}: record at byte {at} is cut short")
        at += 12 + length
        if kind == TABLE_DUMP_V2:
            yield subtype, body


def _read_peers(body: bytes) -> tuple[Peer, ...]:
    (name_len,) = struct.unpack_from("!H", body, 4)
    at = 6 + name_len
    (count,) = struct.unpack_from("!H", body, at)
    at += 2
    peers = []
    for _ in range(count):
        kind = body[at]
        bgp_id = str(ipaddress.IPv4Address(body[at + 1 : at + 5]))
        at += 5
        size = 16 if kind & 1 else 4
        address = str(ipaddress.ip_address(body[at : at + size]))
        at += size
        if kind & 2:
            (asn,) = struct.unpack_from("!I", body, at)
            at += 4
        else:
            (asn,) = struct.unpack_from("!H", body, at)
            at += 2
        peers.append(Peer(bgp_id, address, asn))
    return tuple(peers)


def _read_rib(body: bytes, version: int, peers: tuple[Peer, ...]) -> tuple[str, list[MrtPath]]:
    length = body[4]
    size = (length + 7) // 8
    raw = body[5 : 5 + size].ljust(4 if version == 4 else 16, b"\0")
    prefix = f"{ipaddress.ip_address(raw)}/{length}"
    at = 5 + size
    (count,) = struct.unpack_from("!H", body, at)
    at += 2
    paths = []
    for _ in range(count):
        peer, _, attr_len = struct.unpack_from("!HIH", body, at)
        at += 8
        paths.append(_read_attributes(body[at : at + attr_len], peer, peers))
        at += attr_len
    return prefix, paths


def _read_attributes(data: bytes, peer: int, peers: tuple[Peer, ...]) -> MrtPath:
    at = 0
    origin, med, next_hop = 0, None, peers[peer].address if peers else ""
    segments: list[tuple[int, tuple[int, ...]]] = []
    communities: tuple[str, ...] = ()
    while at < len(data):
        flags, code = data[at], data[at + 1]
        if flags & EXTENDED:
            (length,) = struct.unpack_from("!H", data, at + 2)
            at += 4
        else:
            length = data[at + 2]
            at += 3
        value = data[at : at + length]
        at += length
        if code == ORIGIN:
            origin = value[0]
        elif code == AS_PATH:
            i = 0
            while i < len(value):
                kind, n = value[i], value[i + 1]
                segments.append((kind, struct.unpack_from(f"!{n}I", value, i + 2)))
                i += 2 + 4 * n
        elif code == NEXT_HOP:
            next_hop = str(ipaddress.IPv4Address(value))
        elif code == MP_REACH_NLRI:
            # Abbreviated (RFC 6396 section 4.3.4) or whole (AFI, SAFI first); the
            # global address first, a link-local one may follow (RFC 2545 section 3).
            at_hop = 1 if len(value) == 1 + value[0] else 4
            next_hop = str(ipaddress.IPv6Address(value[at_hop : at_hop + 16]))
        elif code == MED:
            (med,) = struct.unpack("!I", value)
        elif code == COMMUNITIES:
            communities = tuple(f"{a}:{b}" for a, b in struct.iter_unpack("!HH", value))
    return MrtPath(peer, next_hop, tuple(segments), origin, med, communities)
