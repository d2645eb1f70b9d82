"""GoBGP's gRPC API (``apipb``, GoBGP 3.10) <-> speaker events and paths.

Learning: ``WatchEvent`` with an ``ADJIN`` table filter streams, per UPDATE a
router sent, its paths before any policy (``Path``: ``nlri`` an ``Any`` holding an
``IPAddressPrefix``, ``pattrs`` a list of ``Any`` path attributes, ``identifier``
the RFC 7911 path identifier, ``is_withdraw``, ``neighbor_ip`` the router). All
paths of one UPDATE carry the same attributes, so decoded attribute sets are
kept by the attributes' serialized bytes and decoded once.

Injecting: :func:`api_path` builds the ``Path`` that ``AddPathStream`` takes for
one routepilot route (announced or withdrawn).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import DecodeError

from routepilot.rib.speaker.base import (
    InjectedRoute,
    MalformedUpdate,
    Nlri,
    PathAttributes,
    PathsLearned,
    PathsWithdrawn,
    SpeakerEvent,
)
from routepilot.rib.speaker.gobgp_api._gen import attribute_pb2 as attr_pb
from routepilot.rib.speaker.gobgp_api._gen import gobgp_pb2 as pb
from routepilot.rib.speaker.gobgp_api._gen import watch_pb2 as watch_pb

_URL = "type.googleapis.com/apipb."
_IP_PREFIX = _URL + "IPAddressPrefix"
_AFI = {pb.Family.AFI_IP: "ipv4", pb.Family.AFI_IP6: "ipv6"}
_AS_SEQUENCES = (attr_pb.AsSegment.AS_SEQUENCE, attr_pb.AsSegment.AS_CONFED_SEQUENCE)
_CACHE_LIMIT = 200_000
"""Distinct attribute sets kept decoded; past it the cache starts again (a full table
has far fewer, as prefixes of one origin share them)."""

WELL_KNOWN = {
    "no-export": 0xFFFFFF01,
    "no-advertise": 0xFFFFFF02,
    "no-export-subconfed": 0xFFFFFF03,
    "blackhole": 0xFFFF029A,
}
"""RFC 1997 and RFC 7999 communities by the names the injector may use."""


def family_name(family: pb.Family) -> str:
    """``ipv4 unicast`` as routepilot's configuration (and ExaBGP) names a family."""
    safi = "unicast" if family.safi == pb.Family.SAFI_UNICAST else str(family.safi)
    return f"{_AFI.get(family.afi, str(family.afi))} {safi}"


class TableDecoder:
    """Turns the paths of one ``WatchEvent`` table event into speaker events.

    It reads the paths through ``watch.proto``'s view (:class:`WatchPath`): NLRI and
    attributes as the bytes of their ``Any``. ``router_of`` maps a router's address
    (``neighbor_ip``) to its name.
    """

    def __init__(self, router_of: Callable[[str], str | None]) -> None:
        self._router_of = router_of
        self._attributes: dict[tuple[bytes, ...], PathAttributes] = {}

    def decode(self, paths: Iterable[watch_pb.WatchPath]) -> list[SpeakerEvent]:
        """Withdrawals first, then announcements grouped by router and attribute set
        (RFC 4271 section 3.1: an UPDATE's withdrawn routes come before its NLRI)."""
        malformed: list[SpeakerEvent] = []
        withdrawn: dict[str, list[Nlri]] = {}
        learned: dict[tuple[str, PathAttributes], list[Nlri]] = {}
        router_of = self._router_of
        cache = self._attributes
        # This loop runs once per path of a full table: it touches each path's fields
        # once and hashes its attributes as bytes.
        for path in paths:
            router = router_of(path.neighbor_ip)
            if router is None:
                malformed.append(MalformedUpdate(path.neighbor_ip, "path from an unknown peer"))
                continue
            try:
                item = Nlri(_prefix(path.nlri), path.identifier)
                if path.is_withdraw:
                    withdrawn.setdefault(router, []).append(item)
                    continue
                key = tuple(path.pattrs)
                attrs = cache.get(key)
                if attrs is None:
                    attrs = _attributes(AnyMessage.FromString(a) for a in key)
                    if len(cache) >= _CACHE_LIMIT:
                        cache.clear()
                    cache[key] = attrs
            except (ValueError, TypeError, DecodeError) as exc:
                malformed.append(MalformedUpdate(router, f"{type(exc).__name__}: {exc}"))
                continue
            group = learned.get((router, attrs))
            if group is None:
                learned[(router, attrs)] = [item]
            else:
                group.append(item)
        events: list[SpeakerEvent] = malformed
        events += [PathsWithdrawn(r, tuple(n)) for r, n in withdrawn.items()]
        events += [PathsLearned(r, a, tuple(n)) for (r, a), n in learned.items()]
        return events


_NLRI_HEAD = b"\n" + bytes([len(_IP_PREFIX)]) + _IP_PREFIX.encode() + b"\x12"
"""An ``Any`` holding an ``IPAddressPrefix``, up to its value's length byte."""
_LENGTHS = [f"/{n}" for n in range(129)]


def _prefix(raw: bytes) -> str:
    """The serialized ``Any`` of an ``IPAddressPrefix`` (``prefix_len`` = 1, ``prefix`` = 2)
    -> ``address/length``.

    The usual encoding (type URL, value length < 128, ``prefix_len`` then ``prefix``) is
    read from the bytes directly; anything else goes through the protobuf parser.
    """
    at = len(_NLRI_HEAD) + 1
    if (
        raw.startswith(_NLRI_HEAD)
        and len(raw) > at + 4
        and raw[at] == 0x08
        and raw[at + 1] < 129
        and raw[at + 2] == 0x12
        and raw[at + 3] == len(raw) - at - 4
        and raw[at - 1] == len(raw) - at
    ):
        return raw[at + 4 :].decode() + _LENGTHS[raw[at + 1]]
    nlri = AnyMessage.FromString(raw)
    if nlri.type_url != _IP_PREFIX:
        raise ValueError(f"unexpected nlri {nlri.type_url!r}")
    message = attr_pb.IPAddressPrefix.FromString(nlri.value)
    if not message.prefix:
        raise ValueError("nlri without a prefix")
    return f"{message.prefix}/{message.prefix_len}"


def _attributes(pattrs: Iterable[AnyMessage]) -> PathAttributes:
    next_hop = ""
    as_path: tuple[int, ...] = ()
    origin = 0
    med: int | None = None
    local_pref: int | None = None
    communities: tuple[str, ...] = ()
    for a in pattrs:
        kind = a.type_url.removeprefix(_URL)
        if kind == "OriginAttribute":
            origin = attr_pb.OriginAttribute.FromString(a.value).origin
            if origin > 2:
                raise ValueError(f"unknown origin {origin}")
        elif kind == "AsPathAttribute":
            as_path = _as_path(attr_pb.AsPathAttribute.FromString(a.value))
        elif kind == "NextHopAttribute":
            next_hop = attr_pb.NextHopAttribute.FromString(a.value).next_hop
        elif kind == "MpReachNLRIAttribute":
            next_hop = _global_next_hop(attr_pb.MpReachNLRIAttribute.FromString(a.value))
        elif kind == "MultiExitDiscAttribute":
            med = attr_pb.MultiExitDiscAttribute.FromString(a.value).med
        elif kind == "LocalPrefAttribute":
            local_pref = attr_pb.LocalPrefAttribute.FromString(a.value).local_pref
        elif kind == "CommunitiesAttribute":
            values = attr_pb.CommunitiesAttribute.FromString(a.value).communities
            communities = tuple(f"{c >> 16}:{c & 0xFFFF}" for c in values)
    if not next_hop:
        raise ValueError("path without a next hop")
    return PathAttributes(next_hop, as_path, origin, med, local_pref, communities)


def _global_next_hop(reach: attr_pb.MpReachNLRIAttribute) -> str:
    """The global IPv6 next hop; a link-local one beside it names no provider (RFC 2545
    section 3), as in the ExaBGP decoder."""
    hops = list(reach.next_hops)
    kept = [h for h in hops if not h.lower().startswith("fe80:")]
    return (kept or hops or [""])[0]


def _as_path(attribute: attr_pb.AsPathAttribute) -> tuple[int, ...]:
    """AS numbers in order; an AS_SET counts as its lowest AS (RFC 4271 section
    9.1.2.2 (a)), as the ExaBGP decoder counts it."""
    path: list[int] = []
    for segment in attribute.segments:
        if segment.type in _AS_SEQUENCES:
            path.extend(segment.numbers)
        elif segment.numbers:
            path.append(min(segment.numbers))
    return tuple(path)


# Injection.


def _pack(message) -> AnyMessage:
    out = AnyMessage()
    out.Pack(message)
    return out


def community(text: str) -> int:
    """``65535:65281`` or a well-known name -> the 32-bit RFC 1997 community."""
    if text in WELL_KNOWN:
        return WELL_KNOWN[text]
    high, low = text.split(":")
    a, b = int(high), int(low)
    if not (0 <= a <= 0xFFFF and 0 <= b <= 0xFFFF):
        raise ValueError(f"community out of range: {text!r}")
    return a << 16 | b


def large_community(text: str) -> attr_pb.LargeCommunity:
    """RFC 8092 ``GLOBAL:LOCAL1:LOCAL2``."""
    g, l1, l2 = (int(x) for x in text.split(":"))
    return attr_pb.LargeCommunity(global_admin=g, local_data1=l1, local_data2=l2)


@lru_cache(maxsize=1024)
def _shared_attributes(
    local_pref: int,
    communities: tuple[str, ...],
    large: tuple[str, ...],
    as_path: tuple[int, ...],
) -> tuple[AnyMessage, ...]:
    """Every attribute but the next hop, packed once per attribute set."""
    segments = [attr_pb.AsSegment(type=attr_pb.AsSegment.AS_SEQUENCE, numbers=as_path)]
    out = [
        _pack(attr_pb.OriginAttribute(origin=0)),
        _pack(attr_pb.AsPathAttribute(segments=segments if as_path else [])),
        _pack(attr_pb.LocalPrefAttribute(local_pref=local_pref)),
    ]
    if communities:
        values = [community(c) for c in communities]
        out.append(_pack(attr_pb.CommunitiesAttribute(communities=values)))
    if large:
        out.append(
            _pack(
                attr_pb.LargeCommunitiesAttribute(communities=[large_community(c) for c in large])
            )
        )
    return tuple(out)


_V4 = pb.Family(afi=pb.Family.AFI_IP, safi=pb.Family.SAFI_UNICAST)
_V6 = pb.Family(afi=pb.Family.AFI_IP6, safi=pb.Family.SAFI_UNICAST)


def api_path(route: InjectedRoute) -> pb.Path:
    """The ``Path`` that announces one route in gobgpd's global RIB (set its
    ``is_withdraw`` to withdraw it)."""
    # The injector's prefixes are canonical already (``ipaddress`` made them); gobgpd
    # checks them again.
    address, _, length = route.prefix.partition("/")
    prefix = attr_pb.IPAddressPrefix(prefix_len=int(length), prefix=address)
    nlri = _pack(prefix)
    attrs = list(
        _shared_attributes(
            route.local_pref, route.communities, route.large_communities, route.as_path
        )
    )
    if ":" not in address:
        family = _V4
        attrs.append(_pack(attr_pb.NextHopAttribute(next_hop=route.next_hop)))
    else:
        # An IPv6 route's next hop travels in MP_REACH_NLRI (RFC 4760), which gobgpd
        # wants to hold the route's own NLRI too.
        family = _V6
        reach = attr_pb.MpReachNLRIAttribute(family=_V6, next_hops=[route.next_hop], nlris=[nlri])
        attrs.append(_pack(reach))
    return pb.Path(nlri=nlri, pattrs=attrs, family=family)
