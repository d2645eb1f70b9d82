"""Wire formats of probes and their answers, and the kernel's ancillary data.

Probes carry a 32-bit *token* that names the probe in flight, and a per-run
*magic* word so that stale answers from an earlier run, or forged ones, do not
match: ICMP echo (RFC 792, RFC 4443 §4) puts the token in the payload and its low
16 bits in the sequence number; TCP SYN (RFC 9293 §3.1) puts token + magic in
the initial sequence number, which the answer acknowledges plus one; UDP puts
token and magic in the payload, which ICMP port unreachable quotes back
(RFC 792 quotes at least 8 bytes; RFC 1812 §4.3.2.3 asks routers to quote as
much as fits, as Linux does).
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

# struct sock_extended_err origins (linux/errqueue.h).
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
SO_EE_ORIGIN_TIMESTAMPING = 4

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

_ee = struct.Struct("=IBBBBII")
_ts = struct.Struct("=qq")
_u32 = struct.Struct("!I")
_u32n = struct.Struct("=I")
_echo = struct.Struct("!BBHHHII")
_tcp_hdr = struct.Struct("!HHIIBBHHHI")
_hh = struct.Struct("!HH")
_ii = struct.Struct("!II")


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


class EchoBuilder:
    """Builds ICMP echo requests for one identifier; IPv4 checksums by hand (IPv6's by kernel)."""

    def __init__(self, family: int, ident: int, magic: int, pad: bytes = b"") -> None:
        self.type = 8 if family == socket.AF_INET else 128
        self.ident = ident
        self.magic = magic
        self.pad = pad
        self.v4 = family == socket.AF_INET
        self._fixed = (self.type << 8) + ident + (magic >> 16) + (magic & 0xFFFF) + _word_sum(pad)

    def build(self, token: int) -> bytes:
        seq = token & 0xFFFF
        csum = 0
        if self.v4:
            csum = checksum_words(self._fixed + seq + (token >> 16) + (token & 0xFFFF))
        return _echo.pack(self.type, 0, csum, self.ident, seq, token, self.magic) + self.pad


def tcp_syn(sport: int, dport: int, isn: int, pseudo_sum: int | None) -> bytes:
    """A SYN with an MSS option; checksummed here when ``pseudo_sum`` is given (IPv4)."""
    # 24 bytes: header (data offset 6 words) and the MSS option (RFC 9293 §3.2).
    hdr = _tcp_hdr.pack(sport, dport, isn, 0, 6 << 4, 0x02, 64240, 0, 0, 0x020405B4)
    if pseudo_sum is None:
        return hdr
    csum = checksum_words(pseudo_sum + _word_sum(hdr))
    return hdr[:16] + struct.pack("!H", csum) + hdr[18:]


def tcp_pseudo_sum(src: str, dst: str, length: int = 24) -> int:
    """Sum of the IPv4 pseudo-header words (RFC 9293 §3.1) for a TCP segment."""
    return _word_sum(socket.inet_aton(src) + socket.inet_aton(dst)) + 6 + length


def udp_payload(token: int, magic: int, pad: bytes = b"") -> bytes:
    return _ii.pack(token, magic) + pad


# --- answers -----------------------------------------------------------------------------


def parse_icmp4(data: bytes, ident: int, magic: int) -> tuple[int, int, int, str | None, int]:
    """Parses a raw IPv4 ICMP packet (IP header included).

    Returns (status, token or -1, seq or -1, quoted destination or None, ttl). For an
    error, the token comes from the quoted echo payload when quoted, else -1 and the
    caller maps the quoted sequence number.
    """
    ihl = (data[0] & 0x0F) * 4
    ttl = data[8]
    icmp_type = data[ihl]
    if icmp_type == 0:
        if len(data) < ihl + 16:
            return -1, -1, -1, None, ttl
        _, _, _, rid, seq, token, rmagic = _echo.unpack_from(data, ihl)
        if rid != ident or rmagic != magic:
            return -1, -1, -1, None, ttl
        return REPLY, token, seq, None, ttl
    if icmp_type not in (3, 11):
        return -1, -1, -1, None, ttl
    status = TTL_EXCEEDED if icmp_type == 11 else UNREACHABLE
    inner = ihl + 8
    if len(data) < inner + 20:
        return -1, -1, -1, None, ttl
    iihl = (data[inner] & 0x0F) * 4
    if data[inner + 9] != 1:
        return -1, -1, -1, None, ttl
    qdst = socket.inet_ntoa(data[inner + 16 : inner + 20])
    q = inner + iihl
    if len(data) < q + 8 or data[q] != 8:
        return -1, -1, -1, None, ttl
    rid, seq = _hh.unpack_from(data, q + 4)
    if rid != ident:
        return -1, -1, -1, None, ttl
    token = -1
    if len(data) >= q + 16:
        token, rmagic = _ii.unpack_from(data, q + 8)
        if rmagic != magic:
            return -1, -1, -1, None, ttl
    return status, token, seq, qdst, ttl


def parse_icmp6(data: bytes, ident: int, magic: int) -> tuple[int, int, int, str | None, int]:
    """Parses a raw ICMPv6 message (no IPv6 header); same result as :func:`parse_icmp4`."""
    if len(data) < 8:
        return -1, -1, -1, None, -1
    icmp_type = data[0]
    if icmp_type == 129:
        if len(data) < 16:
            return -1, -1, -1, None, -1
        _, _, _, rid, seq, token, rmagic = _echo.unpack_from(data, 0)
        if rid != ident or rmagic != magic:
            return -1, -1, -1, None, -1
        return REPLY, token, seq, None, -1
    if icmp_type not in (1, 3):
        return -1, -1, -1, None, -1
    status = TTL_EXCEEDED if icmp_type == 3 else UNREACHABLE
    # The invoking packet follows: a 40-byte IPv6 header, then (without extension
    # headers, which probes never carry) the echo request.
    if len(data) < 8 + 40 + 8 or data[8 + 6] != 58:
        return -1, -1, -1, None, -1
    qdst = socket.inet_ntop(socket.AF_INET6, data[8 + 24 : 8 + 40])
    q = 48
    if data[q] != 128:
        return -1, -1, -1, None, -1
    rid, seq = _hh.unpack_from(data, q + 4)
    if rid != ident:
        return -1, -1, -1, None, -1
    token = -1
    if len(data) >= q + 16:
        token, rmagic = _ii.unpack_from(data, q + 8)
        if rmagic != magic:
            return -1, -1, -1, None, -1
    return status, token, seq, qdst, -1


def parse_tcp(data: bytes, offset: int, sport: int, dport: int) -> tuple[int, int]:
    """Parses a TCP segment answering a SYN: (acknowledged ISN, ttl-less status) or (-1, -1)."""
    if len(data) < offset + 20:
        return -1, -1
    src, dst, _seq, ack, _off, flags = struct.unpack_from("!HHIIBB", data, offset)
    if src != dport or dst != sport or not flags & 0x10:
        return -1, -1
    if flags & 0x12 == 0x12 or flags & 0x04:
        return (ack - 1) & 0xFFFFFFFF, REPLY
    return -1, -1


def read_timestamp(ancdata: list) -> int:
    """The software timestamp (ns since the epoch) in SCM_TIMESTAMPING, or 0."""
    for level, ctype, cdata in ancdata:
        if level == socket.SOL_SOCKET and ctype == SO_TIMESTAMPING and len(cdata) >= 16:
            sec, nsec = _ts.unpack_from(cdata, 0)
            return sec * 1_000_000_000 + nsec
    return 0


def read_drops(ancdata: list) -> int:
    """The socket's drop count in SO_RXQ_OVFL ancillary data (answers the kernel discarded
    because the receive buffer was full, since the socket opened), or -1 when absent (the
    kernel adds it only once there has been a drop)."""
    for level, ctype, cdata in ancdata:
        if level == socket.SOL_SOCKET and ctype == SO_RXQ_OVFL and len(cdata) >= 4:
            return _u32n.unpack_from(cdata, 0)[0]
    return -1


ExtendedError = tuple[int, int, int, int, str | None]
"""A sock_extended_err: (origin, ICMP type, ICMP code, data, offender address or None)."""


def read_extended_error(ancdata: list) -> ExtendedError | None:
    """The sock_extended_err in IP_RECVERR/IPV6_RECVERR: (origin, type, code, data, offender)."""
    for level, ctype, cdata in ancdata:
        if (level, ctype) in ((SOL_IP, IP_RECVERR), (SOL_IPV6, IPV6_RECVERR)):
            if len(cdata) < 16:
                return None
            _errno, origin, etype, code, _pad, _info, edata = _ee.unpack_from(cdata, 0)
            offender = None
            if origin in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6) and len(cdata) >= 24:
                fam = struct.unpack_from("=H", cdata, 16)[0]
                if fam == socket.AF_INET:
                    offender = socket.inet_ntoa(cdata[20:24])
                elif fam == socket.AF_INET6 and len(cdata) >= 40:
                    offender = socket.inet_ntop(socket.AF_INET6, cdata[24:40])
            return origin, etype, code, edata, offender
    return None


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


def u32(data: bytes, offset: int) -> int:
    return _u32.unpack_from(data, offset)[0]
