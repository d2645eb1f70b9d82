"""BMP (RFC 7854) and the BGP messages it carries (RFC 4271), decoded with ``struct``.

No maintained Python library decodes a live BMP stream: ``pybgpkit-parser`` on
PyPI is a Rust extension without a wheel for this platform (its sdist needs a
Rust toolchain) and its Python API reads MRT files, not a socket. So this module
decodes just what rib/ needs, strictly: every length is checked against its
enclosing length before it is used, and any inconsistency raises
:class:`BmpError` (the framing is unusable: the station closes the session) or
:class:`UpdateError` (one BGP UPDATE is unusable: it is counted and skipped).
"""

from __future__ import annotations

import itertools
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from routepilot.rib.speaker.base import Attributes, NlriBlock, PathAttributes, SharedAttributes

BMP_VERSION = 3
COMMON_HEADER = 6
"""Version (1), message length (4), message type (1): RFC 7854 section 4.1."""
PEER_HEADER = 42
"""RFC 7854 section 4.2."""
BGP_HEADER = 19

# Message types, RFC 7854 section 4.1.
ROUTE_MONITORING = 0
STATISTICS_REPORT = 1
PEER_DOWN = 2
PEER_UP = 3
INITIATION = 4
TERMINATION = 5
ROUTE_MIRRORING = 6
MESSAGE_TYPES = {
    ROUTE_MONITORING: "route_monitoring",
    STATISTICS_REPORT: "statistics_report",
    PEER_DOWN: "peer_down",
    PEER_UP: "peer_up",
    INITIATION: "initiation",
    TERMINATION: "termination",
    ROUTE_MIRRORING: "route_mirroring",
}
_PER_PEER = {ROUTE_MONITORING, STATISTICS_REPORT, PEER_DOWN, PEER_UP, ROUTE_MIRRORING}

# Peer types: RFC 7854 section 4.2 and RFC 9069 section 4.1 (Loc-RIB).
PEER_GLOBAL = 0
PEER_RD = 1
PEER_LOCAL = 2
PEER_LOC_RIB = 3

# Per-peer header flags (RFC 7854 section 4.2, RFC 8671 section 4 for O).
FLAG_V6 = 0x80
FLAG_POST_POLICY = 0x40
FLAG_TWO_BYTE_AS = 0x20
FLAG_ADJ_RIB_OUT = 0x10

AFI_IPV4, AFI_IPV6, SAFI_UNICAST = 1, 2, 1
IPV4_UNICAST = (AFI_IPV4, SAFI_UNICAST)
FAMILY_NAMES = {IPV4_UNICAST: "ipv4 unicast", (AFI_IPV6, SAFI_UNICAST): "ipv6 unicast"}

_COMMON = struct.Struct("!BIB")
_PEER = struct.Struct("!BBQ16sI4sII")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


class BmpError(ValueError):
    """The BMP stream is not well formed; nothing after this point can be trusted."""


class UpdateError(ValueError):
    """One BGP UPDATE could not be decoded (the BMP framing around it is fine)."""


@dataclass(frozen=True, slots=True)
class PeerHeader:
    """Who a per-peer message is about (RFC 7854 section 4.2)."""

    peer_type: int
    flags: int
    distinguisher: int
    address: str
    asn: int
    bgp_id: str

    @property
    def key(self) -> tuple[int, int, str, bool]:
        """One monitored RIB: the peer, and whether this is its Adj-RIB-Out (RFC 8671)."""
        return (self.peer_type, self.distinguisher, self.address, self.adj_rib_out)

    @property
    def loc_rib(self) -> bool:
        return self.peer_type == PEER_LOC_RIB

    @property
    def post_policy(self) -> bool:
        """Loc-RIB is after policy by definition (RFC 9069 section 4.2)."""
        return self.loc_rib or bool(self.flags & FLAG_POST_POLICY)

    @property
    def adj_rib_out(self) -> bool:
        return not self.loc_rib and bool(self.flags & FLAG_ADJ_RIB_OUT)

    @property
    def four_byte_as(self) -> bool:
        """The A flag set means the AS_PATH uses 2-byte AS numbers (RFC 7854 section 4.2)."""
        return self.loc_rib or not self.flags & FLAG_TWO_BYTE_AS


@dataclass(frozen=True, slots=True)
class Message:
    """One BMP message: its type, the per-peer header when it has one, and its body."""

    type: int
    peer: PeerHeader | None
    body: bytes


@dataclass(slots=True)
class OpenInfo:
    """What rib/ needs from a BGP OPEN (RFC 5492 capabilities)."""

    asn: int
    families: set[tuple[int, int]] = field(default_factory=set)
    """Multiprotocol capability (RFC 4760) families; empty: IPv4 unicast only."""
    add_path: dict[tuple[int, int], int] = field(default_factory=dict)
    """RFC 7911 capability: family -> 1 receive, 2 send, 3 both."""
    four_byte_as: bool = False
    known: bool = True
    """False for an OPEN without a body: FRR puts a bare 19-byte header in a Peer Up
    when it missed the session's OPEN (a connection collision, or BMP set up after the
    session), so nothing about the peer's capabilities is known from it."""


@dataclass(frozen=True, slots=True)
class PeerUp:
    """RFC 7854 section 4.10: the router's OPEN to the peer and the peer's OPEN to it."""

    sent: OpenInfo
    received: OpenInfo

    @property
    def complete(self) -> bool:
        """Both OPENs are there (see :attr:`OpenInfo.known`)."""
        return self.sent.known and self.received.known

    def families(self) -> set[tuple[int, int]]:
        """Families both sides announced (IPv4 unicast when neither sends the capability).
        Empty without both OPENs: which families the session negotiated is not known."""
        if not self.complete:
            return set()
        sent = self.sent.families or {IPV4_UNICAST}
        received = self.received.families or {IPV4_UNICAST}
        return sent & received

    def add_path_received(self) -> set[tuple[int, int]]:
        """Families whose paths from this peer carry a path identifier: the peer sends them
        and the router receives them (RFC 7911 section 4). Empty without both OPENs: a path
        identifier read where there is none would misread every prefix after it, and the
        router that sends bare OPENs (FRR) never puts path ids in route monitoring."""
        if not self.complete:
            return set()
        return {
            family
            for family, mode in self.received.add_path.items()
            if mode & 2 and self.sent.add_path.get(family, 0) & 1
        }


_NO_NLRI = NlriBlock([])
"""An UPDATE's withdrawn routes when it has none (never changed: blocks are joined into
new ones)."""


@dataclass(slots=True)
class Update:
    """A BGP UPDATE as paths: withdrawn NLRI, announced (attributes, NLRI) groups, End-of-RIB."""

    withdrawn: NlriBlock = _NO_NLRI
    announced: list[tuple[Attributes, NlriBlock]] = field(default_factory=list)
    end_of_rib: tuple[int, int] | None = None


def parse_common_header(data: bytes) -> tuple[int, int]:
    """``(length, type)`` of the message these 6 bytes start; checks version and length."""
    if len(data) != COMMON_HEADER:
        raise BmpError("truncated common header")
    version, length, msg_type = _COMMON.unpack(data)
    if version != BMP_VERSION:
        raise BmpError(f"unsupported BMP version {version}")
    if length < COMMON_HEADER:
        raise BmpError(f"message length {length} is shorter than its header")
    if msg_type not in MESSAGE_TYPES:
        raise BmpError(f"unknown message type {msg_type}")
    if msg_type in _PER_PEER and length < COMMON_HEADER + PEER_HEADER:
        raise BmpError(f"{MESSAGE_TYPES[msg_type]} of {length} bytes has no room for its peer")
    return length, msg_type


def parse_message(msg_type: int, body: bytes) -> Message:
    """Splits the per-peer header off a message body (the bytes after the common header)."""
    if msg_type not in _PER_PEER:
        return Message(msg_type, None, body)
    if len(body) < PEER_HEADER:
        raise BmpError("truncated per-peer header")
    peer_type, flags, rd, addr, asn, bgp_id, _, _ = _PEER.unpack_from(body)
    if peer_type > PEER_LOC_RIB:
        raise BmpError(f"unknown peer type {peer_type}")
    if peer_type == PEER_LOC_RIB:
        address = ""
    elif flags & FLAG_V6:
        address = socket.inet_ntop(socket.AF_INET6, addr)
    else:
        address = socket.inet_ntoa(addr[12:])
    peer = PeerHeader(peer_type, flags, rd, address, asn, socket.inet_ntoa(bgp_id))
    return Message(msg_type, peer, body[PEER_HEADER:])


def parse_tlvs(data: bytes) -> dict[int, bytes]:
    """Information TLVs (RFC 7854 section 4.4): type -> value (the last one of a type wins)."""
    out: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        if i + 4 > len(data):
            raise BmpError("truncated information TLV")
        tlv_type, length = struct.unpack_from("!HH", data, i)
        if i + 4 + length > len(data):
            raise BmpError("information TLV runs past its message")
        out[tlv_type] = data[i + 4 : i + 4 + length]
        i += 4 + length
    return out


def _bgp_pdu(data: bytes, offset: int, expected: int) -> tuple[bytes, int]:
    """One BGP message at ``offset``: its body (after the 19-byte header) and the next offset."""
    if offset + BGP_HEADER > len(data):
        raise BmpError("truncated BGP message header")
    if data[offset : offset + 16] != b"\xff" * 16:
        raise BmpError("BGP message without its marker")
    length, msg_type = struct.unpack_from("!HB", data, offset + 16)
    if length < BGP_HEADER or offset + length > len(data):
        raise BmpError(f"BGP message length {length} does not fit its BMP message")
    if msg_type != expected:
        raise BmpError(f"BGP message type {msg_type} where {expected} was expected")
    return data[offset + BGP_HEADER : offset + length], offset + length


def parse_peer_up(body: bytes) -> PeerUp:
    """A Peer Up body after its per-peer header (RFC 7854 section 4.10)."""
    # Local address (16), local port (2), remote port (2), then the two OPENs.
    sent, offset = _bgp_pdu(body, 20, 1)
    received, _ = _bgp_pdu(body, offset, 1)
    return PeerUp(parse_open(sent), parse_open(received))


def parse_open(body: bytes) -> OpenInfo:
    """A BGP OPEN body (after the 19-byte header): its AS and capabilities (RFC 5492).
    An empty body (FRR's stand-in for an OPEN it did not keep) is an OPEN not known."""
    if not body:
        return OpenInfo(0, known=False)
    if len(body) < 10:
        raise BmpError("truncated OPEN")
    asn = _U16.unpack_from(body, 1)[0]
    opt_len = body[9]
    params, i = body[10 : 10 + opt_len], 0
    if len(params) != opt_len:
        raise BmpError("OPEN optional parameters run past the message")
    info = OpenInfo(asn)
    while i + 2 <= len(params):
        ptype, plen = params[i], params[i + 1]
        value = params[i + 2 : i + 2 + plen]
        i += 2 + plen
        if ptype == 2:
            _capabilities(value, info)
    return info


def _capabilities(data: bytes, info: OpenInfo) -> None:
    i = 0
    while i + 2 <= len(data):
        code, length = data[i], data[i + 1]
        value = data[i + 2 : i + 2 + length]
        i += 2 + length
        if code == 1 and len(value) == 4:
            afi, _, safi = struct.unpack("!HBB", value)
            info.families.add((afi, safi))
        elif code == 65 and len(value) == 4:
            info.four_byte_as = True
            info.asn = _U32.unpack(value)[0]
        elif code == 69:
            for j in range(0, len(value) - 3, 4):
                afi, safi, mode = struct.unpack_from("!HBB", value, j)
                info.add_path[(afi, safi)] = mode


def parse_route_monitoring(body: bytes) -> bytes:
    """The BGP UPDATE body a Route Monitoring message carries (RFC 7854 section 4.6)."""
    update, end = _bgp_pdu(body, 0, 2)
    if end != len(body):
        raise BmpError("bytes after the BGP UPDATE of a route monitoring message")
    return update


def parse_update(
    body: bytes,
    four_byte_as: bool,
    add_path: frozenset[tuple[int, int]] | set = frozenset(),
    cache: AttributeCache | None = None,
) -> Update:
    """Decodes an UPDATE body (RFC 4271 section 4.3, RFC 4760 for IPv6).

    ``add_path`` names the families whose NLRI carry a path identifier (RFC 7911).
    ``cache``: attribute sets already decoded (:class:`AttributeCache`); the same
    :class:`PathAttributes` object comes back for the same attributes.
    """
    try:
        if cache is not None:
            return _parse_update_cached(body, four_byte_as, add_path, cache)
        return _parse_update(body, four_byte_as, add_path)
    except (struct.error, IndexError, OSError) as exc:
        raise UpdateError(f"truncated UPDATE: {exc}") from None


def treat_as_withdraw(body: bytes, add_path=frozenset()) -> NlriBlock | None:
    """The prefixes of an UPDATE whose attributes could not be read, to be withdrawn (RFC
    7606 section 2, treat-as-withdraw): its withdrawn routes and NLRI, and the NLRI of an
    MP_REACH_NLRI or MP_UNREACH_NLRI found by walking the attributes' headers. None when
    the UPDATE's framing itself is broken and they cannot be found."""
    try:
        wlen = _U16.unpack_from(body, 0)[0]
        alen = _U16.unpack_from(body, 2 + wlen)[0]
        start, end = 4 + wlen, 4 + wlen + alen
        if end > len(body):
            return None
        v4_ids = IPV4_UNICAST in add_path
        gone = _join(_prefixes(body[2 : 2 + wlen], 4, v4_ids), _prefixes(body[end:], 4, v4_ids))
        i = start
        while i < end:
            flags, code = body[i], body[i + 1]
            if flags & 0x10:
                length, at = _U16.unpack_from(body, i + 2)[0], i + 4
            else:
                length, at = body[i + 2], i + 3
            if at + length > end:
                return None
            if code == 14:
                gone = _join(gone, _mp_reach(body[at : at + length], add_path)[1])
            elif code == 15:
                gone = _join(gone, _mp_unreach(body[at : at + length], add_path)[1])
            i = at + length
        return gone
    except (struct.error, IndexError, UpdateError):
        return None


class AttributeCache:
    """Decoded attribute sets by their bytes, so a table's repeated attributes are decoded
    once.

    A router's BMP sends a table one prefix a message (FRR, GoBGP), each message with
    the whole attribute set, and a full table has far fewer attribute sets than
    prefixes: decoding each once saves most of a message's cost. The key is the
    attribute bytes with MP_REACH_NLRI's NLRI left out (RFC 4760 section 3: its
    address family and next hop stay in), so IPv6 paths share entries as IPv4 ones
    do; 2-byte and 4-byte AS_PATHs (RFC 6793) are kept apart.

    At most ``size`` entries a table; when one is full its older half goes (a dict keeps
    the order entries came in). A router's initial sync walks its table in prefix order,
    so an attribute set comes back at random among all of them: a full table has about
    400k sets (the soak's; a real one's are of that order), and at 64k entries, emptied
    when full, most messages missed (``bench/rib/learn.py --table sync``). 512k entries
    is a few hundred MiB at most, in the station's own process by default."""

    def __init__(
        self,
        size: int = 1 << 19,
        hand_on: Callable[[PathAttributes], Attributes] = SharedAttributes._make,
    ) -> None:
        """``hand_on``: what a decoded set is kept and handed on as. By default a
        :class:`SharedAttributes`, which the RIB may know by identity and keeps alive to
        do so: only for a producer that holds them itself as long (the station in the
        daemon's process). A small cache that forgets its sets must hand on plain ones
        (:func:`as_decoded`), or the RIB would hold every set it ever saw. The station's
        own process keeps their numbers only (``rib/bmp/process.py``: a set crosses to the
        daemon once, encoded)."""
        self.size = size
        self.hand_on = hand_on
        # [four_byte_as][has MP_REACH_NLRI]: a key without MP_REACH_NLRI is the attribute
        # bytes as they are, so such an update is found before its attributes are walked.
        self._entries: tuple[tuple[dict[bytes, _Cached], ...], ...] = (({}, {}), ({}, {}))
        self.hits = 0
        self.misses = 0

    def entries(self, four_byte_as: bool, mp_reach: bool) -> dict[bytes, _Cached]:
        return self._entries[four_byte_as][mp_reach]

    def put(self, table: dict[bytes, _Cached], key: bytes, value: _Cached) -> None:
        if len(table) >= self.size:
            for old in list(itertools.islice(table, max(1, len(table) // 2))):
                del table[old]
        table[key] = value

    def __len__(self) -> int:
        return sum(len(table) for tables in self._entries for table in tables)

    def clear(self) -> None:
        """Forgets every set (their numbers start again, ``rib/bmp/process.py``)."""
        for tables in self._entries:
            for table in tables:
                table.clear()


def as_decoded(attrs: PathAttributes) -> PathAttributes:
    """A set handed on as decoded (:class:`AttributeCache`'s ``hand_on``)."""
    return attrs


_Cached = Attributes | tuple[Attributes | None, Attributes | None]
"""A cache entry (:func:`_entry`): the path of IPv4 NLRI (None without NEXT_HOP) and the
path of MP_REACH_NLRI's NLRI, as one of them alone when the other is None."""


class _NoPath:
    """The entry of attributes with neither MP_REACH_NLRI nor NEXT_HOP: no path at all."""


_NO_PATH: Any = _NoPath()


def _entry(v4_path: Attributes | None, mp_path: Attributes | None, mp_reach: bool) -> _Cached:
    """What the cache keeps of a set: the one path an update with these attributes has,
    as nearly all of a table's have one (the table without MP_REACH_NLRI keeps the IPv4
    path; the other its MP_REACH_NLRI path when there is no IPv4 one), else both as a
    pair. A pair a set was 56 bytes, a fifth of the station's process on a 0.5M-prefix
    table (350k sets)."""
    if not mp_reach:
        return _NO_PATH if v4_path is None else v4_path
    return mp_path if v4_path is None and mp_path is not None else (v4_path, mp_path)


def _paths(entry: Any, mp_reach: bool) -> tuple[Attributes | None, Attributes | None]:
    """The (IPv4 path, MP_REACH_NLRI path) of an entry (:func:`_entry`) of the table with
    or without MP_REACH_NLRI. A pair is a plain tuple; a path is a set (a named tuple's
    subclass) or a number (an int's)."""
    if type(entry) is tuple:
        return entry
    if mp_reach:
        return None, entry
    return (None if entry is _NO_PATH else entry), None


def _parse_update(body: bytes, four_byte_as: bool, add_path) -> Update:
    out = Update()
    if len(body) < 4:
        raise UpdateError("UPDATE shorter than its length fields")
    wlen = _U16.unpack_from(body, 0)[0]
    if 2 + wlen + 2 > len(body):
        raise UpdateError("withdrawn routes run past the UPDATE")
    v4_ids = IPV4_UNICAST in add_path
    out.withdrawn = _prefixes(body[2 : 2 + wlen], 4, v4_ids)
    alen = _U16.unpack_from(body, 2 + wlen)[0]
    start = 4 + wlen
    if start + alen > len(body):
        raise UpdateError("path attributes run past the UPDATE")
    nlri = _prefixes(body[start + alen :], 4, v4_ids)
    if not wlen and not alen and not nlri:
        out.end_of_rib = IPV4_UNICAST
        return out
    attrs = _attributes(body[start : start + alen], four_byte_as, add_path)
    if attrs.unreach is not None:
        family, prefixes = attrs.unreach
        if not prefixes and alen == len(attrs.raw_unreach) and not nlri and not wlen:
            out.end_of_rib = family
        out.withdrawn = _join(out.withdrawn, prefixes)
    if attrs.reach is not None:
        next_hop, prefixes = attrs.reach
        if prefixes:
            out.announced.append((attrs.path(next_hop), prefixes))
    if nlri:
        if attrs.next_hop is None:
            raise UpdateError("IPv4 NLRI without a NEXT_HOP")
        out.announced.append((attrs.path(attrs.next_hop), nlri))
    return out


def _parse_update_cached(
    body: bytes, four_byte_as: bool, add_path, cache: AttributeCache
) -> Update:
    """:func:`_parse_update` with the attribute set looked up in ``cache`` first. The
    attributes are walked (headers only) to find MP_REACH_NLRI's NLRI; any update this
    path does not cover (a withdrawal, MP_UNREACH_NLRI, End-of-RIB, an inconsistent
    length) is decoded in full by :func:`_parse_update`, which gives the same result
    and raises the same errors."""
    n = len(body)
    if n < 4:
        return _parse_update(body, four_byte_as, add_path)
    wlen = (body[0] << 8) | body[1]
    if wlen:
        return _parse_update(body, four_byte_as, add_path)
    alen = (body[2] << 8) | body[3]
    end = 4 + alen
    if not alen or end > n:
        return _parse_update(body, four_byte_as, add_path)
    plain = cache.entries(four_byte_as, False)
    raw = body[4:end]
    hit: Any = plain.get(raw)  # an entry of this table is a path or _NO_PATH (_entry)
    if hit is not None:
        # Attributes seen before, without MP_REACH_NLRI: only the NLRI is new.
        cache.hits += 1
        nlri = _prefixes(body[end:], 4, IPV4_UNICAST in add_path)
        if not nlri or hit is _NO_PATH:
            return _parse_update(body, four_byte_as, add_path)
        out = Update()
        out.announced.append((hit, nlri))
        return out
    # Walk the attribute headers: where MP_REACH_NLRI's NLRI is, if anywhere.
    i = 4
    reach = -1
    reach_end = 0
    while i < end:
        if i + 3 > end:
            return _parse_update(body, four_byte_as, add_path)
        flags, code = body[i], body[i + 1]
        if flags & 0x10:
            if i + 4 > end:
                return _parse_update(body, four_byte_as, add_path)
            v, length = i + 4, (body[i + 2] << 8) | body[i + 3]
        else:
            v, length = i + 3, body[i + 2]
        if v + length > end or code == 15:
            return _parse_update(body, four_byte_as, add_path)
        if code == 14:
            if length < 5 or reach >= 0:
                return _parse_update(body, four_byte_as, add_path)
            reach, reach_end = i, v + length
            nlri_at = v + 5 + body[v + 3]
            if nlri_at > reach_end:
                return _parse_update(body, four_byte_as, add_path)
            reach_v = v
        i = v + length
    if reach < 0:
        # Its key is the attribute bytes, which missed above: not looked up again, and
        # the same bytes object (its hash kept) is the key and the decoder's input.
        key, table, hit = raw, plain, None
    else:
        # The attributes without the MP_REACH_NLRI header's length and NLRI.
        key = (
            body[4:reach]
            + body[reach + 1 : reach + 2]
            + body[reach_v:nlri_at]
            + body[reach_end:end]
        )
        table = cache.entries(four_byte_as, True)
        hit = table.get(key)
    if hit is None:
        cache.misses += 1
        attrs = _attributes(raw, four_byte_as, add_path)
        # The cache hands the same objects on while it holds them (rib/attributes).
        v4_path = None if attrs.next_hop is None else cache.hand_on(attrs.path(attrs.next_hop))
        mp_path = None if attrs.reach is None else cache.hand_on(attrs.path(attrs.reach[0]))
        cache.put(table, key, _entry(v4_path, mp_path, reach >= 0))
    else:
        cache.hits += 1
        v4_path, mp_path = _paths(hit, reach >= 0)
    out = Update()
    if reach >= 0:
        family = _family(body[reach_v : reach_v + 3])
        width = 16 if family[0] == AFI_IPV6 else 4
        prefixes = _prefixes(body[nlri_at:reach_end], width, family in add_path)
        if prefixes:
            if mp_path is None:
                return _parse_update(body, four_byte_as, add_path)
            out.announced.append((mp_path, prefixes))
    nlri = _prefixes(body[end:], 4, IPV4_UNICAST in add_path)
    if nlri:
        if v4_path is None:
            return _parse_update(body, four_byte_as, add_path)
        out.announced.append((v4_path, nlri))
    return out


@dataclass(slots=True)
class _Attrs:
    origin: int = 0
    as_path: tuple[int, ...] = ()
    as4_path: tuple[int, ...] | None = None
    next_hop: str | None = None
    med: int | None = None
    local_pref: int | None = None
    communities: tuple[str, ...] = ()
    reach: tuple[str, NlriBlock] | None = None
    unreach: tuple[tuple[int, int], NlriBlock] | None = None
    raw_unreach: bytes = b""

    def path(self, next_hop: str) -> PathAttributes:
        as_path = self.as_path
        if self.as4_path is not None and len(self.as4_path) <= len(as_path):
            # RFC 6793 section 4.2.3: the leading ASes of AS_PATH, then AS4_PATH.
            as_path = as_path[: len(as_path) - len(self.as4_path)] + self.as4_path
        return PathAttributes(
            next_hop, as_path, self.origin, self.med, self.local_pref, self.communities
        )


def _attributes(data: bytes, four_byte_as: bool, add_path) -> _Attrs:
    out = _Attrs()
    i = 0
    while i < len(data):
        if i + 3 > len(data):
            raise UpdateError("truncated path attribute header")
        flags, code = data[i], data[i + 1]
        if flags & 0x10:
            if i + 4 > len(data):
                raise UpdateError("truncated path attribute header")
            length, i = _U16.unpack_from(data, i + 2)[0], i + 4
        else:
            length, i = data[i + 2], i + 3
        if i + length > len(data):
            raise UpdateError(f"path attribute {code} runs past the attributes")
        value = data[i : i + length]
        i += length
        if code == 1:
            if length != 1 or value[0] > 2:
                raise UpdateError("bad ORIGIN")
            out.origin = value[0]
        elif code == 2:
            out.as_path = _as_path(value, 4 if four_byte_as else 2)
        elif code == 3:
            if length != 4:
                raise UpdateError("bad NEXT_HOP")
            out.next_hop = socket.inet_ntoa(value)
        elif code == 4:
            out.med = _u32(value, "MULTI_EXIT_DISC")
        elif code == 5:
            out.local_pref = _u32(value, "LOCAL_PREF")
        elif code == 8:
            if length % 4:
                raise UpdateError("bad COMMUNITIES")
            # One formatting call per community, in C (a generator costs a resumption each).
            out.communities = tuple(map("%d:%d".__mod__, struct.iter_unpack("!HH", value)))
        elif code == 14:
            out.reach = _mp_reach(value, add_path)
        elif code == 15:
            out.unreach = _mp_unreach(value, add_path)
            out.raw_unreach = data[i - length - (4 if flags & 0x10 else 3) : i]
        elif code == 17 and not four_byte_as:
            out.as4_path = _as_path(value, 4)
    return out


def _u32(value: bytes, name: str) -> int:
    if len(value) != 4:
        raise UpdateError(f"bad {name}")
    return _U32.unpack(value)[0]


def _as_path(data: bytes, width: int) -> tuple[int, ...]:
    """AS numbers in order; an AS_SET counts as one AS (RFC 4271 section 9.1.2.2 (a))."""
    fmt = "!%dH" if width == 2 else "!%dI"
    path: list[int] = []
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise UpdateError("truncated AS_PATH segment")
        seg_type, count = data[i], data[i + 1]
        end = i + 2 + count * width
        if end > len(data):
            raise UpdateError("AS_PATH segment runs past the attribute")
        asns = struct.unpack_from(fmt % count, data, i + 2)
        if seg_type == 2:  # AS_SEQUENCE
            path.extend(asns)
        elif seg_type == 1:  # AS_SET
            if asns:
                path.append(min(asns))
        else:
            raise UpdateError(f"unknown AS_PATH segment type {seg_type}")
        i = end
    return tuple(path)


def _family(data: bytes) -> tuple[int, int]:
    afi, safi = struct.unpack_from("!HB", data, 0)
    if (afi, safi) not in FAMILY_NAMES:
        raise UpdateError(f"unsupported family afi={afi} safi={safi}")
    return afi, safi


def _mp_reach(data: bytes, add_path) -> tuple[str, NlriBlock]:
    """MP_REACH_NLRI (RFC 4760 section 3); IPv6 next hop: the global one (RFC 2545)."""
    family = _family(data)
    nh_len = data[3]
    if 4 + nh_len + 1 > len(data):
        raise UpdateError("MP_REACH_NLRI next hop runs past the attribute")
    nh = data[4 : 4 + nh_len]
    if family[0] == AFI_IPV6:
        if nh_len not in (16, 32):
            raise UpdateError(f"IPv6 next hop of {nh_len} bytes")
        next_hop = socket.inet_ntop(socket.AF_INET6, nh[:16])
    else:
        if nh_len != 4:
            raise UpdateError(f"IPv4 next hop of {nh_len} bytes")
        next_hop = socket.inet_ntoa(nh)
    # One reserved byte, then NLRI.
    width = 16 if family[0] == AFI_IPV6 else 4
    return next_hop, _prefixes(data[5 + nh_len :], width, family in add_path)


def _mp_unreach(data: bytes, add_path) -> tuple[tuple[int, int], NlriBlock]:
    family = _family(data)
    width = 16 if family[0] == AFI_IPV6 else 4
    return family, _prefixes(data[3:], width, family in add_path)


def _prefixes(data: bytes, width: int, path_ids: bool) -> NlriBlock:
    """NLRI as prefixes' text, with a 4-byte path id before each under add-path (else
    path id 0 for all), as one :class:`NlriBlock`: no tuple per prefix."""
    texts: list[str] = []
    append = texts.append
    i, n = 0, len(data)
    limit = width * 8
    pad = _PAD[width]
    text = _ntoa if width == 4 else _ntop6
    if path_ids:
        ids: list[int] = []
        add_id = ids.append
        while i < n:
            if i + 5 > n:
                if i + 4 > n:
                    raise UpdateError("truncated path identifier")
                raise UpdateError("truncated NLRI")
            add_id((data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3])
            plen = data[i + 4]
            end = i + 5 + ((plen + 7) >> 3)
            if plen > limit or end > n or (plen & 7 and data[end - 1] & (0xFF >> (plen & 7))):
                i = _prefix(data, i + 4, n, limit, pad, text, append)
                continue
            append(f"{text(data[i + 5 : end] + pad[end - i - 5])}/{plen}")
            i = end
        if ids and ids.count(ids[0]) == len(ids):
            # One provider's paths, as a router's add-path UPDATE carries them: one id.
            return NlriBlock(texts, ids[0])
        return NlriBlock(texts, ids)
    while i < n:
        plen = data[i]
        end = i + 1 + ((plen + 7) >> 3)
        if plen > limit or end > n or (plen & 7 and data[end - 1] & (0xFF >> (plen & 7))):
            # The unusual cases (an error, or bits past the length to clear) in the
            # general loop.
            i = _prefix(data, i, n, limit, pad, text, append)
            continue
        append(f"{text(data[i + 1 : end] + pad[end - i - 1])}/{plen}")
        i = end
    return NlriBlock(texts, 0)


def _prefix(data: bytes, i: int, n: int, limit: int, pad: list[bytes], text, append) -> int:
    """Decodes the prefix at ``i`` (RFC 4271 section 4.3), appends its text, returns the
    offset after it."""
    if i >= n:
        raise UpdateError("truncated NLRI")
    plen = data[i]
    if plen > limit:
        raise UpdateError(f"prefix length {plen} over {limit}")
    size = (plen + 7) >> 3
    if i + 1 + size > n:
        raise UpdateError("NLRI prefix runs past its field")
    raw = data[i + 1 : i + 1 + size] + pad[size]
    if plen & 7:
        # Bits past the prefix length are not part of the prefix (RFC 4271 4.3).
        masked = bytearray(raw)
        masked[size - 1] &= (0xFF << (8 - (plen & 7))) & 0xFF
        raw = bytes(masked)
    append(f"{text(raw)}/{plen}")
    return i + 1 + size


def _join(a: NlriBlock, b: NlriBlock) -> NlriBlock:
    """One block of two (IPv4 withdrawn routes and MP_UNREACH_NLRI's)."""
    if not a:
        return b
    if not b:
        return a
    if isinstance(a.path_ids, int) and a.path_ids == b.path_ids:
        return NlriBlock(a.prefixes + b.prefixes, a.path_ids)
    return NlriBlock(a.prefixes + b.prefixes, a.ids() + b.ids())


def _ntop6(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, raw)


_ntoa = socket.inet_ntoa
_PAD = {w: [bytes(w - k) for k in range(w + 1)] for w in (4, 16)}
"""Zero bytes that complete a prefix of k bytes to an address of w bytes."""
