"""Wire formats of probes and their answers, and the kernel's ancillary data.

Probes carry a 32-bit *token* that names the probe in flight, and a per-run
*magic* word so that stale answers from an earlier run, or forged ones, do not
match: ICMP echo (RFC 792, RFC 4443 §4) puts the token in the payload and its low
16 bits in the sequence number; TCP SYN (RFC 9293 §3.1) puts token + magic in
the initial sequence number, which the answer acknowledges plus one; UDP puts
token and magic in the payload, which ICMP port unreachable quotes back
(RFC 792 quotes at least 8 bytes; RFC 1812 §4.3.2.3 asks routers to quote as
much as fits, as Linux does).

Building probes and parsing answers is the per-packet loop, in C (_fastpath.c); this
module keeps the constants, the checksums and the sockets' BPF filters.
"""

from __future__ import annotations

import ctypes
import socket
import struct

# Socket options the socket module does not name (Linux x86-64 / generic values).
SO_TIMESTAMPING = 37
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
SO_ATTACH_FILTER = 26
SO_RXQ_OVFL = 40
IP_RECVERR = 11
IPV6_RECVERR = 25
IP_TTL = 2
IPV6_HOPLIMIT = 52
SOL_IP = 0
SOL_IPV6 = 41

# SO_TIMESTAMPING flags (linux/net_tstamp.h): software TX and RX stamps, a
# per-socket counter in each TX stamp (OPT_ID) and no packet copy (OPT_TSONLY).
SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_OPT_ID = 1 << 7
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
TIMESTAMPING_FLAGS = (
    SOF_TIMESTAMPING_TX_SOFTWARE
    | SOF_TIMESTAMPING_RX_SOFTWARE
    | SOF_TIMESTAMPING_SOFTWARE
    | SOF_TIMESTAMPING_OPT_ID
    | SOF_TIMESTAMPING_OPT_TSONLY
)
RX_TIMESTAMPING_FLAGS = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE

# What an answer says about its probe.
REPLY = 0
"""The target answered (echo reply, SYN/ACK or RST, port unreachable from the target)."""
UNREACHABLE = 1
"""A router on the path said the target cannot be reached."""
TTL_EXCEEDED = 2
"""A router on the path dropped the probe for its TTL (traceroute)."""
LOST = 3
"""No answer before the timeout."""
STATUS_NAMES = ("reply", "unreachable", "ttl-exceeded", "lost")


def checksum_words(total: int) -> int:
    """Folds a sum of 16-bit words into the one's complement checksum (RFC 1071)."""
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return checksum_words(sum(struct.unpack(f"!{len(data) // 2}H", data)))


def _word_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def tcp_pseudo_sum(src: str, dst: str, length: int = 24) -> int:
    """Sum of the IPv4 pseudo-header words (RFC 9293 §3.1) for a TCP segment."""
    return _word_sum(socket.inet_aton(src) + socket.inet_aton(dst)) + 6 + length


# --- classic BPF filters, so each socket wakes only for its own answers -------------------


def _bpf(*insns: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    return list(insns)


_LDX_MSH, _LDB_IND, _LDH_IND, _LDB_ABS, _LDH_ABS, _JEQ, _RET = (
    0xB1,
    0x50,
    0x48,
    0x30,
    0x28,
    0x15,
    0x06,
)
_ACCEPT = 0x40000


def icmp4_filter(ident: int) -> list[tuple[int, int, int, int]]:
    """Echo replies with our identifier, and unreachable / time exceeded messages."""
    return _bpf(
        (_LDX_MSH, 0, 0, 0),
        (_LDB_IND, 0, 0, 0),
        (_JEQ, 3, 0, 0),
        (_JEQ, 4, 0, 3),
        (_JEQ, 3, 0, 11),
        (_RET, 0, 0, 0),
        (_LDH_IND, 0, 0, 4),
        (_JEQ, 0, 1, ident),
        (_RET, 0, 0, _ACCEPT),
        (_RET, 0, 0, 0),
    )


def icmp6_filter(ident: int) -> list[tuple[int, int, int, int]]:
    return _bpf(
        (_LDB_ABS, 0, 0, 0),
        (_JEQ, 3, 0, 129),
        (_JEQ, 4, 0, 1),
        (_JEQ, 3, 0, 3),
        (_RET, 0, 0, 0),
        (_LDH_ABS, 0, 0, 4),
        (_JEQ, 0, 1, ident),
        (_RET, 0, 0, _ACCEPT),
        (_RET, 0, 0, 0),
    )


def tcp_filter(v4: bool, dport: int, sport: int) -> list[tuple[int, int, int, int]]:
    """Segments from the probed port to our source port (IPv4 raw data starts at IP)."""
    ld = _LDH_IND if v4 else _LDH_ABS
    return _bpf(
        (_LDX_MSH, 0, 0, 0),
        (ld, 0, 0, 0),
        (_JEQ, 0, 3, dport),
        (ld, 0, 0, 2),
        (_JEQ, 0, 1, sport),
        (_RET, 0, 0, _ACCEPT),
        (_RET, 0, 0, 0),
    )


def attach_filter(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    """SO_ATTACH_FILTER with a classic BPF program (struct sock_fprog)."""
    raw = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("=HxxxxxxQ", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
