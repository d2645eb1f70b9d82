"""ExaBGP's packets-mode API lines -> the events its parsed JSON gave (exabgp_packets.py).

The same paths, attributes, path ids, withdrawals and End-of-RIB as the JSON decoder
makes of ExaBGP's rendering (test_exabgp_json.py); a message that cannot be decoded is
a MalformedUpdate, never an exception. bench/rib/exabgp_modes.py checks the two modes
against each other through a real ExaBGP, path for path.
"""

from __future__ import annotations

import random
import struct

from tests import bmpenc as b
from tests import exabgpenc as e

from routepilot.rib.speaker.base import (
    EndOfRib,
    MalformedUpdate,
    Nlri,
    PathAttributes,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
)
from routepilot.rib.speaker.exabgp_json import Decoder
from routepilot.rib.speaker.exabgp_packets import PacketDecoder


def decoder() -> PacketDecoder:
    d = PacketDecoder({e.PEER: "edge"}.get)
    assert d.decode(e.state("connected")) == []
    assert d.decode(e.opens().splitlines()[0]) == []
    assert d.decode(e.opens().splitlines()[1]) == []
    assert d.decode(e.state("up")) == [SessionChanged("edge", True)]
    return d


def events(d: PacketDecoder, message: bytes) -> list:
    return d.decode(e.update(message))


def test_ipv4_add_path_paths_with_every_attribute():
    attrs = (
        b.attr(1, b"\x02")
        # AS_SEQUENCE 64601 4200000001, then an AS_SET {7, 5}: one AS, the lowest.
        + b.attr(
            2, struct.pack("!BBII", 2, 2, 64601, 4_200_000_001) + struct.pack("!BBII", 1, 2, 7, 5)
        )
        + b.attr(3, bytes([100, 64, 1, 1]))
        + b.attr(4, struct.pack("!I", 20), 0x80)
        + b.attr(5, struct.pack("!I", 150))
        + b.attr(8, struct.pack("!HHHH", 65000, 1, 65535, 65281), 0xC0)
    )
    nlri = b.prefix("198.18.0.0/24", 3) + b.prefix("198.18.1.0/25", 3)
    got = events(decoder(), b.update(attrs=attrs, nlri=nlri))
    expected_attrs = PathAttributes(
        "100.64.1.1", (64601, 4_200_000_001, 5), 2, 20, 150, ("65000:1", "65535:65281")
    )
    assert got == [
        PathsLearned("edge", expected_attrs, (Nlri("198.18.0.0/24", 3), Nlri("198.18.1.0/25", 3)))
    ]
    # What the JSON decoder makes of ExaBGP's rendering of the same UPDATE.
    parsed = Decoder({e.PEER: "edge"}.get).decode(
        '{ "type": "update", "neighbor": { "address": { "local": "100.64.0.2", "peer": '
        '"100.64.0.1" }, "direction": "receive", "message": { "update": { "attribute": { '
        '"origin": "incomplete", "as-path": { "0": { "element": "as-sequence", "value": '
        '[ 64601, 4200000001 ] }, "1": { "element": "as-set", "value": [ 7, 5 ] } }, '
        '"med": 20, "local-preference": 150, "community": [ [ 65000, 1 ], [ 65535, 65281 ] ] '
        '}, "announce": { "ipv4 unicast": { "100.64.1.1": [ { "nlri": "198.18.0.0/24", '
        '"path-information": "0.0.0.3" }, { "nlri": "198.18.1.0/25", "path-information": '
        '"0.0.0.3" } ] } } } } } }'
    )
    assert parsed == got


def test_ipv6_paths_take_the_global_next_hop_and_keep_each_path_id():
    nlri = b.prefix("2001:db8:1::/48", 1) + b.prefix("2001:db8:2::/48", 2)
    attrs = b.mp_reach6("2001:db8:ffff::1", nlri, "fe80::1") + b.attr(1, b"\x00")
    attrs += b.as_path([64601]) + b.attr(5, struct.pack("!I", 100))
    got = events(decoder(), b.update(attrs=attrs))
    assert got == [
        PathsLearned(
            "edge",
            PathAttributes("2001:db8:ffff::1", (64601,), 0, None, 100, ()),
            (Nlri("2001:db8:1::/48", 1), Nlri("2001:db8:2::/48", 2)),
        )
    ]


def test_withdrawals_and_end_of_rib_of_both_families():
    d = decoder()
    v4 = b.prefix("198.18.0.0/24", 3)
    assert events(d, b.update(withdrawn=v4)) == [
        PathsWithdrawn("edge", (Nlri("198.18.0.0/24", 3),))
    ]
    v6 = b.prefix("2001:db8:1::/48", 4)
    assert events(d, b.update(attrs=b.mp_unreach6(v6))) == [
        PathsWithdrawn("edge", (Nlri("2001:db8:1::/48", 4),))
    ]
    assert events(d, b.update()) == [EndOfRib("edge", "ipv4 unicast")]
    assert events(d, b.update(attrs=b.mp_unreach6(b""))) == [EndOfRib("edge", "ipv6 unicast")]


def test_a_session_without_add_path_has_path_id_zero():
    d = PacketDecoder({e.PEER: "edge"}.get)
    for line in e.opens(add_path=None).splitlines():
        assert d.decode(line) == []
    attrs = b.ipv4_attrs("100.64.1.1", [64601], local_pref=100)
    got = d.decode(e.update(b.update(attrs=attrs, nlri=b.prefix("198.18.0.0/24"))))
    assert got == [
        PathsLearned(
            "edge",
            PathAttributes("100.64.1.1", (64601,), 0, None, 100, ()),
            (Nlri("198.18.0.0/24", 0),),
        )
    ]


def test_bad_messages_are_malformed_updates_never_exceptions():
    d = decoder()
    good = b.update(attrs=b.ipv4_attrs("100.64.1.1", [64601]), nlri=b.prefix("198.18.0.0/24", 1))
    truncated = good[:-2]
    bad = [
        e.update(truncated),
        e.update(good).replace(b'"body": "0x', b'"body": "0xZZ'),
        e.update(good).replace(b'"body": "0x', b'"body": "'),
        e.update(good, peer="100.64.9.9"),
        b"not json",
        b"[1, 2]",
    ]
    for line in bad:
        got = d.decode(line)
        assert len(got) == 1 and isinstance(got[0], MalformedUpdate), line
    # Still decoding after them.
    assert isinstance(events(d, good)[0], PathsLearned)


def test_a_session_down_forgets_its_capabilities_until_the_next_opens():
    d = decoder()
    good = b.update(attrs=b.ipv4_attrs("100.64.1.1", [64601]), nlri=b.prefix("198.18.0.0/24", 1))
    assert d.decode(e.state("down")) == [SessionChanged("edge", False, "")]
    got = events(d, good)
    assert len(got) == 1 and isinstance(got[0], MalformedUpdate)
    for line in e.opens().splitlines():
        d.decode(line)
    assert isinstance(events(d, good)[0], PathsLearned)


def test_keepalives_and_other_messages_are_no_events():
    d = decoder()
    assert d.decode(e.line("keepalive", b.bgp(4, b""))) == []
    assert d.decode(e.line("update", b.update(), direction="send")) == []


def test_random_damage_to_updates_never_raises():
    rng = random.Random(18)
    d = decoder()
    nlri = b.prefix("2001:db8:1::/48", 1) + b.prefix("2001:db8:2::/47", 2)
    v6 = b.update(attrs=b.mp_reach6("2001:db8:ffff::1", nlri) + b.attr(1, b"\x00"))
    v4 = b.update(
        attrs=b.ipv4_attrs("100.64.1.1", [64601, 7], 100, 5, ("65000:1",)),
        nlri=b.prefix("198.18.0.0/24", 1),
    )
    for _ in range(2000):
        message = bytearray(rng.choice((v4, v6)))
        for _ in range(rng.randint(1, 4)):
            message[rng.randrange(19, len(message))] = rng.randrange(256)
        if rng.random() < 0.3:
            message = message[: rng.randrange(19, len(message))]
        for event in d.decode(e.update(bytes(message))):
            assert isinstance(event, (PathsLearned, PathsWithdrawn, EndOfRib, MalformedUpdate))


def test_an_update_with_bad_attributes_withdraws_its_prefixes():
    """RFC 7606 section 2 (treat-as-withdraw): ExaBGP no longer reads the UPDATEs, so an
    UPDATE whose attributes are bad must not leave its prefixes on the paths they had:
    they are withdrawn, IPv4 NLRI, withdrawn routes and MP_REACH_NLRI alike."""
    d = decoder()
    v4 = b.prefix("198.18.0.0/24", 1) + b.prefix("198.18.1.0/24", 1)
    v6 = b.prefix("2001:db8:1::/48", 2)
    bad_origin = b.attr(1, b"\x02\x00")  # ORIGIN of two bytes
    for message, prefixes in (
        (
            b.update(
                withdrawn=b.prefix("198.18.9.0/24", 4),
                attrs=bad_origin + b.ipv4_attrs("100.64.1.1", [64601])[4:],
                nlri=v4,
            ),
            [("198.18.9.0/24", 4), ("198.18.0.0/24", 1), ("198.18.1.0/24", 1)],
        ),
        (b.update(attrs=bad_origin + b.mp_reach6("2001:db8::1", v6)), [("2001:db8:1::/48", 2)]),
    ):
        malformed, withdrawn = events(d, message)
        assert isinstance(malformed, MalformedUpdate) and "treated as withdrawn" in malformed.reason
        assert withdrawn == PathsWithdrawn("edge", [Nlri(p, i) for p, i in prefixes])
    # The attributes run past the UPDATE: its prefixes cannot be found, it is counted.
    (only,) = events(d, b.update(attrs=bad_origin, nlri=v4)[: 19 + 5])
    assert isinstance(only, MalformedUpdate) and "no prefix of it" in only.reason


def test_its_sets_are_plain_so_the_rib_keeps_none_alive():
    """The decoder's cache is small and forgets its sets: handed on as shared sets, the
    RIB would keep every one alive to know it by identity (rib/attributes.py)."""
    d = decoder()
    attrs = b.ipv4_attrs("100.64.1.1", [64601])
    for i in range(3):
        (learned,) = events(d, b.update(attrs=attrs, nlri=b.prefix(f"198.18.{i}.0/24", 1)))
        assert type(learned.attributes) is PathAttributes
