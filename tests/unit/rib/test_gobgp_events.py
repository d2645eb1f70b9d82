"""GoBGP's WatchEvent paths -> speaker events, and routes -> AddPathStream paths.

The responses are built with GoBGP's own message types (``apipb``), as gobgpd sends
them, serialized, and read back through routepilot's wire-compatible view
(``watch.proto``), as the speaker reads them.
"""

from __future__ import annotations

import pytest
from google.protobuf.any_pb2 import Any as AnyMessage

pytest.importorskip(
    "routepilot.rib.speaker.gobgp_api._gen.gobgp_pb2", reason="no GoBGP stubs: make gobgp-api"
)
from routepilot.rib.speaker.base import (  # noqa: E402
    InjectedRoute,
    MalformedUpdate,
    Nlri,
    PathAttributes,
    PathsLearned,
    PathsWithdrawn,
)
from routepilot.rib.speaker.gobgp_api._gen import attribute_pb2 as ap  # noqa: E402
from routepilot.rib.speaker.gobgp_api._gen import gobgp_pb2 as pb  # noqa: E402
from routepilot.rib.speaker.gobgp_api._gen import watch_pb2 as wp  # noqa: E402
from routepilot.rib.speaker.gobgp_events import (  # noqa: E402
    TableDecoder,
    api_path,
    community,
    family_name,
)

ROUTER = "100.64.0.1"
V4 = pb.Family(afi=pb.Family.AFI_IP, safi=pb.Family.SAFI_UNICAST)
V6 = pb.Family(afi=pb.Family.AFI_IP6, safi=pb.Family.SAFI_UNICAST)


def pack(message) -> AnyMessage:
    out = AnyMessage()
    out.Pack(message)
    return out


def prefix(text: str) -> AnyMessage:
    address, length = text.split("/")
    return pack(ap.IPAddressPrefix(prefix=address, prefix_len=int(length)))


def attrs_v4(next_hop: str, med: int | None = None) -> list[AnyMessage]:
    seq = ap.AsSegment(type=ap.AsSegment.AS_SEQUENCE, numbers=[64501, 4200000001])
    aset = ap.AsSegment(type=ap.AsSegment.AS_SET, numbers=[65010, 65003])
    out = [
        pack(ap.OriginAttribute(origin=2)),
        pack(ap.AsPathAttribute(segments=[seq, aset])),
        pack(ap.NextHopAttribute(next_hop=next_hop)),
    ]
    if med is not None:
        out.append(pack(ap.MultiExitDiscAttribute(med=med)))
    out += [
        pack(ap.LocalPrefAttribute(local_pref=150)),
        pack(ap.CommunitiesAttribute(communities=[65000 << 16 | 7, 0xFFFFFF01])),
    ]
    return out


def read(paths: list[pb.Path]) -> list:
    """What the speaker gets: gobgpd's bytes, parsed through the watch view."""
    raw = pb.WatchEventResponse(table=pb.WatchEventResponse.TableEvent(paths=paths))
    view = wp.WatchResponse.FromString(raw.SerializeToString())
    return TableDecoder({ROUTER: "edge"}.get).decode(view.table.paths)


def path(nlri: str, attrs: list[AnyMessage], family=V4, path_id: int = 0, **kw) -> pb.Path:
    return pb.Path(
        nlri=prefix(nlri),
        pattrs=attrs,
        family=family,
        identifier=path_id,
        neighbor_ip=kw.pop("neighbor_ip", ROUTER),
        **kw,
    )


def test_paths_of_one_update_become_one_event_with_every_attribute():
    attrs = attrs_v4("100.64.1.1", med=20)
    events = read(
        [path("198.18.1.0/24", attrs, path_id=1), path("198.18.2.0/24", attrs, path_id=2)]
    )
    assert events == [
        PathsLearned(
            "edge",
            PathAttributes(
                "100.64.1.1",
                # An AS_SET counts as its lowest AS, as the ExaBGP decoder counts it.
                (64501, 4200000001, 65003),
                2,
                20,
                150,
                ("65000:7", "65535:65281"),
            ),
            (Nlri("198.18.1.0/24", 1), Nlri("198.18.2.0/24", 2)),
        )
    ]


def test_withdrawals_come_first_and_attribute_sets_stay_apart():
    a, b = attrs_v4("100.64.1.1"), attrs_v4("100.64.2.1", med=5)
    events = read(
        [
            path("198.18.1.0/24", a, path_id=1),
            path("198.18.9.0/24", [], path_id=3, is_withdraw=True),
            path("198.18.2.0/24", b, path_id=2),
            path("198.18.3.0/24", a, path_id=1),
        ]
    )
    assert [type(e) for e in events] == [PathsWithdrawn, PathsLearned, PathsLearned]
    assert events[0] == PathsWithdrawn("edge", (Nlri("198.18.9.0/24", 3),))
    assert events[1].nlri == (Nlri("198.18.1.0/24", 1), Nlri("198.18.3.0/24", 1))
    assert events[2].attributes.next_hop == "100.64.2.1" and events[2].attributes.med == 5


def test_ipv6_next_hop_is_the_global_one_of_mp_reach():
    nlris = [prefix("2001:db8:1::/48"), prefix("2001:db8:2::/48")]
    reach = ap.MpReachNLRIAttribute(family=V6, next_hops=["2001:db8:f1::1", "fe80::1"], nlris=nlris)
    seq = ap.AsSegment(type=ap.AsSegment.AS_SEQUENCE, numbers=[64501])
    attrs = [
        pack(ap.OriginAttribute(origin=0)),
        pack(ap.AsPathAttribute(segments=[seq])),
        pack(reach),
    ]
    # gobgpd gives every path of the UPDATE the whole MP_REACH_NLRI.
    events = read([path("2001:db8:1::/48", attrs, V6, 7), path("2001:db8:2::/48", attrs, V6, 8)])
    assert events == [
        PathsLearned(
            "edge",
            PathAttributes("2001:db8:f1::1", (64501,), 0, None, None, ()),
            (Nlri("2001:db8:1::/48", 7), Nlri("2001:db8:2::/48", 8)),
        )
    ]


def test_a_default_route_is_read_through_the_parser():
    # prefix_len 0 is not on the wire (proto3 default): the fast path steps aside.
    events = read([path("0.0.0.0/0", attrs_v4("100.64.1.1"))])
    assert events[0].nlri == (Nlri("0.0.0.0/0", 0),)


def test_bad_paths_are_counted_and_the_others_kept():
    good = path("198.18.1.0/24", attrs_v4("100.64.1.1"))
    no_next_hop = path("198.18.2.0/24", [pack(ap.OriginAttribute(origin=0))])
    stranger = path("198.18.3.0/24", attrs_v4("100.64.1.1"), neighbor_ip="192.0.2.9")
    labeled = pb.Path(
        nlri=pack(ap.LabeledIPAddressPrefix(prefix="198.18.4.0", prefix_len=24)),
        pattrs=attrs_v4("100.64.1.1"),
        neighbor_ip=ROUTER,
    )
    bad_origin = path("198.18.5.0/24", [pack(ap.OriginAttribute(origin=9)), *attrs_v4("1.2.3.4")])
    events = read([good, no_next_hop, stranger, labeled, bad_origin])
    malformed = [e for e in events if isinstance(e, MalformedUpdate)]
    assert [m.router for m in malformed] == ["edge", "192.0.2.9", "edge", "edge"]
    assert "next hop" in malformed[0].reason and "unknown peer" in malformed[1].reason
    assert "LabeledIPAddressPrefix" in malformed[2].reason
    learned = [e for e in events if isinstance(e, PathsLearned)]
    assert [e.nlri for e in learned] == [(Nlri("198.18.1.0/24", 0),)]


def test_injected_routes_read_back_as_what_was_asked():
    routes = [
        InjectedRoute("198.18.1.0/24", "100.64.1.1", 500, ("no-export", "65535:65282")),
        InjectedRoute("2001:db8:1::/48", "2001:db8:f1::1", 500, (), ("65000:1:2",), (64501,)),
    ]
    paths = [api_path(r) for r in routes]
    for p in paths:
        p.neighbor_ip = ROUTER
    events = read(paths)
    assert [e.attributes for e in events] == [
        PathAttributes("100.64.1.1", (), 0, None, 500, ("65535:65281", "65535:65282")),
        PathAttributes("2001:db8:f1::1", (64501,), 0, None, 500, ()),
    ]
    assert [e.nlri for e in events] == [
        (Nlri("198.18.1.0/24", 0),),
        (Nlri("2001:db8:1::/48", 0),),
    ]
    assert paths[0].family == V4 and paths[1].family == V6
    large = [a for a in paths[1].pattrs if a.type_url.endswith("LargeCommunitiesAttribute")]
    decoded = ap.LargeCommunitiesAttribute.FromString(large[0].value).communities[0]
    assert (decoded.global_admin, decoded.local_data1, decoded.local_data2) == (65000, 1, 2)


def test_communities_and_family_names():
    assert community("no-export") == 0xFFFFFF01
    assert community("65000:7") == 65000 << 16 | 7
    for bad in ("65536:1", "1:2:3", "x"):
        try:
            community(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    assert family_name(V4) == "ipv4 unicast" and family_name(V6) == "ipv6 unicast"
