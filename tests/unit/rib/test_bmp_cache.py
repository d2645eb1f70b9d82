"""rib/bmp/: repeated attribute sets decoded once, and peer headers read once per peer.

A router's BMP sends a table one prefix a message; what the station saves must not
change what it decodes: every update decodes the same with the cache as without it,
and bad input is still an error or a counted drop.
"""

from __future__ import annotations

import asyncio
import gc
import struct
import sys
import tracemalloc

import pytest
from tests import bmpenc as b

from routepilot.rib.bmp import UpdateError, parse_update
from routepilot.rib.bmp.wire import AttributeCache, parse_route_monitoring
from routepilot.rib.speaker.base import AttributeNumber, Nlri, PathAttributes, PathsLearned
from routepilot.rib.table import PathTable

from .test_bmp import ISP1, Station

V6 = {(2, 1)}


def _body(pdu: bytes) -> bytes:
    return parse_route_monitoring(pdu)


def _v6(prefixes: bytes, next_hop: str = "2001:db8:f3::1", asns=(64503, 7)) -> bytes:
    return b.update(
        attrs=b.attr(1, b"\x00") + b.as_path(list(asns)) + b.mp_reach6(next_hop, prefixes)
    )


ISP1_ATTRS = b.ipv4_attrs("100.64.1.1", [64501, 9], 120, 5, ["65000:1"])
ISP2_ATTRS = b.ipv4_attrs("100.64.2.1", [64502])
UPDATES = [
    b.update(attrs=ISP1_ATTRS, nlri=b.prefix("198.18.1.0/24")),
    b.update(attrs=ISP1_ATTRS, nlri=b.prefix("198.18.2.0/23")),
    b.update(attrs=ISP2_ATTRS, nlri=b.prefix("198.18.4.0/22") + b.prefix("198.18.8.0/24")),
    _v6(b.prefix("2001:db8:1::/48")),
    _v6(b.prefix("2001:db8:2::/47") + b.prefix("2001:db8:4::/46")),
    _v6(b.prefix("2001:db8:5::/48"), next_hop="2001:db8:f2::1"),
    # MP_REACH_NLRI with IPv4 NLRI beside it, each with its own next hop.
    b.update(
        attrs=ISP2_ATTRS + b.mp_reach6("2001:db8:f1::1", b.prefix("2001:db8:6::/48")),
        nlri=b.prefix("198.18.9.0/24"),
    ),
    # MP_REACH_NLRI beside a NEXT_HOP, with no IPv4 NLRI; attributes with neither.
    b.update(attrs=ISP1_ATTRS + b.mp_reach6("2001:db8:f1::1", b.prefix("2001:db8:7::/48"))),
    b.update(attrs=b.attr(1, b"\x00") + b.as_path([64501])),
    b.update(withdrawn=b.prefix("198.18.1.0/24")),
    b.update(attrs=b.mp_unreach6(b.prefix("2001:db8:1::/48"))),
    b.update(),
    b.update(attrs=b.mp_unreach6(b"")),
]


def test_cached_decoding_is_the_uncached_decoding():
    cache = AttributeCache()
    for _ in range(2):  # the second time, from the cache
        for pdu in UPDATES:
            body = _body(pdu)
            assert parse_update(body, True, set(), cache) == parse_update(body, True, set())
    assert cache.hits >= 6


def test_one_attribute_set_is_one_object_whatever_the_nlri():
    cache = AttributeCache()
    first = parse_update(_body(_v6(b.prefix("2001:db8:1::/48"))), True, set(), cache)
    second = parse_update(_body(_v6(b.prefix("2001:db8:2::/47"))), True, set(), cache)
    (a, nlri_a), (b2, nlri_b) = first.announced[0], second.announced[0]
    assert a is b2 and a.next_hop == "2001:db8:f3::1" and a.as_path == (64503, 7)
    assert nlri_a == [Nlri("2001:db8:1::/48")] and nlri_b == [Nlri("2001:db8:2::/47")]
    # Another next hop inside MP_REACH_NLRI is another attribute set.
    third = parse_update(
        _body(_v6(b.prefix("2001:db8:1::/48"), "2001:db8:f2::1")), True, set(), cache
    )
    assert third.announced[0][0].next_hop == "2001:db8:f2::1"


def test_add_path_ids_are_read_from_the_nlri_on_a_hit():
    cache = AttributeCache()
    for path_id in (1, 2):
        update = parse_update(_body(_v6(b.prefix("2001:db8:1::/48", path_id))), True, V6, cache)
        assert update.announced[0][1] == [Nlri("2001:db8:1::/48", path_id)]
    assert (cache.hits, cache.misses) == (1, 1)


def test_two_and_four_byte_as_paths_are_kept_apart():
    # The same bytes are one AS_SEQUENCE of two 4-byte ASes, or two of 2-byte ones
    # (RFC 6793): 0x02010007 reads as a segment header (2, 1) and AS 7.
    attrs = b.attr(1, b"\x00") + b.attr(2, struct.pack("!BBII", 2, 2, 64501, 0x02010007))
    attrs += b.attr(3, bytes([100, 64, 1, 1]))
    body = _body(b.update(attrs=attrs, nlri=b.prefix("198.18.1.0/24")))
    cache = AttributeCache()
    four = parse_update(body, True, set(), cache).announced[0][0].as_path
    two = parse_update(body, False, set(), cache).announced[0][0].as_path
    assert four == (64501, 0x02010007) and two == (0, 64501, 7)


@pytest.mark.parametrize(
    "nlri",
    [bytes([33, 1, 2, 3, 4, 5]), bytes([24, 1, 2]), b"\x00\x00\x00\x01"],
    ids=["plen33", "short-prefix", "path-id-without-add-path"],
)
def test_bad_nlri_behind_cached_attributes_still_raises(nlri):
    cache = AttributeCache()
    attrs = b.ipv4_attrs("100.64.1.1", [1])
    parse_update(_body(b.update(attrs=attrs, nlri=b.prefix("198.18.1.0/24"))), True, set(), cache)
    with pytest.raises(UpdateError):
        parse_update(_body(b.update(attrs=attrs, nlri=nlri)), True, set(), cache)
    assert cache.hits == 1


@pytest.mark.parametrize(
    "attrs",
    [
        b.attr(1, b"\x00"),  # IPv4 NLRI without a NEXT_HOP
        b.attr(1, b"\x07") + b.attr(3, bytes(4)),
        b"\x40\x03\x09" + bytes(4),
        b.attr(14, struct.pack("!HBB", 1, 128, 4) + bytes(5), 0x80),
        b.mp_reach6("2001:db8::1", b"")[:-8],
    ],
    ids=["no-next-hop", "origin", "attr-len", "safi", "mp"],
)
def test_bad_attributes_raise_every_time(attrs):
    cache = AttributeCache()
    body = _body(b.update(attrs=attrs, nlri=b.prefix("198.18.1.0/24")))
    for _ in range(2):
        with pytest.raises(UpdateError):
            parse_update(body, True, set(), cache)


def test_a_cached_set_costs_its_key_and_its_number_only():
    """The station's process keeps a number a set (rib/bmp/process.py): a table has
    hundreds of thousands of sets, so an entry is the key, the dict's slot and the
    number, nothing that holds them together."""
    numbers = iter(range(1 << 20, 1 << 21))
    cache = AttributeCache(hand_on=lambda attrs: AttributeNumber(next(numbers)))
    bodies = [
        _body(b.update(attrs=b.ipv4_attrs("100.64.1.1", [64501, k]), nlri=b.prefix(p)))
        for k, p in enumerate(f"198.18.{k % 256}.{k // 256}/32" for k in range(4_000))
    ]
    bodies += [_body(_v6(b.prefix("2001:db8:1::/48"), asns=(64503, k))) for k in range(4_000)]
    gc.collect()
    tracemalloc.start()
    try:
        for body in bodies:
            parse_update(body, True, set(), cache)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cache.misses == len(bodies) == len(cache)
    keys = sum(len(k) + 33 for t in cache._entries for table in t for k in table)
    number = sys.getsizeof(AttributeNumber(1 << 20))
    per_set = (held - keys) / len(bodies)
    # The number, and the dict's share (its slots grow by doubling): a pair was 56 more.
    assert per_set < number + 60, f"{per_set:.0f} bytes a set besides its key"


def test_the_cache_is_bounded():
    cache = AttributeCache(size=8)
    for k in range(100):
        pdu = b.update(attrs=b.ipv4_attrs("100.64.1.1", [k + 1]), nlri=b.prefix("198.18.1.0/24"))
        parse_update(_body(pdu), True, set(), cache)
    assert 0 < len(cache) <= 8 and cache.misses == 100


def test_station_shares_attribute_sets_and_reads_each_peer_header_once():
    """One prefix a message, as FRR and GoBGP send a table: messages of one peer whose
    timestamps differ are one peer, and equal attributes arrive as one object."""

    def with_timestamp(message: bytes, seconds: int) -> bytes:
        # Common header (6), then the per-peer header's timestamp at bytes 34-41.
        return message[:40] + struct.pack("!II", seconds, 0) + message[48:]

    attrs = b.ipv4_attrs("100.64.1.1", [64501, 64510])
    messages = [
        with_timestamp(b.route_monitoring(ISP1, b.update(attrs=attrs, nlri=b.prefix(prefix))), k)
        for k, prefix in enumerate(f"198.18.{k}.0/24" for k in range(50))
    ]

    async def scenario() -> None:
        async with Station() as st:
            _, writer = await st.send(b.initiation(), b.peer_up(ISP1), *messages, close=False)
            await st.until(lambda: len(st.view()[0]) == 50)
            learned = [e for e in st.events if isinstance(e, PathsLearned)]
            assert len({id(e.attributes) for e in learned}) == 1
            assert st.station.sessions()["edge"] == {"up": True, "peers": ["100.64.1.1"]}
            writer.close()

    asyncio.run(scenario())


def test_unknown_peer_type_in_route_monitoring_is_a_counted_drop():
    bad = b.route_monitoring(b.peer_header(peer_type=9), b.update())

    async def scenario() -> None:
        async with Station() as st:
            reader, writer = await st.send(b.initiation(), b.peer_up(ISP1), bad, close=False)
            await st.until(lambda: st.station.metrics.malformed_messages == 1)
            assert await reader.read() == b""
            writer.close()

    asyncio.run(scenario())


def test_provider_of_an_attribute_set_is_read_from_its_column():
    table = PathTable({"100.64.1.1": 0, "100.64.2.1": 1}, 2)
    table.add(0, PathAttributes("100.64.2.1", (64502,)), [Nlri("198.18.1.0/24")])
    table.add(0, PathAttributes("100.64.9.9", (64509,)), [Nlri("198.18.2.0/24")])
    assert table.provider_of(PathAttributes("100.64.2.1", (64502,))) == 1
    assert table.provider_of(PathAttributes("100.64.9.9", (64509,))) == -1  # unknown hop
    assert table.provider_of(PathAttributes("100.64.1.1", (1,))) == -1  # never seen
    with pytest.raises(IndexError):
        table.provider_of_attributes(2)
