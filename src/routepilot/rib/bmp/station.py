"""A BMP station (RFC 7854): routers connect to it and stream what their BGP sessions learn.

The station turns BMP into the speaker events rib/ already consumes, so a
:class:`~routepilot.rib.rib.Rib` builds the same per-prefix view from BMP as
from an add-path iBGP session:

- a router's BMP session (the TCP connection, after its Initiation) is
  :class:`SessionChanged` for that router: up, then down when it closes, which
  drops every path the router gave;
- Route Monitoring of a post-policy Adj-RIB-In (RFC 7854) or of the Loc-RIB
  (RFC 9069) becomes :class:`PathsLearned` / :class:`PathsWithdrawn`; the
  provider of a path is found from its next hop, as for add-path. Pre-policy
  and Adj-RIB-Out (RFC 8671) monitoring is counted and ignored: it is not what
  the router uses;
- a Peer Down withdraws every path of that monitored peer, as one
  :class:`PathIdsWithdrawn` of the path ids the station gave it (below): rib/ holds
  each path by path id, so the station keeps no peer's prefixes;
- End-of-RIB is passed on once every monitored peer of the family has sent it.

rib/ identifies a path by (router, path id), as add-path does; BMP paths of
different peers of one router may share a prefix and a path id, so each
(peer, path id) pair gets a path id of its own, unique within the router.

Malformed BMP framing is a counted drop and a closed session, never a crash;
a malformed BGP UPDATE inside well-formed framing is a :class:`MalformedUpdate`
and the session goes on. Buffers are bounded: a message longer than
``max_message`` bytes closes the session before it is read.

Routers send a table one prefix a message, each with its per-peer header and its
whole attribute set: a session decodes each peer's header and each attribute set
once (both kept in bounded maps), which is most of what a message costs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import socket
import struct
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from routepilot.log import get_logger
from routepilot.rib.bmp.metrics import BmpMetrics
from routepilot.rib.bmp.wire import (
    BMP_VERSION,
    COMMON_HEADER,
    FAMILY_NAMES,
    INITIATION,
    IPV4_UNICAST,
    MESSAGE_TYPES,
    PEER_DOWN,
    PEER_HEADER,
    PEER_UP,
    ROUTE_MONITORING,
    STATISTICS_REPORT,
    TERMINATION,
    AttributeCache,
    BmpError,
    Message,
    PeerHeader,
    UpdateError,
    parse_common_header,
    parse_message,
    parse_peer_up,
    parse_route_monitoring,
    parse_tlvs,
    parse_update,
    treat_as_withdraw,
)
from routepilot.rib.speaker.base import (
    EndOfRib,
    MalformedUpdate,
    NlriBlock,
    PathIdsWithdrawn,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
    SpeakerEvent,
)

log = get_logger(__name__)

MAX_MESSAGE = 1 << 18
"""256 KiB: room for a Peer Up with two 65535-byte extended OPENs (RFC 8654) and TLVs."""
_MAX_PATH_ID = 2**32 - 1
_CHUNK = 1 << 14
"""Bytes read and decoded between two turns of the event loop (where the API also runs):
16 KiB is about 200 one-prefix messages, a millisecond or two of decoding. Larger reads
saved no measurable CPU (``bench/rib/learn.py``, docs/performance.md)."""
_COMMON_HEADER = struct.Struct("!BIB")
"""Version, message length, message type (RFC 7854 section 4.1)."""
_PEER_KEY = 34
"""The per-peer header without its timestamp (RFC 7854 section 4.2): what names a peer."""
_MAX_PEERS = 4096
"""Decoded per-peer headers kept per session (a router monitors a few hundred peers)."""


@dataclass
class _Peer:
    """One monitored RIB of a router: its families, add-path use and the path ids it gave."""

    header: PeerHeader
    families: set[tuple[int, int]] = field(default_factory=lambda: {IPV4_UNICAST})
    add_path: frozenset[tuple[int, int]] = frozenset()
    end_of_rib: set[tuple[int, int]] = field(default_factory=set)
    ids: dict[int, int] = field(default_factory=dict)
    """The peer's path id -> the path id given to rib/: one entry for a peer without
    add-path, whatever its number of prefixes. On Peer Down these ids name every path
    of the peer, so no prefix is kept here (a set of them cost 94 MiB for 1M paths)."""


@dataclass(frozen=True, slots=True)
class _Seen:
    """A per-peer header, decoded once, and what the station does with its monitoring."""

    header: PeerHeader
    key: tuple
    used: bool
    """Post-policy Adj-RIB-In or Loc-RIB: the paths the router uses."""
    four_byte_as: bool

    @classmethod
    def of(cls, header: PeerHeader) -> _Seen:
        return cls(
            header, header.key, header.post_policy and not header.adj_rib_out, header.four_byte_as
        )


class _Session:
    """One router's BMP connection."""

    def __init__(self, router: str, attributes: AttributeCache | None = None) -> None:
        self.router = router
        self.up = False
        self.replaced = False
        """A newer connection of the router took over: this one emits nothing more."""
        self.peers: dict[tuple, _Peer] = {}
        self.next_id = 1
        self.eor_sent: set[tuple[int, int]] = set()
        self.headers: dict[bytes, _Seen] = {}
        """Per-peer header bytes (without the timestamp) -> the header, decoded once."""
        self.attributes = AttributeCache() if attributes is None else attributes

    def path_id(self, peer: _Peer, path_id: int) -> int:
        rib_id = peer.ids.get(path_id)
        if rib_id is None:
            if self.next_id > _MAX_PATH_ID:
                raise BmpError("more monitored paths than path ids")
            rib_id = peer.ids[path_id] = self.next_id
            self.next_id += 1
        return rib_id


class Station(Protocol):
    """What the daemon uses of a BMP station: :class:`BmpStation` in its own process, or
    :class:`~routepilot.rib.bmp.process.StationProcess` running one in a child."""

    metrics: BmpMetrics

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def next_event(self) -> SpeakerEvent: ...

    def pending_events(self, limit: int = 0) -> list[SpeakerEvent]: ...

    def sessions(self) -> dict[str, dict]: ...


class Outbox:
    """Speaker events in order, for one consumer, as a Speaker delivers them.

    A deque and a flag rather than an asyncio.Queue: a table is a million events, and
    the queue's per-item cost was a tenth of a message's. :meth:`_taken` runs whenever
    the consumer has taken events, so that a producer held back may go on."""

    def __init__(self) -> None:
        self._queue: collections.deque[SpeakerEvent] = collections.deque()
        self._ready = asyncio.Event()

    def _taken(self, left: int) -> None:
        """The consumer took events; ``left`` are still queued."""

    def _put(self, event: SpeakerEvent) -> None:
        self._queue.append(event)
        if len(self._queue) == 1:
            # A reader waits only on an empty queue: wake it when the first event comes.
            self._ready.set()

    async def next_event(self) -> SpeakerEvent:
        while not self._queue:
            self._ready.clear()
            self._taken(0)
            await self._ready.wait()
        return self._queue.popleft()

    async def events(self) -> AsyncIterator[SpeakerEvent]:
        while True:
            yield await self.next_event()

    def pending_events(self, limit: int = 0) -> list[SpeakerEvent]:
        """The events queued, in order: all of them, or at most ``limit``."""
        queue = self._queue
        if limit and len(queue) > limit:
            out = [queue.popleft() for _ in range(limit)]
        else:
            out = list(queue)
            queue.clear()
        self._taken(len(queue))
        return out


class BmpStation(Outbox):
    """Listens for BMP from the configured routers and emits speaker events in order.

    ``routers`` maps the address a router's BMP connection comes from to its
    name in the configuration; a connection from any other address is counted
    and closed at once. ``sock``: an already bound listening socket to use
    instead of ``(listen, port)`` (for a station in another network namespace).
    """

    def __init__(
        self,
        routers: Mapping[str, str],
        listen: str = "::",
        port: int = 11019,
        max_message: int = MAX_MESSAGE,
        sock: socket.socket | None = None,
        high_water: int = 0,
        attribute_cache: Callable[[], AttributeCache] = AttributeCache,
    ) -> None:
        """``attribute_cache`` makes each session's cache of decoded attribute sets: the
        station's process keeps them encoded, as it hands them across."""
        self._routers = {ipaddress.ip_address(a).compressed: n for a, n in routers.items()}
        self._listen = listen
        self._port = port
        self._max_message = max_message
        self._sock = sock
        self._server: asyncio.base_events.Server | None = None
        super().__init__()
        self._high_water = high_water
        self._room = asyncio.Event()
        self._room.set()
        self._sessions: dict[str, tuple[_Session, asyncio.StreamWriter]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._attribute_cache = attribute_cache
        self.metrics = BmpMetrics()

    @property
    def port(self) -> int:
        """The port it listens on (the one the kernel chose when configured with 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        sock = self._sock or _listening_socket(self._listen, self._port)
        self._server = await asyncio.start_server(self._accept, sock=sock)
        log.info("bmp station listening", listen=self._listen, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for _, writer in list(self._sessions.values()):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    # Events, as a Speaker delivers them.

    def _emit(self, event: SpeakerEvent) -> None:
        self.metrics.events += 1
        self._put(event)

    def _taken(self, left: int) -> None:
        if left <= self._high_water:
            self._room.set()

    async def _wait_room(self) -> None:
        """Waits while more than ``high_water`` events are queued (when bounded)."""
        if self._high_water and len(self._queue) > self._high_water:
            self._room.clear()
            await self._room.wait()

    def sessions(self) -> dict[str, dict]:
        """Per connected router: ``{"up", "peers"}``, the addresses of its monitored RIBs
        (``loc-rib`` for its Loc-RIB), sorted. The RIB counts their paths
        (``Rib.router_summary``); the station keeps no prefix to count."""
        return {
            router: {
                "up": s.up,
                "peers": sorted(p.header.address or "loc-rib" for p in s.peers.values()),
            }
            for router, (s, _) in self._sessions.items()
        }

    # Connections.

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            # stop() cancels the connections; ending quietly keeps asyncio's stream
            # callback from logging the cancellation as an error (Python 3.11).
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername") or ("?",)
        address = ipaddress.ip_address(peername[0].split("%")[0])
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        router = self._routers.get(address.compressed)
        if router is None:
            self.metrics.unknown_sources += 1
            log.warning("bmp connection from an unknown address", address=str(address))
            writer.close()
            return
        old = self._sessions.get(router)
        if old is not None:
            # The router reconnected (a restart it could not tell us about): the new
            # connection replaces the old one, whose paths go now, before the new one
            # says anything. Its task ends at its next turn and emits nothing more: the
            # path ids start again in the new session, and an end or a Peer Down of the
            # old one after the new one's paths would take those.
            old_session, old_writer = old
            old_session.replaced = True
            if old_session.up:
                old_session.up = False
                self._emit(SessionChanged(router, False, "bmp connection replaced"))
            old_writer.close()
        session = _Session(router, self._attribute_cache())
        self._sessions[router] = (session, writer)
        self.metrics.connections += 1
        log.info("bmp connection", router=router, address=str(address))
        reason = "bmp connection closed"
        try:
            if not await self._read(session, reader):
                reason = "bmp termination"
        except (BmpError, ValueError, IndexError, struct.error) as exc:
            # Every decoding error is BmpError by design; the others are a safety net,
            # so that no input can end the station's task with a traceback.
            self.metrics.malformed_messages += 1
            reason = f"malformed bmp: {exc}"
            log.warning("malformed bmp, closing the session", router=router, reason=str(exc))
        except (ConnectionError, OSError) as exc:
            reason = f"bmp connection lost: {exc}"
        finally:
            writer.close()
            if self._sessions.get(router, (None,))[0] is session:
                del self._sessions[router]
            if session.up:
                self._emit(SessionChanged(router, False, reason))
            log.info("bmp session closed", router=router, reason=reason)

    async def _read(self, session: _Session, reader: asyncio.StreamReader) -> bool:
        """Reads and applies messages until the connection ends (True) or the router sends
        Termination (False).

        Reads in chunks and decodes every whole message of a chunk in one go: a full
        table is millions of small messages, and one await per message costs more than
        decoding it. After each chunk the loop gets a turn: while the reader has data
        buffered, ``read`` returns without yielding, and a table arriving would hold the
        loop (and the API, the other routers' sessions) until its end. The buffer holds
        at most one partial message (at most ``max_message`` bytes, checked from its
        header before waiting for the rest) plus one chunk."""
        buf = b""
        while True:
            chunk = await reader.read(_CHUNK)
            if session.replaced:
                return True
            if not chunk:
                if buf:
                    raise BmpError(f"connection closed inside a message ({len(buf)} bytes)")
                return True
            buf = buf + chunk if buf else chunk
            i, n = 0, len(buf)
            monitoring = 0
            try:
                while n - i >= COMMON_HEADER:
                    version, length, msg_type = _COMMON_HEADER.unpack_from(buf, i)
                    if (
                        msg_type != ROUTE_MONITORING
                        or version != BMP_VERSION
                        or length < COMMON_HEADER + PEER_HEADER
                    ):
                        # Anything but a sound route monitoring header: checked in full.
                        length, msg_type = parse_common_header(buf[i : i + COMMON_HEADER])
                    if length > self._max_message:
                        raise BmpError(
                            f"message of {length} bytes over the {self._max_message} limit"
                        )
                    if n - i < length:
                        break
                    body = buf[i + COMMON_HEADER : i + length]
                    i += length
                    if msg_type == ROUTE_MONITORING:
                        monitoring += 1  # counted once a chunk: a table is millions
                        if session.up:
                            # The table itself: its peer header decoded once per peer.
                            seen = session.headers.get(body[:_PEER_KEY])
                            if seen is None:
                                seen = self._header(session, msg_type, body)
                            self._route_monitoring(session, seen, body[PEER_HEADER:])
                            continue
                    else:
                        self.metrics.count_message(MESSAGE_TYPES[msg_type])
                    if not self._handle(session, parse_message(msg_type, body)):
                        return False
            finally:
                if monitoring:
                    self.metrics.count_message(MESSAGE_TYPES[ROUTE_MONITORING], monitoring)
            buf = buf[i:]
            await asyncio.sleep(0)
            await self._wait_room()

    @staticmethod
    def _header(session: _Session, msg_type: int, body: bytes) -> _Seen:
        """Decodes a per-peer header and keeps it for the peer's next messages."""
        header = parse_message(msg_type, body[:PEER_HEADER]).peer
        assert header is not None
        if len(session.headers) >= _MAX_PEERS:
            session.headers.clear()
        seen = session.headers[body[:_PEER_KEY]] = _Seen.of(header)
        return seen

    def _handle(self, session: _Session, msg: Message) -> bool:
        """Applies one message; False when the router ends the session."""
        if msg.type == INITIATION:
            parse_tlvs(msg.body)
            if not session.up:
                session.up = True
                self._emit(SessionChanged(session.router, True))
            return True
        if msg.type == TERMINATION:
            parse_tlvs(msg.body)
            return False
        if not session.up:
            raise BmpError(f"{MESSAGE_TYPES[msg.type]} before the initiation message")
        peer_header = msg.peer
        assert peer_header is not None
        if msg.type == PEER_UP:
            self._peer_up(session, peer_header, msg.body)
        elif msg.type == PEER_DOWN:
            self._peer_down(session, peer_header)
        elif msg.type == ROUTE_MONITORING:
            self._route_monitoring(session, _Seen.of(peer_header), msg.body)
        elif msg.type == STATISTICS_REPORT:
            self.metrics.statistics_reports += 1
        return True

    def _peer_up(self, session: _Session, header: PeerHeader, body: bytes) -> None:
        up = parse_peer_up(body)
        old = session.peers.pop(header.key, None)
        if old is not None:
            self._withdraw_peer(session, old)
        families = {f for f in up.families() if f in FAMILY_NAMES}
        if up.complete:
            families = families or {IPV4_UNICAST}
        session.peers[header.key] = _Peer(
            header, families, frozenset(up.add_path_received() & families)
        )
        self.metrics.peer_ups += 1
        name = header.address or "loc-rib"
        if up.complete:
            log.info("bmp peer up", router=session.router, peer=name)
        else:
            self.metrics.peer_ups_without_open += 1
            log.warning(
                "bmp peer up without the session's OPEN messages: its paths are taken"
                " without path ids, and it holds back no family's End-of-RIB",
                router=session.router,
                peer=name,
            )

    def _peer_down(self, session: _Session, header: PeerHeader) -> None:
        peer = session.peers.pop(header.key, None)
        self.metrics.peer_downs += 1
        log.info("bmp peer down", router=session.router, peer=header.address or "loc-rib")
        if peer is not None:
            self._withdraw_peer(session, peer)
            self._maybe_end_of_rib(session)

    def _withdraw_peer(self, session: _Session, peer: _Peer) -> None:
        """Every path the peer gave goes: the path ids given to rib/ for it are its own
        (:meth:`_Session.path_id` never gives one twice in a session)."""
        if peer.ids:
            self._emit(PathIdsWithdrawn(session.router, tuple(peer.ids.values())))

    def _route_monitoring(self, session: _Session, seen: _Seen, body: bytes) -> None:
        if not seen.used:
            self.metrics.ignored_monitoring += 1
            return
        peer = session.peers.get(seen.key)
        if peer is None:
            # Route monitoring before its Peer Up: the framing is fine but the
            # router does not follow RFC 7854 section 4.6; take the paths anyway.
            peer = session.peers[seen.key] = _Peer(seen.header)
        pdu = parse_route_monitoring(body)
        try:
            update = parse_update(pdu, seen.four_byte_as, peer.add_path, session.attributes)
        except UpdateError as exc:
            self.metrics.malformed_updates += 1
            address = seen.header.address
            # RFC 7606 treat-as-withdraw: the prefixes it was about leave their old paths.
            gone = treat_as_withdraw(pdu, peer.add_path)
            said = f"its {len(gone)} paths treated as withdrawn" if gone else "no prefix read"
            self._emit(MalformedUpdate(session.router, f"bmp peer {address}: {exc}; {said}"))
            if gone:
                self._emit(PathsWithdrawn(session.router, self._rib_ids(session, peer, gone)))
            return
        if update.withdrawn:
            block = self._rib_ids(session, peer, update.withdrawn)
            self._emit(PathsWithdrawn(session.router, block))
        for attributes, announced in update.announced:
            block = self._rib_ids(session, peer, announced)
            self._emit(PathsLearned(session.router, attributes, block))
        if update.end_of_rib is not None:
            peer.end_of_rib.add(update.end_of_rib)
            self._maybe_end_of_rib(session)

    @staticmethod
    def _rib_ids(session: _Session, peer: _Peer, block: NlriBlock) -> NlriBlock:
        """The block, just decoded, with the peer's path ids replaced by those given to rib/
        (in place): one lookup for a peer without add-path, whose paths all have id 0."""
        path_ids = block.path_ids
        if isinstance(path_ids, int):
            block.path_ids = peer.ids.get(path_ids) or session.path_id(peer, path_ids)
        else:
            get = peer.ids.get
            block.path_ids = [get(i) or session.path_id(peer, i) for i in path_ids]
        return block

    def _maybe_end_of_rib(self, session: _Session) -> None:
        """End-of-RIB for a family once every monitored peer of that family has sent it."""
        families = {f for p in session.peers.values() for f in p.end_of_rib} - session.eor_sent
        for family in families:
            peers = [p for p in session.peers.values() if family in p.families]
            if all(family in p.end_of_rib for p in peers):
                session.eor_sent.add(family)
                self._emit(EndOfRib(session.router, FAMILY_NAMES[family]))


def _listening_socket(listen: str, port: int) -> socket.socket:
    """A listening socket on ``(listen, port)``. On ``::`` it accepts IPv4 routers too:
    asyncio's own server sets IPV6_V6ONLY, which would refuse every IPv4 router on the
    default address (their addresses arrive IPv4-mapped, as ``_serve`` expects)."""
    family = socket.AF_INET6 if ipaddress.ip_address(listen).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((listen, port))
        sock.listen(64)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
