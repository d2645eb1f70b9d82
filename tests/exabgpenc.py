"""ExaBGP 5's API lines in packets mode (``receive { packets; open; update; }``), for tests.

The lines are what ExaBGP writes (checked against a capture of ExaBGP 5.0.15): the
message's header and body as ``0x`` and upper-case hex under ``neighbor.message``.
BGP messages themselves are built with ``tests.bmpenc``.
"""

from __future__ import annotations

from tests import bmpenc as b

LOCAL = "100.64.0.2"
PEER = "100.64.0.1"
ADD_PATH = {(1, 1): 3, (2, 1): 3}
FAMILIES = ((1, 1), (2, 1))


def line(kind: str, message: bytes, direction: str = "receive", peer: str = PEER) -> bytes:
    """One API line for a whole BGP message (its 19-byte header and its body)."""
    return (
        f'{{ "exabgp": "5.0.0", "time": 1.0, "host" : "vm", "pid" : 1, "ppid" : 1, '
        f'"counter": 1, "type": "{kind}", "neighbor": {{ "address": {{ "local": "{LOCAL}", '
        f'"peer": "{peer}" }}, "asn": {{ "local": 65000, "peer": 65000 }}, '
        f'"direction": "{direction}", "message": {{ "category": {message[18]}, '
        f'"header": "0x{message[:19].hex().upper()}", "body": "0x{message[19:].hex().upper()}" '
        "}  } }\n"
    ).encode()


def opens(peer: str = PEER, add_path: dict | None = ADD_PATH) -> bytes:
    """ExaBGP's OPEN (add-path receive) and the router's (add-path as given: send and
    receive for both families by default), both with 4-byte AS numbers."""
    ours = {f: 1 for f in FAMILIES}
    return line("open", b.open_msg(65000, FAMILIES, ours), "send", peer) + line(
        "open", b.open_msg(65000, FAMILIES, add_path), "receive", peer
    )


def state(state: str, peer: str = PEER) -> bytes:
    return (
        '{ "exabgp": "5.0.0", "type": "state", "neighbor": { "address": '
        f'{{ "local": "{LOCAL}", "peer": "{peer}" }}, "state": "{state}" }} }}\n'
    ).encode()


def update(message: bytes, peer: str = PEER) -> bytes:
    return line("update", message, "receive", peer)
