"""Kernel sockets that send probes through one provider and read their answers.

One socket per (provider, kind, address family). Each is steered by source
address (bind), socket mark (SO_MARK) and/or interface (SO_BINDTODEVICE), asks
the kernel for software timestamps on receive and on transmit (SO_TIMESTAMPING;
transmit stamps come back on the error queue, numbered by OPT_ID), and carries a
BPF filter so that it wakes only for answers that can be its own.

ICMP and TCP use raw sockets (CAP_NET_RAW), UDP an ordinary datagram socket whose
ICMP errors arrive on the error queue (IP_RECVERR).

The per-packet work (building and sending probes, reading answers and stamps, parsing
them) is C: ``_fastpath.Channel``, one per socket (see _fastpath.c); this module opens,
steers and configures the sockets, and hands the engine each batch of answers.
"""

from __future__ import annotations

import errno
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from routepilot.probe import _fastpath, wire

KINDS = ("icmp", "tcp", "udp")


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

    matching: tuple[dict, int, tuple[int, ...]] | None
    """(its probes in flight by token, the timeout in ns, the read-delay histogram's
    bounds in ns) when the socket may settle the common answers itself and hand them to
    :meth:`matched`; None: every answer goes to :meth:`answers`."""

    def matched(
        self, sock: ProbeSocket, matched: list[tuple], delay_counts: list[int], delay_sum: int
    ) -> None:
        """Replies the socket settled itself: (probe, rtt_ns, ttl) each, gone from the probes
        in flight; how long they waited to be read, counted over the bounds and summed (ns)."""

    def answers(self, sock: ProbeSocket, answers: list[Answer]) -> None:
        """Answers that can be this socket's probes, as :meth:`ProbeSocket.drain` reads them."""

    def answer(
        self,
        sock: ProbeSocket,
        token: int,
        target: str,
        rx_ns: int,
        status: int,
        responder: str,
        ttl: int,
        tx_ns: int = 0,
    ) -> None:
        """One answer (what :meth:`answers` takes for each, for sockets without a batch)."""

    def unmatched(self, sock: ProbeSocket, n: int = 1) -> None:
        """``n`` datagrams that were malformed or not ours."""

    def socket_drops(self, sock: ProbeSocket, n: int) -> None:
        """The kernel discarded ``n`` answers for this socket (its receive buffer was full)."""

    def tx_stamps(self, n: int) -> None:
        """``n`` kernel transmit stamps were taken."""


Answer = tuple[int, str, int, int, str, int, int]
"""(token, target, rx_ns, status, responder, ttl, tx_ns): one answer as a socket reads it,
with the kernel's receive stamp and its probe's transmit stamp (0 when missing)."""


def family_of(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


class ProbeSocket:
    """One kernel socket and its :class:`~routepilot.probe._fastpath.Channel`, which builds
    and sends the probes and reads the answers and the kernel's stamps, in C."""

    kind = ""
    send_run: Callable[..., tuple[int, int, int, list[tuple[str, int]]]] | None = None
    """The channel's ``send_run`` when :meth:`send` is the channel's own (ICMP, UDP): the
    engine sends each run of probes through this socket with it, in one call."""

    def __init__(
        self,
        provider: int,
        family: int,
        steering: Steering,
        sock: socket.socket,
        channel: _fastpath.Channel,
    ) -> None:
        self.provider = provider
        self.family = family
        self.steering = steering
        self.sock = sock
        self.channel = channel
        self.source = steering.source_for(family)
        if type(self).send is ProbeSocket.send:
            # The channel's own send, called by the engine with no Python frame between (once
            # per probe); a socket that adds to it (TCP's pseudo-header) keeps its method.
            self.send = channel.send  # type: ignore[method-assign]
            self.send_run = channel.send_run

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def send(self, target: str, token: int, tx_user_ns: int, ttl: int | None = None) -> None:
        """Sends one probe; ``tx_user_ns`` is the engine's clock, which its kernel transmit
        stamp must fit. Raises OSError when the kernel refuses it."""
        self.channel.send(target, token, tx_user_ns, ttl)

    def drain(self, sink: AnswerSink) -> bool:
        """Reads answers waiting on the socket, at most a batch of each queue; True when more
        may be waiting (a batch limit was reached)."""
        matching = sink.matching
        if matching is None:
            answers, unmatched, drops, stamps, more = self.channel.drain()
            matched = None
        else:
            inflight, timeout_ns, bounds = matching
            matched, counts, delay_sum, answers, unmatched, drops, stamps, more = (
                self.channel.drain_into(inflight, self, timeout_ns, bounds)
            )
        if stamps:
            sink.tx_stamps(stamps)
        if matched:
            sink.matched(self, matched, counts, delay_sum)
        if answers:
            sink.answers(self, answers)
        if unmatched:
            sink.unmatched(self, unmatched)
        if drops:
            sink.socket_drops(self, drops)
        return more


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
        channel = _fastpath.Channel(
            sock.fileno(), _fastpath.ICMP, family, magic, ident=ident, pad=pad
        )
        super().__init__(provider, family, steering, sock, channel)
        self.ident = ident
        self.magic = magic


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
        channel = _fastpath.Channel(
            sock.fileno(), _fastpath.TCP, family, magic, sport=sport, dport=dport
        )
        super().__init__(provider, family, steering, sock, channel)
        self.sport = sport
        self.dport = dport
        self.magic = magic
        self._pseudo: dict[str, int] = {}

    def _pseudo_sum(self, target: str) -> int:
        """The IPv4 pseudo-header's word sum toward ``target`` (-1 for IPv6, whose checksum
        the kernel fills in: IPV6_CHECKSUM)."""
        if self.family == socket.AF_INET6:
            return -1
        s = self._pseudo.get(target)
        if s is None:
            src = self.source or route_source(target, self.steering)
            s = wire.tcp_pseudo_sum(src, target)
            if len(self._pseudo) > 100_000:
                self._pseudo.clear()
            self._pseudo[target] = s
        return s

    def send(self, target: str, token: int, tx_user_ns: int, ttl: int | None = None) -> None:
        pseudo = self._pseudo_sum(target)
        self.channel.send(target, token, tx_user_ns, ttl, pseudo)


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
        channel = _fastpath.Channel(
            sock.fileno(), _fastpath.UDP, family, magic, dport=dport, pad=pad
        )
        super().__init__(provider, family, steering, sock, channel)
        self.dport = dport
        self.magic = magic


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
