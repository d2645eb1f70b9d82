"""Builds BMP (RFC 7854) and BGP messages byte by byte, for the station's tests."""

from __future__ import annotations

import socket
import struct

ASN = 65000


def bgp(msg_type: int, body: bytes) -> bytes:
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), msg_type) + body


def bmp(msg_type: int, body: bytes, peer: bytes = b"") -> bytes:
    return struct.pack("!BIB", 3, 6 + len(peer) + len(body), msg_type) + peer + body


def peer_header(
    address: str = "100.64.1.1",
    asn: int = 64501,
    post_policy: bool = True,
    peer_type: int = 0,
    two_byte_as: bool = False,
    adj_rib_out: bool = False,
) -> bytes:
    flags = 0
    if ":" in address:
        flags |= 0x80
        raw = socket.inet_pton(socket.AF_INET6, address)
    else:
        raw = bytes(12) + socket.inet_aton(address) if address else bytes(16)
    flags |= 0x40 if post_policy else 0
    flags |= 0x20 if two_byte_as else 0
    flags |= 0x10 if adj_rib_out else 0
    return struct.pack(
        "!BBQ16sI4sII", peer_type, flags, 0, raw, asn, socket.inet_aton("10.0.0.1"), 0, 0
    )


def tlv(tlv_type: int, value: bytes) -> bytes:
    return struct.pack("!HH", tlv_type, len(value)) + value


def initiation(name: str = "edge") -> bytes:
    return bmp(4, tlv(2, name.encode()) + tlv(1, b"test router"))


def termination() -> bytes:
    return bmp(5, tlv(0, b"bye"))


def open_msg(asn: int, families=((1, 1),), add_path: dict | None = None) -> bytes:
    caps = b""
    for afi, safi in families:
        caps += struct.pack("!BBHBB", 1, 4, afi, 0, safi)
    caps += struct.pack("!BBI", 65, 4, asn)
    if add_path:
        value = b"".join(struct.pack("!HBB", a, s, m) for (a, s), m in add_path.items())
        caps += struct.pack("!BB", 69, len(value)) + value
    params = struct.pack("!BB", 2, len(caps)) + caps
    body = struct.pack("!BHH4sB", 4, min(asn, 23456), 90, socket.inet_aton("10.0.0.1"), len(params))
    return bgp(1, body + params)


def peer_up(
    header: bytes,
    families=((1, 1),),
    sent_add_path: dict | None = None,
    received_add_path: dict | None = None,
) -> bytes:
    body = bytes(16) + struct.pack("!HH", 179, 40000)
    body += open_msg(ASN, families, sent_add_path) + open_msg(64501, families, received_add_path)
    return bmp(3, body, header)


BARE_OPEN = bgp(1, b"")
"""FRR's stand-in for an OPEN it did not keep: a BGP header and nothing else."""


def bare_peer_up(header: bytes, sent: bytes = BARE_OPEN, received: bytes = BARE_OPEN) -> bytes:
    """A Peer Up whose OPENs are FRR's bare stand-ins unless given."""
    return bmp(3, bytes(16) + struct.pack("!HH", 179, 40000) + sent + received, header)


def peer_down(header: bytes, reason: int = 2) -> bytes:
    return bmp(2, bytes([reason]) + b"\x00\x00", header)


def stats(header: bytes) -> bytes:
    return bmp(1, struct.pack("!I", 1) + struct.pack("!HHI", 0, 4, 7), header)


def attr(code: int, value: bytes, flags: int = 0x40) -> bytes:
    if len(value) > 255:
        return struct.pack("!BBH", flags | 0x10, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def as_path(asns, width: int = 4) -> bytes:
    fmt = f"!{len(asns)}{'I' if width == 4 else 'H'}"
    return attr(2, struct.pack("!BB", 2, len(asns)) + struct.pack(fmt, *asns))


def prefix(text: str, path_id: int | None = None) -> bytes:
    addr, length = text.split("/")
    plen = int(length)
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    raw = socket.inet_pton(family, addr)[: (plen + 7) // 8]
    head = struct.pack("!I", path_id) if path_id is not None else b""
    return head + bytes([plen]) + raw


def update(withdrawn: bytes = b"", attrs: bytes = b"", nlri: bytes = b"") -> bytes:
    body = struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs))
    return bgp(2, body + attrs + nlri)


def ipv4_attrs(
    next_hop: str, asns, local_pref: int | None = None, med: int | None = None, communities=()
) -> bytes:
    out = attr(1, b"\x00") + as_path(asns) + attr(3, socket.inet_aton(next_hop))
    if med is not None:
        out += attr(4, struct.pack("!I", med), 0x80)
    if local_pref is not None:
        out += attr(5, struct.pack("!I", local_pref))
    if communities:
        value = b"".join(struct.pack("!HH", *map(int, c.split(":"))) for c in communities)
        out += attr(8, value, 0xC0)
    return out


def mp_reach6(next_hop: str, nlri: bytes, link_local: str | None = None) -> bytes:
    nh = socket.inet_pton(socket.AF_INET6, next_hop)
    if link_local:
        nh += socket.inet_pton(socket.AF_INET6, link_local)
    return attr(14, struct.pack("!HBB", 2, 1, len(nh)) + nh + b"\x00" + nlri, 0x80)


def mp_unreach6(nlri: bytes) -> bytes:
    return attr(15, struct.pack("!HB", 2, 1) + nlri, 0x80)


def route_monitoring(header: bytes, pdu: bytes) -> bytes:
    return bmp(0, pdu, header)
