"""rib/bmp/: BMP streams built byte by byte, decoded into the RIB's view; bad streams dropped."""

from __future__ import annotations

import asyncio
import gc
import socket
import struct
import types

import pytest
from tests import bmpenc as b

from routepilot.rib.bmp import BmpError, BmpStation, UpdateError, parse_update
from routepilot.rib.bmp import station as station_module
from routepilot.rib.bmp.wire import parse_common_header, parse_route_monitoring
from routepilot.rib.rib import Rib
from routepilot.rib.speaker.base import (
    EndOfRib,
    MalformedUpdate,
    Nlri,
    PathAttributes,
    PathIdsWithdrawn,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
)

PROVIDERS = [
    ("isp1", ["100.64.1.1", "2001:db8:f1::1"]),
    ("isp2", ["100.64.2.1", "2001:db8:f2::1"]),
    ("isp3", ["100.64.3.1", "2001:db8:f3::1"]),
]
ISP1, ISP2, ISP3 = (b.peer_header(f"100.64.{i}.1", 64500 + i) for i in (1, 2, 3))
ISP3_V6 = b.peer_header("2001:db8:f3::1", 64503)


def _update_body(pdu: bytes) -> bytes:
    return parse_route_monitoring(pdu)


# The wire decoder.


def test_ipv4_update_attributes():
    pdu = b.update(
        attrs=b.ipv4_attrs("100.64.1.1", [64501, 4200000000], 120, 5, ["65000:1", "65535:65281"]),
        nlri=b.prefix("198.18.1.0/24") + b.prefix("198.18.128.0/17"),
        withdrawn=b.prefix("198.18.9.0/24"),
    )
    update = parse_update(_update_body(pdu), four_byte_as=True)
    assert update.withdrawn == [Nlri("198.18.9.0/24")]
    assert update.announced == [
        (
            PathAttributes(
                "100.64.1.1", (64501, 4200000000), 0, 5, 120, ("65000:1", "65535:65281")
            ),
            [Nlri("198.18.1.0/24"), Nlri("198.18.128.0/17")],
        )
    ]
    assert update.end_of_rib is None


def test_two_byte_as_path_with_as4_path():
    as4 = b.attr(17, struct.pack("!BBII", 2, 2, 4200000000, 64999), 0xC0)
    attrs = b.attr(1, b"\x02") + b.as_path([64501, 23456, 23456], width=2)
    attrs += b.attr(3, socket.inet_aton("100.64.1.1")) + as4
    update = parse_update(
        _update_body(b.update(attrs=attrs, nlri=b.prefix("198.18.1.0/24"))), False
    )
    ((attributes, _),) = update.announced
    assert attributes.as_path == (64501, 4200000000, 64999)
    assert attributes.origin == 2


def test_ipv6_reach_unreach_and_add_path_ids():
    reach = b.mp_reach6(
        "2001:db8:f3::1",
        b.prefix("2001:db8:1::/48", 7) + b.prefix("2001:db8:2::/47", 9),
        link_local="fe80::1",
    )
    attrs = b.attr(1, b"\x00") + b.as_path([64503]) + reach
    attrs += b.mp_unreach6(b.prefix("2001:db8:9::/48", 3))
    family = {(2, 1)}
    update = parse_update(_update_body(b.update(attrs=attrs)), True, family)
    assert update.withdrawn == [Nlri("2001:db8:9::/48", 3)]
    ((attributes, nlri),) = update.announced
    assert attributes.next_hop == "2001:db8:f3::1"
    assert nlri == [Nlri("2001:db8:1::/48", 7), Nlri("2001:db8:2::/47", 9)]


def test_end_of_rib_markers():
    assert parse_update(_update_body(b.update()), True).end_of_rib == (1, 1)
    eor6 = b.update(attrs=b.mp_unreach6(b""))
    assert parse_update(_update_body(eor6), True).end_of_rib == (2, 1)


def test_host_bits_are_cleared():
    raw = bytes([23, 198, 18, 3])
    update = parse_update(
        _update_body(b.update(attrs=b.ipv4_attrs("100.64.1.1", [1]), nlri=raw)), True
    )
    assert update.announced[0][1] == [Nlri("198.18.2.0/23")]


@pytest.mark.parametrize(
    "pdu",
    [
        b.update(attrs=b.ipv4_attrs("100.64.1.1", [1]), nlri=bytes([33, 1, 2, 3, 4, 5])),
        b.update(attrs=b.ipv4_attrs("100.64.1.1", [1]), nlri=bytes([24, 1, 2])),
        b.update(attrs=b.attr(1, b"\x00"), nlri=b.prefix("198.18.1.0/24")),  # no NEXT_HOP
        b.update(attrs=b.attr(1, b"\x07") + b.attr(3, bytes(4)), nlri=b.prefix("198.18.1.0/24")),
        b.update(attrs=b.attr(2, b"\x02\x05\x00\x00"), nlri=b.prefix("198.18.1.0/24")),
        b.update(attrs=b"\x40\x03\x09" + bytes(4)),  # attribute longer than the attributes
        b.update(attrs=b.mp_reach6("2001:db8::1", b"")[:-8]),
        b.update(attrs=b.attr(14, struct.pack("!HBB", 1, 128, 4) + bytes(5), 0x80)),
    ],
    ids=["plen33", "short-prefix", "no-next-hop", "origin", "as-path", "attr-len", "mp", "safi"],
)
def test_malformed_updates_raise(pdu):
    with pytest.raises(UpdateError):
        parse_update(_update_body(pdu), True)


@pytest.mark.parametrize(
    "head",
    [
        b"\x02\x00\x00\x00\x10\x00",
        b"\x03\x00\x00\x00\x02\x00",
        b"\x03\x00\x00\x00\x10\x09",
        b"\x03\x00\x00\x00\x10\x00",
    ],  # fmt: skip
    ids=["version", "short", "type", "no-peer-room"],
)
def test_bad_common_headers(head):
    with pytest.raises(BmpError):
        parse_common_header(head)


# The station, over real loopback TCP.


class Station:
    """A station on 127.0.0.1 feeding a Rib, as the daemon wires it."""

    def __init__(self, routers=None, max_message: int | None = None) -> None:
        kwargs = {"max_message": max_message} if max_message else {}
        self.station = BmpStation(routers or {"127.0.0.1": "edge"}, "127.0.0.1", 0, **kwargs)
        self.rib = Rib(["edge"], PROVIDERS)
        self.events: list = []

    async def __aenter__(self) -> Station:
        await self.station.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.station.stop()

    async def send(self, *messages: bytes, close: bool = True) -> tuple:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.station.port)
        writer.write(b"".join(messages))
        await writer.drain()
        if close:
            writer.close()
        return reader, writer

    async def until(self, predicate, timeout: float = 5.0) -> None:
        async def loop() -> None:
            while True:
                for event in self.station.pending_events():
                    self.events.append(event)
                    self.rib.handle(event)
                if predicate():
                    return
                await asyncio.sleep(0.01)

        await asyncio.wait_for(loop(), timeout)

    def view(self) -> tuple[dict, dict]:
        snap = self.rib.snapshot()
        providers = {
            p: {snap.providers[k] for k in range(len(snap.providers)) if snap.has_route[i, k]}
            for i, p in enumerate(snap.prefixes)
        }
        best = {
            p: snap.providers[k] for p, k in zip(snap.prefixes, snap.bgp_best.tolist(), strict=True)
        }
        return providers, best


def _table() -> list[bytes]:
    """Three provider sessions' post-policy Adj-RIB-In, as FRR sends them, plus noise."""
    v6 = {(2, 1): 3}
    out = [
        b.initiation(),
        b.peer_up(ISP1),
        b.peer_up(ISP2),
        b.peer_up(ISP3, families=((1, 1),)),
        b.peer_up(ISP3_V6, families=((2, 1),), sent_add_path=v6, received_add_path=v6),
        b.route_monitoring(
            ISP1,
            b.update(
                attrs=b.ipv4_attrs("100.64.1.1", [64501, 64510]),
                nlri=b.prefix("198.18.1.0/24") + b.prefix("198.18.2.0/24"),
            ),
        ),
        b.route_monitoring(
            ISP2,
            b.update(attrs=b.ipv4_attrs("100.64.2.1", [64502]), nlri=b.prefix("198.18.1.0/24")),
        ),
        b.route_monitoring(
            ISP3,
            b.update(
                attrs=b.ipv4_attrs("100.64.3.1", [64503, 1, 2], local_pref=150),
                nlri=b.prefix("198.18.2.0/24") + b.prefix("198.18.3.0/24"),
            ),
        ),
        # Two add-path paths of one IPv6 peer, both through isp3.
        b.route_monitoring(
            ISP3_V6,
            b.update(
                attrs=b.attr(1, b"\x00")
                + b.as_path([64503])
                + b.mp_reach6(
                    "2001:db8:f3::1",
                    b.prefix("2001:db8:1::/48", 1) + b.prefix("2001:db8:1::/48", 2),
                )
            ),
        ),
        # Pre-policy: what isp2 sent before the router's policy, not used.
        b.route_monitoring(
            b.peer_header("100.64.2.1", 64502, post_policy=False),
            b.update(attrs=b.ipv4_attrs("100.64.2.1", [64502]), nlri=b.prefix("198.18.7.0/24")),
        ),
        b.stats(ISP1),
    ]
    for header in (ISP1, ISP2, ISP3):
        out.append(b.route_monitoring(header, b.update()))
    out.append(b.route_monitoring(ISP3_V6, b.update(attrs=b.mp_unreach6(b""))))
    return out


EXPECTED_PROVIDERS = {
    "198.18.1.0/24": {"isp1", "isp2"},
    "198.18.2.0/24": {"isp1", "isp3"},
    "198.18.3.0/24": {"isp3"},
    "2001:db8:1::/48": {"isp3"},
}
EXPECTED_BEST = {
    "198.18.1.0/24": "isp2",
    "198.18.2.0/24": "isp3",
    "198.18.3.0/24": "isp3",
    "2001:db8:1::/48": "isp3",
}


def test_station_builds_the_rib_view_and_peer_down_removes_one_peer():
    async def scenario() -> None:
        async with Station() as st:
            _, writer = await st.send(*_table(), close=False)
            await st.until(lambda: st.rib.end_of_rib["edge"] >= {"ipv4 unicast", "ipv6 unicast"})
            assert st.rib.session_up["edge"] and st.rib.synced("edge")
            assert st.view() == (EXPECTED_PROVIDERS, EXPECTED_BEST)
            assert st.rib.metrics.malformed_updates == 0
            m = st.station.metrics
            assert (m.ignored_monitoring, m.statistics_reports, m.peer_ups) == (1, 1, 4)
            assert st.rib.router_summary()["edge"]["paths"] == 7

            # isp3's session goes down on the router: only its paths go.
            writer.write(b.peer_down(ISP3))
            writer.write(b.route_monitoring(ISP1, b.update(withdrawn=b.prefix("198.18.1.0/24"))))
            await writer.drain()
            await st.until(lambda: "198.18.3.0/24" not in st.view()[0])
            assert st.view() == (
                {
                    "198.18.1.0/24": {"isp2"},
                    "198.18.2.0/24": {"isp1"},
                    "2001:db8:1::/48": {"isp3"},
                },
                {"198.18.1.0/24": "isp2", "198.18.2.0/24": "isp1", "2001:db8:1::/48": "isp3"},
            )

            # The router ends the session: everything it gave goes.
            writer.write(b.termination())
            await writer.drain()
            await st.until(lambda: not st.rib.session_up["edge"])
            assert st.view() == ({}, {})
            writer.close()

    asyncio.run(scenario())


_CODE = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, types.ModuleType)


def _strings_held(root: object) -> set[str]:
    """Every string reachable from ``root`` through the objects it refers to (data, not
    code: a function leads to its module's globals, which hold everything)."""
    seen: set[int] = set()
    found: set[str] = set()
    todo = [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, (type, *_CODE)):
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            found.add(obj)
            continue
        todo.extend(gc.get_referents(obj))
    return found


def test_peer_down_drops_an_add_path_peers_paths_and_a_plain_peers_by_path_id():
    """#18: on Peer Down the station names the peer's path ids, not its prefixes (one
    PathIdsWithdrawn), and keeps no prefix of any peer; the RIB drops exactly that peer's
    paths, add-path or not, and every other peer's stay."""
    add_path = {(1, 1): 3}
    prefixes = [f"198.18.{i}.0/24" for i in range(40)]
    isp1 = b.ipv4_attrs("100.64.1.1", [64501])
    isp2 = b.ipv4_attrs("100.64.2.1", [64502, 7])
    isp3 = b.ipv4_attrs("100.64.3.1", [64503])
    table = [
        b.initiation(),
        b.peer_up(ISP1),
        b.peer_up(ISP2),
        b.peer_up(ISP3, sent_add_path=add_path, received_add_path=add_path),
        b.route_monitoring(ISP1, b.update(attrs=isp1, nlri=b"".join(map(b.prefix, prefixes)))),
        b.route_monitoring(ISP2, b.update(attrs=isp2, nlri=b.prefix(prefixes[0]))),
        # Two add-path paths of isp3 for each prefix, and a third for the first.
        b.route_monitoring(
            ISP3,
            b.update(
                attrs=isp3,
                nlri=b"".join(b.prefix(p, i) for p in prefixes for i in (1, 2))
                + b.prefix(prefixes[0], 9),
            ),
        ),
        # One of isp3's paths withdrawn before it goes down.
        b.route_monitoring(ISP3, b.update(withdrawn=b.prefix(prefixes[1], 2))),
    ]

    async def scenario() -> None:
        async with Station() as st:

            def providers() -> dict[str, set[str]]:
                return {p: {x["provider"] for x in st.rib.paths(p)} for p in prefixes}

            _, writer = await st.send(*table, close=False)
            await st.until(lambda: st.rib.table.paths == 40 + 1 + 80 + 1 - 1)
            assert providers()[prefixes[0]] == {"isp1", "isp2", "isp3"}
            session, _ = st.station._sessions["edge"]
            assert not _strings_held(session) & set(prefixes)

            writer.write(b.peer_down(ISP3))
            await writer.drain()
            await st.until(lambda: st.rib.table.paths == 41)
            gone = [e for e in st.events if isinstance(e, PathIdsWithdrawn)]
            assert len(gone) == 1 and len(gone[0].path_ids) == 3  # isp3's add-path ids
            assert providers() == {p: {"isp1"} for p in prefixes} | {prefixes[0]: {"isp1", "isp2"}}

            writer.write(b.peer_down(ISP1))
            await writer.drain()
            await st.until(lambda: st.rib.table.paths == 1)
            assert providers()[prefixes[0]] == {"isp2"}
            assert not any(providers()[p] for p in prefixes[1:])
            assert not any(isinstance(e, PathsWithdrawn) and len(e.nlri) > 1 for e in st.events)
            assert st.station.sessions()["edge"] == {"up": True, "peers": ["100.64.2.1"]}
            writer.close()

    asyncio.run(scenario())


def test_other_tasks_run_while_the_station_decodes_a_big_stream():
    """A table arriving must not hold the event loop, where the API and the other routers'
    sessions run: with the whole stream already buffered, ``read`` never yields, so the
    station gives the loop a turn after each chunk it decodes."""
    attrs = b.ipv4_attrs("100.64.1.1", [64501])
    messages = [
        b.route_monitoring(
            ISP1, b.update(attrs=attrs, nlri=b.prefix(f"198.18.{i // 256}.{i % 256}/32"))
        )
        for i in range(3000)
    ]
    stream = b"".join([b.initiation(), b.peer_up(ISP1), *messages])
    assert len(stream) > 4 * station_module._CHUNK

    async def scenario() -> None:
        station = BmpStation({"127.0.0.1": "edge"}, "127.0.0.1", 0)
        reader = asyncio.StreamReader()
        reader.feed_data(stream)
        reader.feed_eof()
        decoding = asyncio.create_task(station._read(station_module._Session("edge"), reader))
        seen: list[int] = []  # events out each time the other task got a turn

        async def other() -> None:
            while not decoding.done():
                seen.append(station.metrics.events)
                await asyncio.sleep(0)

        await asyncio.gather(decoding, other())
        learned = [e for e in station.pending_events() if isinstance(e, PathsLearned)]
        assert len(learned) == 3000
        assert len(seen) >= 4 and 0 < seen[0] < seen[-2] < station.metrics.events

    asyncio.run(scenario())


async def _closed(reader: asyncio.StreamReader) -> bytes:
    """What the station sends before it closes (a reset counts as a close: the station
    closed with our bytes unread)."""
    try:
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        return b""


@pytest.mark.parametrize(
    "tail",
    [
        b.route_monitoring(ISP1, b.update(nlri=b.prefix("198.18.9.0/24")))[:-3],  # truncated
        b"\x00garbage\xff" * 4,
        b.bmp(3, bytes(20) + b.open_msg(1) + b"\xff" * 16 + struct.pack("!HB", 4000, 1), ISP1),
        struct.pack("!BIB", 3, 0xFFFFFFFF, 0) + b"\x00" * 64,  # huge length field
    ],
    ids=["truncated", "garbage", "bad-peer-up", "huge-length"],
)
def test_malformed_bmp_is_a_counted_drop_and_a_closed_session(tail):
    async def scenario() -> None:
        async with Station() as st:
            reader, writer = await st.send(*_table(), tail, close=False)
            writer.write_eof()
            await st.until(lambda: st.station.metrics.malformed_messages == 1)
            assert await _closed(reader) == b""
            await st.until(lambda: not st.rib.session_up["edge"])
            assert st.view() == ({}, {})
            writer.close()

            # The station goes on: the router reconnects and its table comes back.
            _, writer = await st.send(*_table(), close=False)
            await st.until(lambda: st.view() == (EXPECTED_PROVIDERS, EXPECTED_BEST))
            writer.close()

    asyncio.run(scenario())


def test_a_peer_up_with_frr_s_bare_opens_keeps_the_session_and_the_peer_s_paths():
    """FRR sends a 19-byte OPEN in a Peer Up when it missed the session's OPEN (a
    connection collision); that peer's paths count, and it holds back no End-of-RIB."""
    own = b.peer_header("100.66.1.2", 65000)
    table = _table()
    # routepilot's own session (as in the lab) with both OPENs bare; isp1 with only its
    # received OPEN missing; isp2 with both missing.
    bare = [b.bare_peer_up(own), b.bare_peer_up(ISP1, sent=b.open_msg(b.ASN)), b.bare_peer_up(ISP2)]
    assert table[1:3] == [b.peer_up(ISP1), b.peer_up(ISP2)]
    table[1:3] = bare

    async def scenario() -> None:
        async with Station() as st:
            _, writer = await st.send(*table, close=False)
            await st.until(lambda: st.rib.synced("edge"))
            assert st.view() == (EXPECTED_PROVIDERS, EXPECTED_BEST)
            m = st.station.metrics
            assert (m.peer_ups, m.peer_ups_without_open, m.malformed_messages) == (5, 3, 0)
            assert st.rib.session_up["edge"]
            writer.close()

    asyncio.run(scenario())


def test_huge_length_is_refused_before_it_is_read():
    async def scenario() -> None:
        async with Station(max_message=4096) as st:
            # Announces 1 MiB and never sends it: the station must not wait for it.
            head = struct.pack("!BIB", 3, 1 << 20, 0)
            reader, writer = await st.send(b.initiation(), head, close=False)
            assert await _closed(reader) == b""
            assert st.station.metrics.malformed_messages == 1
            writer.close()

    asyncio.run(scenario())


def test_malformed_update_is_counted_its_prefix_withdrawn_and_the_session_goes_on():
    """RFC 7606 treat-as-withdraw: the prefix of an UPDATE with bad attributes leaves the
    path it had."""

    def learned(prefix: str) -> bytes:
        attrs = b.ipv4_attrs("100.64.1.1", [64501])
        return b.route_monitoring(ISP1, b.update(attrs=attrs, nlri=b.prefix(prefix)))

    async def scenario() -> None:
        async with Station() as st:
            bad = b.route_monitoring(
                ISP1, b.update(attrs=b.attr(1, b"\x00"), nlri=b.prefix("198.18.5.0/24"))
            )
            _, writer = await st.send(
                b.initiation(), b.peer_up(ISP1), learned("198.18.5.0/24"), close=False
            )
            await st.until(lambda: "198.18.5.0/24" in st.view()[0])
            writer.write(bad + learned("198.18.6.0/24"))
            await st.until(lambda: "198.18.6.0/24" in st.view()[0])
            assert "198.18.5.0/24" not in st.view()[0]
            assert st.rib.metrics.malformed_updates == 1
            assert any(isinstance(e, MalformedUpdate) for e in st.events)
            assert st.rib.session_up["edge"]
            writer.close()

    asyncio.run(scenario())


def test_unknown_router_address_is_refused():
    async def scenario() -> None:
        async with Station(routers={"100.64.0.1": "edge"}) as st:
            reader, writer = await st.send(b.initiation(), close=False)
            assert await _closed(reader) == b""
            assert st.station.metrics.unknown_sources == 1
            assert st.station.pending_events() == []
            writer.close()

    asyncio.run(scenario())


def test_messages_before_initiation_close_the_session():
    async def scenario() -> None:
        async with Station() as st:
            reader, writer = await st.send(b.peer_up(ISP1), close=False)
            assert await _closed(reader) == b""
            assert st.station.metrics.malformed_messages == 1
            writer.close()

    asyncio.run(scenario())


def test_event_types_match_the_speaker_contract():
    """The station's events are exactly the speaker events rib/ consumes."""

    async def scenario() -> None:
        async with Station() as st:
            _, writer = await st.send(*_table(), close=False)
            await st.until(lambda: any(isinstance(e, EndOfRib) for e in st.events))
            kinds = {type(e) for e in st.events}
            assert kinds <= {
                SessionChanged,
                PathsLearned,
                PathsWithdrawn,
                PathIdsWithdrawn,
                EndOfRib,
            }
            assert SessionChanged in kinds and PathsLearned in kinds
            writer.close()

    asyncio.run(scenario())


def test_loc_rib_peer_is_used_and_adj_rib_out_is_not():
    """RFC 9069: a Loc-RIB peer (type 3) is after policy without the L flag; an Adj-RIB-Out
    (RFC 8671, O flag) is what the router sends, not what it uses."""
    loc_rib = b.peer_header("", 0, post_policy=False, peer_type=3)
    out_rib = b.peer_header("100.64.2.1", 64502, adj_rib_out=True)

    async def scenario() -> None:
        async with Station() as st:
            stream = [
                b.initiation(),
                b.peer_up(loc_rib),
                b.route_monitoring(
                    loc_rib,
                    b.update(
                        attrs=b.ipv4_attrs("100.64.3.1", [64503], local_pref=200),
                        nlri=b.prefix("198.18.1.0/24"),
                    ),
                ),
                b.route_monitoring(
                    out_rib,
                    b.update(attrs=b.ipv4_attrs("100.64.2.1", [1]), nlri=b.prefix("198.18.2.0/24")),
                ),
                b.route_monitoring(loc_rib, b.update()),
            ]
            _, writer = await st.send(*stream, close=False)
            await st.until(lambda: st.rib.end_of_rib["edge"] == {"ipv4 unicast"})
            assert st.view() == ({"198.18.1.0/24": {"isp3"}}, {"198.18.1.0/24": "isp3"})
            assert st.rib.paths("198.18.1.0/24")[0]["local_pref"] == 200
            assert st.station.metrics.ignored_monitoring == 1
            writer.close()

    asyncio.run(scenario())


def test_the_default_address_takes_ipv4_routers_too():
    """``rib.bmp.listen: "::"`` (the default) must take a router that connects over IPv4:
    asyncio's own server would listen on IPv6 only, refusing it (found in the lab)."""

    async def scenario() -> None:
        station = BmpStation({"127.0.0.1": "edge"}, "::", 0)
        await station.start()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", station.port)
            writer.write(b.initiation())
            await writer.drain()
            event = await asyncio.wait_for(station.next_event(), 5)
            assert (event.router, event.up) == ("edge", True)
            assert station.metrics.unknown_sources == 0
            writer.close()
        finally:
            await station.stop()

    asyncio.run(scenario())


class _Connection:
    """A router's connection as the station's accept callback gets it, its bytes already
    buffered: what the station decodes before its next await is decided here, not by
    the kernel's timing."""

    def __init__(self, *messages: bytes) -> None:
        self.reader = asyncio.StreamReader()
        self.reader.feed_data(b"".join(messages))
        self.closed = False

    def get_extra_info(self, name: str):  # type: ignore[no-untyped-def]
        return ("127.0.0.1", 40000) if name == "peername" else None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.reader.feed_eof()


def test_a_router_that_connects_again_keeps_what_the_new_session_sends():
    """A router restarts and connects again while its old connection is still open (a
    restart it could not announce), and the new session's first messages are decoded
    in the turn it is accepted: the old session ends before the new one begins, and
    nothing of it, its end included, lands after the new session's paths (whose path
    ids start again from 1)."""
    isp1 = b.ipv4_attrs("100.64.1.1", [64501])

    def table(prefix: str) -> list[bytes]:
        return [
            b.initiation(),
            b.peer_up(ISP1),
            b.route_monitoring(ISP1, b.update(attrs=isp1, nlri=b.prefix(prefix))),
        ]

    async def scenario() -> None:
        st = Station()
        old, new = _Connection(*table("198.18.1.0/24")), _Connection(*table("198.18.2.0/24"))
        first = asyncio.create_task(st.station._accept(old.reader, old))  # type: ignore[arg-type]
        await st.until(lambda: "198.18.1.0/24" in st.view()[0])
        second = asyncio.create_task(st.station._accept(new.reader, new))  # type: ignore[arg-type]
        await first  # the old session has ended
        await st.until(lambda: "198.18.2.0/24" in st.view()[0])
        downs = [e for e in st.events if isinstance(e, SessionChanged) and not e.up]
        assert len(downs) == 1 and st.events.index(downs[0]) < len(st.events) - 2
        assert st.rib.session_up["edge"]
        assert list(st.view()[0]) == ["198.18.2.0/24"]
        new.close()
        await second

    asyncio.run(scenario())
