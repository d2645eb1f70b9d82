"""What an ICMP probe socket hands the engine for each answer it reads, without root.

The socket reads through a stand-in for the kernel socket, so the same bytes a raw
socket returns (IPv4 header included) reach ``IcmpSocket.drain``.
"""

from __future__ import annotations

import socket
import struct

from routepilot.probe import wire
from routepilot.probe.sockets import IcmpSocket, Steering

IDENT, MAGIC = 7, 99
TARGET = "198.18.3.4"
ROUTER = "100.66.1.2"
RX_NS = 1_700_000_000_123_456_789


def _ipv4(payload: bytes, src: str, dst: str) -> bytes:
    return (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(payload),
            0,
            0,
            61,
            1,
            0,
            socket.inet_aton(src),
            socket.inet_aton(dst),
        )
        + payload
    )


def _stamp() -> list:
    # SCM_TIMESTAMPING carries three timespecs; the first is the software stamp.
    data = struct.pack("=qq", RX_NS // 1_000_000_000, RX_NS % 1_000_000_000) + bytes(32)
    return [(socket.SOL_SOCKET, wire.SO_TIMESTAMPING, data)]


class _KernelSocket:
    """Hands out queued datagrams as recvmsg() would; the error queue stays empty."""

    def __init__(self, datagrams: list[tuple[bytes, str]]) -> None:
        self.datagrams = datagrams
        self.sent: list[tuple[bytes, tuple]] = []

    def sendto(self, packet: bytes, address: tuple) -> None:
        self.sent.append((packet, address))

    def recvmsg(self, size: int, ancsize: int, flags: int = 0) -> tuple:
        if flags & socket.MSG_ERRQUEUE or not self.datagrams:
            raise BlockingIOError
        data, sender = self.datagrams.pop(0)
        return data, _stamp(), 0, (sender, 0)


class _Sink:
    def __init__(self) -> None:
        self.answers: list[tuple] = []
        self.dropped = 0

    def answer(self, sock, token, target, rx_ns, status, responder, ttl):
        self.answers.append((token, target, rx_ns, status, responder, ttl))

    def unmatched(self, sock):
        self.dropped += 1

    def tx_stamp(self, token: int, ns: int) -> bool | None:
        return None


def _drain(datagrams: list[tuple[bytes, str]], token: int) -> _Sink:
    kernel = _KernelSocket(datagrams)
    sock = IcmpSocket(0, socket.AF_INET, Steering(), kernel, IDENT, MAGIC, b"")
    sock.send(TARGET, token)
    assert kernel.sent[0][1] == (TARGET, 0)
    sink = _Sink()
    sock.drain(sink)
    return sink


def test_echo_reply_names_its_sender_as_the_probed_address() -> None:
    token = 0x00050006
    reply = bytearray(wire.EchoBuilder(socket.AF_INET, IDENT, MAGIC).build(token))
    reply[0] = 0
    sink = _drain([(_ipv4(bytes(reply), TARGET, "100.67.0.1"), TARGET)], token)
    assert sink.answers == [(token, TARGET, RX_NS, wire.REPLY, TARGET, 61)]


def test_time_exceeded_names_the_quoted_destination_and_the_router() -> None:
    token = 0x00050006
    request = wire.EchoBuilder(socket.AF_INET, IDENT, MAGIC).build(token)
    # A router quoting only 8 bytes: the token comes from the sequence number sent.
    quoted = _ipv4(request[:8], "100.67.0.1", TARGET)
    error = _ipv4(struct.pack("!BBHI", 11, 0, 0, 0) + quoted, ROUTER, "100.67.0.1")
    sink = _drain([(error, ROUTER)], token)
    assert sink.answers == [(token, TARGET, RX_NS, wire.TTL_EXCEEDED, ROUTER, 61)]


def test_foreign_echo_reply_is_unmatched() -> None:
    reply = bytearray(wire.EchoBuilder(socket.AF_INET, IDENT + 1, MAGIC).build(1))
    reply[0] = 0
    sink = _drain([(_ipv4(bytes(reply), TARGET, "100.67.0.1"), TARGET)], 1)
    assert (sink.answers, sink.dropped) == ([], 1)
