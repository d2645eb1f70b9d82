"""ExaBGP's JSON (captured from ExaBGP 5.0.15 peering with BIRD 2.0.12) -> events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routepilot.rib.speaker.base import (
    ORIGIN_INCOMPLETE,
    EndOfRib,
    MalformedUpdate,
    Nlri,
    PathAttributes,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
)
from routepilot.rib.speaker.exabgp_json import Decoder

TESTDATA = Path(__file__).parent / "testdata"


def decoder() -> Decoder:
    return Decoder({"100.64.0.1": "edge"}.get)


def test_captured_session_decodes_to_the_expected_events():
    events = []
    for line in (TESTDATA / "exabgp5-bird2-addpath.jsonl").read_text().splitlines():
        events.extend(decoder().decode(line))
    assert events == [
        SessionChanged("edge", True),
        PathsLearned(
            "edge",
            PathAttributes("100.64.0.1", (), 0, None, 100, ()),
            (Nlri("100.64.1.0/24", 6), Nlri("100.64.2.0/24", 6), Nlri("100.64.3.0/24", 6)),
        ),
        PathsLearned(
            "edge",
            PathAttributes("100.64.1.1", (64501, 64501), 0, None, 100, ()),
            (Nlri("198.18.1.0/24", 4), Nlri("198.18.2.0/24", 4)),
        ),
        PathsLearned(
            "edge",
            PathAttributes("100.64.2.1", (64502,), 0, None, 100, ()),
            (Nlri("198.18.1.0/24", 5), Nlri("198.18.3.0/24", 5)),
        ),
        EndOfRib("edge", "ipv4 unicast"),
        PathsWithdrawn("edge", (Nlri("198.18.2.0/24", 4),)),
        SessionChanged("edge", False, "in loop, peer reset, message [closing connection]"),
    ]


def _update(attribute: str, announce: str) -> str:
    message = f'{{"update": {{"attribute": {{{attribute}}}, "announce": {{{announce}}}}}}}'
    neighbor = (
        f'{{"address": {{"peer": "100.64.0.1"}}, "direction": "receive", "message": {message}}}'
    )
    return f'{{"type": "update", "neighbor": {neighbor}}}'


def test_attributes_med_communities_as_set_and_plain_nlri():
    line = _update(
        '"origin": "incomplete", "med": 20, "local-preference": 300, '
        '"community": [[65535, 65281], [64500, 7]], '
        '"as-path": {"0": {"element": "as-sequence", "value": [1, 2]}, '
        '"1": {"element": "as-set", "value": [9, 8]}}',
        '"ipv6 unicast": {"2001:db8::1": ["2001:db8:1::/48"]}',
    )
    assert decoder().decode(line) == [
        PathsLearned(
            "edge",
            PathAttributes(
                "2001:db8::1", (1, 2, 8), ORIGIN_INCOMPLETE, 20, 300, ("65535:65281", "64500:7")
            ),
            (Nlri("2001:db8:1::/48", 0),),
        )
    ]


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1, 2]",
        _update('"origin": "sideways"', '"ipv4 unicast": {"1.2.3.4": ["198.18.0.0/24"]}'),
        _update('"as-path": 7', '"ipv4 unicast": {"1.2.3.4": ["198.18.0.0/24"]}'),
        _update('"origin": "igp"', '"ipv4 flow": {"1.2.3.4": ["198.18.0.0/24"]}'),
        _update('"origin": "igp"', '"ipv4 unicast": {"1.2.3.4": [{"path-information": "1"}]}'),
    ],
)
def test_malformed_input_is_an_event_not_an_exception(line):
    (event,) = decoder().decode(line)
    assert isinstance(event, MalformedUpdate)


def test_unknown_peer_and_other_message_types():
    unknown = '{"type": "state", "neighbor": {"address": {"peer": "9.9.9.9"}, "state": "up"}}'
    assert isinstance(decoder().decode(unknown)[0], MalformedUpdate)
    assert decoder().decode('{"type": "notification", "notification": "shutdown"}') == []
    connected = (
        '{"type": "state", "neighbor": {"address": {"peer": "100.64.0.1"}, "state": "connected"}}'
    )
    assert decoder().decode(connected) == []


def test_link_local_next_hop_beside_a_global_one_is_ignored() -> None:
    """RFC 2545: an IPv6 next-hop may be global + link-local; ExaBGP lists the NLRI
    under both, and only the global one identifies the provider."""
    nlri = [{"nlri": "2001:db8:1009::/48", "path-information": "0.0.0.13"}]
    message = {
        "type": "update",
        "neighbor": {
            "address": {"local": "100.66.1.2", "peer": "100.66.1.1"},
            "message": {
                "update": {
                    "attribute": {
                        "origin": "igp",
                        "as-path": {"0": {"element": "as-sequence", "value": [65001]}},
                    },
                    "announce": {
                        "ipv6 unicast": {
                            "2001:db8:ff00:1::2": nlri,
                            "fe80::4069:3dff:fed6:cdae": nlri,
                        }
                    },
                }
            },
        },
    }
    events = Decoder({"100.66.1.1": "edge"}.get).decode(json.dumps(message))
    hops = [e.attributes.next_hop for e in events if hasattr(e, "attributes")]
    assert hops == ["2001:db8:ff00:1::2"]
