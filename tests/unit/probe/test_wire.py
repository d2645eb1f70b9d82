"""Probe packets: checksums, tokens, and parsing of answers and quoted errors."""

from __future__ import annotations

import socket
import struct

from routepilot.probe import wire


def _ipv4(proto: int, payload: bytes, src: str = "198.18.0.1", dst: str = "100.67.0.1") -> bytes:
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        0,
        0,
        61,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    return hdr + payload


def test_echo_request_checksum_is_valid_and_carries_token():
    b = wire.EchoBuilder(socket.AF_INET, ident=0x1234, magic=0xDEADBEEF, pad=b"\0" * 5)
    for token in (0, 1, 0xFFFF, 0x10000, 0xFFFFFFFF):
        pkt = b.build(token)
        assert wire.checksum(pkt) == 0
        typ, code, _, ident, seq, tok, magic = struct.unpack_from("!BBHHHII", pkt)
        assert (typ, code, ident, seq, tok, magic) == (
            8,
            0,
            0x1234,
            token & 0xFFFF,
            token,
            0xDEADBEEF,
        )


def test_echo_reply_parses_only_with_our_ident_and_magic():
    b = wire.EchoBuilder(socket.AF_INET, 7, 99)
    reply = bytearray(b.build(123456))
    reply[0] = 0
    pkt = _ipv4(1, bytes(reply))
    assert wire.parse_icmp4(pkt, 7, 99) == (wire.REPLY, 123456, 123456 & 0xFFFF, None, 61)
    assert wire.parse_icmp4(pkt, 8, 99)[0] == -1
    assert wire.parse_icmp4(pkt, 7, 98)[0] == -1  # stale run or forged


def test_time_exceeded_quoting_only_8_bytes_gives_the_sequence():
    b = wire.EchoBuilder(socket.AF_INET, 7, 99)
    inner = _ipv4(1, b.build(0x00050006)[:8], src="100.67.0.1", dst="198.18.3.4")
    err = _ipv4(1, struct.pack("!BBHI", 11, 0, 0, 0) + inner, src="100.66.1.2")
    status, token, seq, qdst, _ = wire.parse_icmp4(err, 7, 99)
    assert (status, token, seq, qdst) == (wire.TTL_EXCEEDED, -1, 6, "198.18.3.4")


def test_icmp6_reply_and_unreachable():
    b = wire.EchoBuilder(socket.AF_INET6, 7, 99)
    req = b.build(42)
    reply = bytes([129]) + req[1:]
    assert wire.parse_icmp6(reply, 7, 99)[:3] == (wire.REPLY, 42, 42)
    ip6 = struct.pack(
        "!IHBB16s16s",
        0x60000000,
        len(req),
        58,
        64,
        socket.inet_pton(socket.AF_INET6, "2001:db8:ff67::1"),
        socket.inet_pton(socket.AF_INET6, "2001:db8:1003::4"),
    )
    unreach = struct.pack("!BBHI", 1, 0, 0, 0) + ip6 + req
    assert wire.parse_icmp6(unreach, 7, 99)[:4] == (wire.UNREACHABLE, 42, 42, "2001:db8:1003::4")


def test_tcp_syn_checksum_and_answer_matching():
    pseudo = wire.tcp_pseudo_sum("100.67.0.1", "198.18.0.9")
    seg = wire.tcp_syn(61000, 80, 0xABCDEF01, pseudo)
    assert len(seg) == 24
    assert wire.checksum_words(pseudo + sum(struct.unpack("!12H", seg))) == 0
    synack = struct.pack("!HHIIBBHHH", 80, 61000, 5, 0xABCDEF02, 5 << 4, 0x12, 0, 0, 0)
    assert wire.parse_tcp(synack, 0, 61000, 80) == (0xABCDEF01, wire.REPLY)
    rst = struct.pack("!HHIIBBHHH", 80, 61000, 0, 0xABCDEF02, 5 << 4, 0x14, 0, 0, 0)
    assert wire.parse_tcp(rst, 0, 61000, 80) == (0xABCDEF01, wire.REPLY)
    other_port = struct.pack("!HHIIBBHHH", 443, 61000, 0, 1, 5 << 4, 0x12, 0, 0, 0)
    assert wire.parse_tcp(other_port, 0, 61000, 80) == (-1, -1)


def test_bpf_programs_jump_inside_the_program():
    for prog in (wire.icmp4_filter(5), wire.icmp6_filter(5), wire.tcp_filter(True, 80, 61000)):
        for pc, (code, jt, jf, _k) in enumerate(prog):
            if code == 0x15:
                assert pc + 1 + max(jt, jf) < len(prog)
        assert prog[-1][0] == 0x06


def test_extended_error_parsing():
    ee = struct.pack("=IBBBBII", 111, wire.SO_EE_ORIGIN_ICMP, 3, 3, 0, 0, 0)
    sin = struct.pack("=HH4s8x", socket.AF_INET, 0, socket.inet_aton("198.18.0.9"))
    anc = [(wire.SOL_IP, wire.IP_RECVERR, ee + sin)]
    assert wire.read_extended_error(anc) == (wire.SO_EE_ORIGIN_ICMP, 3, 3, 0, "198.18.0.9")
    ts = [(socket.SOL_SOCKET, wire.SO_TIMESTAMPING, struct.pack("=qq", 12, 345) + bytes(32))]
    assert wire.read_timestamp(ts) == 12_000_000_345
    assert wire.read_timestamp([]) == 0
