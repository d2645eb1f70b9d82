"""Kernel sockets that send probes through one provider and read their answers.

One socket per (provider, kind, address family). Each is steered by source
address (bind), socket mark (SO_MARK) and/or interface (SO_BINDTODEVICE), asks
the kernel for software timestamps on receive and on transmit (SO_TIMESTAMPING;
transmit stamps come back on the error queue, numbered by OPT_ID), and carries a
BPF filter so that it wakes only for answers that can be its own.

ICMP and TCP use raw sockets (CAP_NET_RAW), UDP an ordinary datagram socket whose
ICMP errors arrive on the error queue (IP_RECVERR).
"""

from __future__ import annotations

import errno
import random
import socket
from dataclasses import dataclass
from typing import Protocol

from routepilot.probe import wire

KINDS = ("icmp", "tcp", "udp")
SockAddr = tuple[str, int] | tuple[str, int, int, int]
"""A peer address as recvmsg() returns it for AF_INET and AF_INET6."""
_RING = 65536
_BATCH = 512
_ASYNC_ERRORS = frozenset(
    {
        errno.ECONNREFUSED,  # port unreachable
        errno.EHOSTUNREACH,  # host unreachable, time exceeded
        errno.ENETUNREACH,
        errno.EACCES,  # administratively prohibited
        errno.EPROTO,  # parameter problem
        errno.EMSGSIZE,  # fragmentation needed / packet too big
        errno.ENOPROTOOPT,
    }
)
"""The errors an ICMP error leaves pending on a socket with IP_RECVERR (ip_icmp_error)."""


class ProbeSetupError(Exception):
    """A socket that cannot be opened or steered; the message is meant for the user."""


@dataclass(frozen=True)
class Steering:
    """How one provider's probes leave the host (from ``ProviderConfig.probe``)."""

    source: str | None = None
    source6: str | None = None
    mark: int | None = None
    interface: str | None = None

    def source_for(self, family: int) -> str | None:
        return self.source if family == socket.AF_INET else self.source6


class AnswerSink(Protocol):
    """What a socket reports to (the engine)."""

    def tx_stamp(self, token: int, ns: int) -> bool | None:
        """True: taken; False: cannot be this probe's stamp; None: probe not in flight."""

    def answer(
        self,
        sock: ProbeSocket,
        token: int,
        target: str,
        rx_ns: int,
        status: int,
        responder: str,
        ttl: int,
    ) -> None: ...

    def unmatched(self, sock: ProbeSocket) -> None: ...

    def socket_drops(self, sock: ProbeSocket, n: int) -> None:
        """The kernel discarded ``n`` answers for this socket (its receive buffer was full)."""


def family_of(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


class ProbeSocket:
    """Base: steering, timestamps, the OPT_ID ring that maps TX stamps to tokens."""

    kind = ""

    def __init__(self, provider: int, family: int, steering: Steering, sock: socket.socket) -> None:
        self.provider = provider
        self.family = family
        self.steering = steering
        self.sock = sock
        self._keys = [-1] * _RING
        self._sent = 0
        self._key_shift = 0
        self.source = steering.source_for(family)
        self.drops = 0
        """The kernel's count of answers dropped on this socket, as last reported."""

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def _note_sent(self, token: int) -> None:
        self._keys[self._sent & 0xFFFF] = token
        self._sent = (self._sent + 1) & 0xFFFFFFFF

    def _ttl_anc(self, ttl: int) -> list:
        if self.family == socket.AF_INET:
            return [(wire.SOL_IP, wire.IP_TTL, ttl.to_bytes(4, "little"))]
        return [(wire.SOL_IPV6, wire.IPV6_HOPLIMIT, ttl.to_bytes(4, "little"))]

    def _send(self, packet: bytes, address: tuple, ttl: int | None) -> None:
        try:
            self._send_once(packet, address, ttl)
        except OSError as exc:
            if exc.errno not in _ASYNC_ERRORS:
                raise
            # With IP_RECVERR every ICMP error also sets the socket's pending error, and the
            # kernel hands that to the next send instead of sending (then clears it). The
            # error itself is still on the error queue, read in its turn; this packet was
            # never sent, so send it now. A refusal of this packet fails again.
            self._send_once(packet, address, ttl)

    def _send_once(self, packet: bytes, address: tuple, ttl: int | None) -> None:
        if ttl is None:
            self.sock.sendto(packet, address)
        else:
            self.sock.sendmsg([packet], self._ttl_anc(ttl), 0, address)

    def drain_errqueue(self, sink: AnswerSink) -> bool:
        """Transmit stamps (and, for TCP/UDP, ICMP errors) from the error queue; True when
        it stopped at the batch limit (more may be waiting)."""
        recvmsg = self.sock.recvmsg
        for _ in range(_BATCH):
            try:
                data, anc, _flags, addr = recvmsg(64, 512, socket.MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return False
            ee = wire.read_extended_error(anc)
            if ee is None:
                continue
            if ee[0] == wire.SO_EE_ORIGIN_TIMESTAMPING:
                ns = wire.read_timestamp(anc)
                if ns:
                    self._tx_stamp(sink, ee[3], ns)
            else:
                self.icmp_error(sink, data, anc, addr, ee)
        return True

    def _note_drops(self, sink: AnswerSink, anc: list) -> None:
        """Reports answers the kernel dropped on this socket since the last report. The count
        is cumulative, so the last datagram of a batch carries the newest value."""
        drops = wire.read_drops(anc)
        if drops > self.drops:
            sink.socket_drops(self, drops - self.drops)
            self.drops = drops

    def _tx_stamp(self, sink: AnswerSink, key: int, ns: int) -> None:
        """Maps the kernel's OPT_ID counter to our send order and hands the stamp over.

        The two stay in step unless the kernel counted a packet that our sendto saw fail
        (or the reverse); a stamp that cannot be its probe's (earlier than the probe was
        handed to the kernel) then reveals the shift, and the neighbours that fit re-align it.
        """
        keys = self._keys
        index = key - self._key_shift
        if sink.tx_stamp(keys[index & 0xFFFF], ns) is not False:
            return
        for d in (1, -1, 2, -2, 3, -3):
            if sink.tx_stamp(keys[(index - d) & 0xFFFF], ns):
                self._key_shift += d
                return

    def icmp_error(
        self, sink: AnswerSink, data: bytes, anc: list, addr: SockAddr, ee: wire.ExtendedError
    ) -> None:
        sink.unmatched(self)

    def drain(self, sink: AnswerSink) -> bool:
        """Reads answers waiting on the socket, at most a batch of each queue; True when more
        may be waiting (a batch limit was reached)."""
        raise NotImplementedError

    def send(self, target: str, token: int, ttl: int | None = None) -> None:
        raise NotImplementedError


def _error_status(family: int, etype: int, code: int) -> int:
    """What an ICMP error quoting a probe says. Port unreachable means the probe reached its
    host (only the destination sends it, RFC 1122 §3.2.2.1); its source is not checked
    because a host answering for a whole range (AnyIP, anycast) may use another address."""
    if family == socket.AF_INET:
        if etype == 11:
            return wire.TTL_EXCEEDED
        if etype == 3 and code == 3:
            return wire.REPLY
    else:
        if etype == 3:
            return wire.TTL_EXCEEDED
        if etype == 1 and code == 4:
            return wire.REPLY
    return wire.UNREACHABLE


class IcmpSocket(ProbeSocket):
    kind = "icmp"

    def __init__(
        self,
        provider: int,
        family: int,
        steering: Steering,
        sock: socket.socket,
        ident: int,
        magic: int,
        pad: bytes,
    ) -> None:
        super().__init__(provider, family, steering, sock)
        self.ident = ident
        self.magic = magic
        self._builder = wire.EchoBuilder(family, ident, magic, pad)
        self._seq = [-1] * _RING
        self._parse = wire.parse_icmp4 if family == socket.AF_INET else wire.parse_icmp6

    def send(self, target: str, token: int, ttl: int | None = None) -> None:
        if ttl is None:
            self.sock.sendto(self._builder.build(token), (target, 0))
        else:
            self._send(self._builder.build(token), (target, 0), ttl)
        self._seq[token & 0xFFFF] = token
        self._keys[self._sent & 0xFFFF] = token
        self._sent = (self._sent + 1) & 0xFFFFFFFF

    def drain(self, sink: AnswerSink) -> bool:
        more = self.drain_errqueue(sink)
        recvmsg = self.sock.recvmsg
        parse = self._parse
        ident, magic = self.ident, self.magic
        anc: list = []
        for _ in range(_BATCH):
            try:
                data, anc, _flags, addr = recvmsg(2048, 256)
            except (BlockingIOError, InterruptedError):
                self._note_drops(sink, anc)
                return more
            status, token, seq, qdst, ttl = parse(data, ident, magic)
            if status < 0:
                sink.unmatched(self)
                continue
            if token < 0:
                token = self._seq[seq]
            # An ICMP error quotes the probe's destination; an echo reply quotes none,
            # as its sender is the destination.
            target = addr[0] if qdst is None else qdst
            sink.answer(self, token, target, wire.read_timestamp(anc), status, addr[0], ttl)
        self._note_drops(sink, anc)
        return True


class TcpSocket(ProbeSocket):
    kind = "tcp"

    def __init__(
        self,
        provider: int,
        family: int,
        steering: Steering,
        sock: socket.socket,
        sport: int,
        dport: int,
        magic: int,
    ) -> None:
        super().__init__(provider, family, steering, sock)
        self.sport = sport
        self.dport = dport
        self.magic = magic
        self._pseudo: dict[str, int] = {}

    def _pseudo_sum(self, target: str) -> int | None:
        if self.family == socket.AF_INET6:
            return None  # IPV6_CHECKSUM makes the kernel fill it in.
        s = self._pseudo.get(target)
        if s is None:
            src = self.source or route_source(target, self.steering)
            s = wire.tcp_pseudo_sum(src, target)
            if len(self._pseudo) > 100_000:
                self._pseudo.clear()
            self._pseudo[target] = s
        return s

    def send(self, target: str, token: int, ttl: int | None = None) -> None:
        isn = (token + self.magic) & 0xFFFFFFFF
        seg = wire.tcp_syn(self.sport, self.dport, isn, self._pseudo_sum(target))
        self._send(seg, (target, 0), ttl)
        self._note_sent(token)

    def _token(self, ack_isn: int) -> int:
        return (ack_isn - self.magic) & 0xFFFFFFFF

    def drain(self, sink: AnswerSink) -> bool:
        more = self.drain_errqueue(sink)
        recvmsg = self.sock.recvmsg
        v4 = self.family == socket.AF_INET
        anc: list = []
        for _ in range(_BATCH):
            try:
                data, anc, _flags, addr = recvmsg(256, 256)
            except (BlockingIOError, InterruptedError):
                self._note_drops(sink, anc)
                return more
            off = (data[0] & 0x0F) * 4 if v4 else 0
            isn, status = wire.parse_tcp(data, off, self.sport, self.dport)
            if status < 0:
                sink.unmatched(self)
                continue
            ttl = data[8] if v4 else -1
            token = self._token(isn)
            sink.answer(self, token, addr[0], wire.read_timestamp(anc), status, addr[0], ttl)
        self._note_drops(sink, anc)
        return True

    def icmp_error(
        self, sink: AnswerSink, data: bytes, anc: list, addr: SockAddr, ee: wire.ExtendedError
    ) -> None:
        # The error queue returns the quoted TCP header: ports, then our ISN.
        if len(data) < 8:
            sink.unmatched(self)
            return
        token = self._token(wire.u32(data, 4))
        status = _error_status(self.family, ee[1], ee[2])
        if status == wire.REPLY:
            status = wire.UNREACHABLE
        rx = wire.read_timestamp(anc)
        sink.answer(self, token, addr[0], rx, status, ee[4] or addr[0], -1)


class UdpSocket(ProbeSocket):
    kind = "udp"

    def __init__(
        self,
        provider: int,
        family: int,
        steering: Steering,
        sock: socket.socket,
        dport: int,
        magic: int,
        pad: bytes,
    ) -> None:
        super().__init__(provider, family, steering, sock)
        self.dport = dport
        self.magic = magic
        self.pad = pad

    def send(self, target: str, token: int, ttl: int | None = None) -> None:
        self._send(wire.udp_payload(token, self.magic, self.pad), (target, self.dport), ttl)
        self._note_sent(token)

    def drain(self, sink: AnswerSink) -> bool:
        more = self.drain_errqueue(sink)
        for _ in range(_BATCH):
            try:
                self.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return more
            # A service that answers on the probe port is not how UDP probes work here.
            sink.unmatched(self)
        return True

    def icmp_error(
        self, sink: AnswerSink, data: bytes, anc: list, addr: SockAddr, ee: wire.ExtendedError
    ) -> None:
        if len(data) < 8 or wire.u32(data, 4) != self.magic:
            sink.unmatched(self)
            return
        token = wire.u32(data, 0)
        target = addr[0]
        status = _error_status(self.family, ee[1], ee[2])
        sink.answer(self, token, target, wire.read_timestamp(anc), status, ee[4] or target, -1)


def route_source(target: str, steering: Steering) -> str:
    """The source address the kernel would use toward ``target`` with this steering."""
    s = socket.socket(family_of(target), socket.SOCK_DGRAM)
    try:
        _steer(s, steering, None)
        s.connect((target, 9))
        return s.getsockname()[0]
    except OSError as exc:
        raise ProbeSetupError(f"no route to {target}: {exc.strerror}") from None
    finally:
        s.close()


def _steer(s: socket.socket, steering: Steering, source: str | None) -> None:
    if steering.mark is not None:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, steering.mark)
        except PermissionError:
            raise ProbeSetupError("socket marks (SO_MARK) need CAP_NET_ADMIN") from None
    if steering.interface:
        try:
            s.setsockopt(
                socket.SOL_SOCKET, socket.SO_BINDTODEVICE, steering.interface.encode() + b"\0"
            )
        except PermissionError:
            raise ProbeSetupError("binding to an interface needs CAP_NET_RAW") from None
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                raise ProbeSetupError(f"interface {steering.interface!r} does not exist") from None
            raise
    if source:
        try:
            s.bind((source, 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ProbeSetupError(
                    f"source address {source} is not configured on this host"
                ) from None
            raise ProbeSetupError(f"cannot bind source {source}: {exc.strerror}") from None


def _buffers(s: socket.socket, size: int) -> None:
    for force, plain in ((wire.SO_RCVBUFFORCE, socket.SO_RCVBUF), (wire.SO_SNDBUFFORCE, None)):
        try:
            s.setsockopt(socket.SOL_SOCKET, force, size)
        except OSError:
            if plain is not None:
                s.setsockopt(socket.SOL_SOCKET, plain, size)


def _new(family: int, type_: int, proto: int) -> socket.socket:
    try:
        return socket.socket(family, type_, proto)
    except PermissionError:
        raise ProbeSetupError(
            "raw sockets need CAP_NET_RAW: run as root or grant the capability"
        ) from None
    except OSError as exc:
        raise ProbeSetupError(f"cannot open a probe socket: {exc.strerror}") from None


@dataclass(frozen=True)
class SocketOptions:
    tcp_port: int = 80
    udp_port: int = 33434
    payload_pad: int = 0
    buffer_bytes: int = 16 << 20
    """Socket buffers: at 20k answers/s, 16 MiB holds about a second of answers while
    the process is busy (a snapshot, a GC pause) instead of dropping them."""


def open_socket(
    provider: int,
    kind: str,
    family: int,
    steering: Steering,
    magic: int,
    options: SocketOptions,
    rng: random.Random,
) -> ProbeSocket:
    """Opens, steers and configures one probe socket; raises ProbeSetupError."""
    v4 = family == socket.AF_INET
    pad = bytes(options.payload_pad)
    if kind == "icmp":
        proto = socket.IPPROTO_ICMP if v4 else socket.IPPROTO_ICMPV6
        s = _new(family, socket.SOCK_RAW, proto)
        ident = rng.randrange(1, 0xFFFF)
        wire.attach_filter(s, wire.icmp4_filter(ident) if v4 else wire.icmp6_filter(ident))
        ps: ProbeSocket = IcmpSocket(provider, family, steering, s, ident, magic, pad)
    elif kind == "tcp":
        s = _new(family, socket.SOCK_RAW, socket.IPPROTO_TCP)
        sport = rng.randrange(61000, 65000)
        wire.attach_filter(s, wire.tcp_filter(v4, options.tcp_port, sport))
        if not v4:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, 16)
        ps = TcpSocket(provider, family, steering, s, sport, options.tcp_port, magic)
    elif kind == "udp":
        s = _new(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        ps = UdpSocket(provider, family, steering, s, options.udp_port, magic, pad)
    else:
        raise ProbeSetupError(f"unknown probe kind {kind!r} (use icmp, tcp or udp)")
    try:
        _steer(s, steering, steering.source_for(family))
        if kind != "icmp":
            s.setsockopt(
                *((wire.SOL_IP, wire.IP_RECVERR) if v4 else (wire.SOL_IPV6, wire.IPV6_RECVERR)), 1
            )
        s.setsockopt(socket.SOL_SOCKET, wire.SO_TIMESTAMPING, wire.TIMESTAMPING_FLAGS)
        # The kernel's count of answers it had to drop for a full buffer: loss of our own making.
        s.setsockopt(socket.SOL_SOCKET, wire.SO_RXQ_OVFL, 1)
        _buffers(s, options.buffer_bytes)
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return ps
