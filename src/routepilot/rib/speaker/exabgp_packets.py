"""ExaBGP's API in packets mode (``receive { packets; open; update; }``) -> speaker events.

ExaBGP hands its API process each BGP message's bytes as hex (``message.body``, after
the 19-byte header; ``type`` is ``open``, ``update``, ``keepalive`` ...) instead of its
own JSON rendering of the parsed UPDATE, which cost it more CPU than anything else it
does for routepilot (``bench/rib/exabgp_modes.py``, #18). routepilot decodes the
UPDATEs with the decoder its BMP station uses (``rib/bmp/wire.py``), which needs what
the session negotiated: 4-byte AS numbers (RFC 6793) and, per family, whether NLRI
carry a path identifier (RFC 7911 section 4). Both come from the two OPENs, ExaBGP's
(``direction: send``) and the router's (``receive``), which precede every UPDATE of a
session. State lines (``neighbor-changes``) are JSON as before (exabgp_json.py).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from routepilot.rib.bmp.wire import (
    FAMILY_NAMES,
    AttributeCache,
    BmpError,
    OpenInfo,
    PeerUp,
    as_decoded,
    parse_open,
    parse_update,
    treat_as_withdraw,
)
from routepilot.rib.speaker.base import (
    EndOfRib,
    MalformedUpdate,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
    SpeakerEvent,
)
from routepilot.rib.speaker.exabgp_json import Decoder, document


class _Session:
    """What one router's session negotiated, from its two OPENs."""

    __slots__ = ("sent", "received", "four_byte_as", "add_path")

    def __init__(self) -> None:
        self.sent: OpenInfo | None = None
        self.received: OpenInfo | None = None
        self.four_byte_as = False
        self.add_path: frozenset[tuple[int, int]] = frozenset()

    def opened(self, direction: str, info: OpenInfo) -> None:
        if direction == "send":
            self.sent = info
        else:
            self.received = info
        if self.sent is not None and self.received is not None:
            # ExaBGP is the "router" of a BMP Peer Up here: it sent one OPEN, received the other.
            peer = PeerUp(self.sent, self.received)
            self.add_path = frozenset(peer.add_path_received())
            self.four_byte_as = self.sent.four_byte_as and self.received.four_byte_as

    @property
    def ready(self) -> bool:
        return self.sent is not None and self.received is not None


class PacketDecoder:
    """Decodes one API line at a time; ``router_of`` maps a peer address to a router name.

    The same events as :class:`exabgp_json.Decoder` gives for the parsed rendering of the
    same messages; an UPDATE that cannot be decoded, or one before both OPENs were seen,
    becomes a :class:`MalformedUpdate` (counted and skipped, never raised)."""

    def __init__(self, router_of: Callable[[str], str | None]) -> None:
        self._router_of = router_of
        self._json = Decoder(router_of)
        self._sessions: dict[str, _Session] = {}
        # Small, and its sets plain: a router packs an attribute set's prefixes into few
        # UPDATEs, so sets seldom come back here, and a whole table's sets held as objects
        # (the station's 512k) was 280 MiB more on the 0.5M-path MRT table (838 MiB against
        # 567 for routepilot with ExaBGP, bench/rib/mrt.py).
        self.cache = AttributeCache(1 << 14, as_decoded)

    def decode(self, line: str | bytes) -> list[SpeakerEvent]:
        doc = document(line)
        if isinstance(doc, MalformedUpdate):
            return [doc]
        kind = doc.get("type")
        if kind == "state":
            events = self._json.decode_document(doc)  # read once, not again as text
            for event in events:
                if isinstance(event, SessionChanged) and not event.up:
                    # A session's capabilities are its own: the next one sends its OPENs again.
                    self._sessions.pop(event.router, None)
            return events
        if kind not in ("open", "update"):
            return []
        neighbor = doc.get("neighbor")
        if not isinstance(neighbor, dict):
            return []
        address = neighbor.get("address")
        peer = address.get("peer") if isinstance(address, dict) else None
        router = self._router_of(str(peer)) if peer is not None else None
        if router is None:
            return [MalformedUpdate(str(peer), "message from an unknown peer")]
        direction = neighbor.get("direction")
        message = neighbor.get("message")
        body = message.get("body") if isinstance(message, dict) else None
        if not isinstance(body, str) or not body.startswith("0x"):
            return [MalformedUpdate(router, f"{kind} without its body")]
        try:
            raw = bytes.fromhex(body[2:])
        except ValueError:
            return [MalformedUpdate(router, f"{kind} body is not hex")]
        if kind == "open":
            try:
                info = parse_open(raw)
            except (BmpError, struct.error) as exc:
                return [MalformedUpdate(router, f"OPEN: {exc}")]
            self._sessions.setdefault(router, _Session()).opened(str(direction), info)
            return []
        if direction != "receive":
            return []
        session = self._sessions.get(router)
        if session is None or not session.ready:
            return [MalformedUpdate(router, "UPDATE before the session's OPENs")]
        try:
            update = parse_update(raw, session.four_byte_as, session.add_path, self.cache)
        except ValueError as exc:  # UpdateError, and anything else a bad UPDATE may raise
            # ExaBGP no longer reads the UPDATE, so its RFC 7606 handling is ours: the
            # prefixes it was about are withdrawn, not left on what they had before.
            gone = treat_as_withdraw(raw, session.add_path)
            if not gone:
                return [MalformedUpdate(router, f"{exc}; no prefix of it could be read")]
            return [
                MalformedUpdate(router, f"{exc}; its {len(gone)} paths treated as withdrawn"),
                PathsWithdrawn(router, gone),
            ]
        if update.end_of_rib is not None:
            return [EndOfRib(router, FAMILY_NAMES[update.end_of_rib])]
        out: list[SpeakerEvent] = []
        if update.withdrawn:
            out.append(PathsWithdrawn(router, update.withdrawn))
        for attrs, nlri in update.announced:
            out.append(PathsLearned(router, attrs, nlri))
        return out
