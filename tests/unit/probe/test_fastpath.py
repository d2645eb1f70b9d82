"""The C per-packet loop (probe/_fastpath.c) without a socket: the probes it builds, what it
makes of answers (ours, foreign, malformed: a counted drop, never an error) and how it maps
the kernel's transmit stamps back to probes. Reading real sockets is in
tests/integration/probe/test_fastpath_sockets.py."""

from __future__ import annotations

import ipaddress
import socket
import struct

from hypothesis import given
from hypothesis import strategies as st

from routepilot.probe import _fastpath, wire

ICMP, TCP, UDP = _fastpath.ICMP, _fastpath.TCP, _fastpath.UDP
V4, V6 = socket.AF_INET, socket.AF_INET6
IDENT, MAGIC = 7, 99


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


def _ipv6(payload: bytes, src: str, dst: str, next_header: int = 58) -> bytes:
    return (
        struct.pack(
            "!IHBB16s16s",
            0x60000000,
            len(payload),
            next_header,
            64,
            socket.inet_pton(V6, src),
            socket.inet_pton(V6, dst),
        )
        + payload
    )


def _echo(family: int = V4, ident: int = IDENT, magic: int = MAGIC, pad: bytes = b"") -> object:
    return _fastpath.Channel(-1, ICMP, family, magic, ident=ident, pad=pad)


def _reply4(token: int, ident: int = IDENT, magic: int = MAGIC) -> bytes:
    reply = bytearray(_echo(V4, ident, magic).packet(token))
    reply[0] = 0
    return _ipv4(1, bytes(reply))


def _answer(data: bytes, family: int = V4, **kw: int) -> tuple | None:
    args = {"ident": IDENT, "sport": 61000, "dport": 80} | kw
    kind = args.pop("kind", ICMP)
    return _fastpath.parse_answer(kind, family, data, MAGIC, **args)


# --- probes --------------------------------------------------------------------------------


def test_echo_request_checksum_is_valid_and_carries_token():
    ch = _echo(V4, 0x1234, 0xDEADBEEF, b"\0" * 5)
    for token in (0, 1, 0xFFFF, 0x10000, 0xFFFFFFFF):
        pkt = ch.packet(token)
        assert len(pkt) == 21
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


def test_icmpv6_echo_request_leaves_the_checksum_to_the_kernel():
    pkt = _echo(V6).packet(42)
    assert struct.unpack("!BBHHHII", pkt) == (128, 0, 0, IDENT, 42, 42, MAGIC)


def test_tcp_syn_checksum_and_isn():
    ch = _fastpath.Channel(-1, TCP, V4, MAGIC, sport=61000, dport=80)
    pseudo = wire.tcp_pseudo_sum("100.67.0.1", "198.18.0.9")
    seg = ch.packet(0xABCDEF01, pseudo)
    assert len(seg) == 24
    assert wire.checksum_words(pseudo + sum(struct.unpack("!12H", seg))) == 0
    sport, dport, isn, ack, off, flags = struct.unpack_from("!HHIIBB", seg)
    assert (sport, dport, isn, ack, off, flags) == (61000, 80, 0xABCDEF01 + MAGIC, 0, 6 << 4, 2)
    assert seg[20:] == bytes.fromhex("020405b4")  # MSS 1460


def test_udp_payload_is_token_and_magic_then_padding():
    ch = _fastpath.Channel(-1, UDP, V4, MAGIC, dport=33434, pad=b"\0\0\0")
    assert ch.packet(0x01020304) == struct.pack("!II", 0x01020304, MAGIC) + b"\0\0\0"


# --- answers -------------------------------------------------------------------------------


def test_echo_reply_parses_only_with_our_ident_and_magic():
    pkt = _reply4(123456)
    assert _answer(pkt) == (wire.REPLY, 123456, 123456 & 0xFFFF, None, 61)
    assert _answer(_reply4(123456, ident=IDENT + 1)) is None
    assert _answer(_reply4(123456, magic=MAGIC + 1)) is None  # stale run or forged


def test_time_exceeded_quoting_only_8_bytes_gives_the_sequence():
    inner = _ipv4(1, _echo().packet(0x00050006)[:8], src="100.67.0.1", dst="198.18.3.4")
    err = _ipv4(1, struct.pack("!BBHI", 11, 0, 0, 0) + inner, src="100.66.1.2")
    assert _answer(err) == (wire.TTL_EXCEEDED, -1, 6, "198.18.3.4", 61)


def test_unreachable_quoting_the_whole_probe_gives_the_token_and_checks_the_magic():
    probe = _echo().packet(0x00050006)
    inner = _ipv4(1, probe, src="100.67.0.1", dst="198.18.3.4")
    err = _ipv4(1, struct.pack("!BBHI", 3, 1, 0, 0) + inner, src="100.66.1.2")
    assert _answer(err) == (wire.UNREACHABLE, 0x00050006, 6, "198.18.3.4", 61)
    forged = _ipv4(1, probe[:12] + struct.pack("!I", MAGIC ^ 1), dst="198.18.3.4")
    assert _answer(_ipv4(1, struct.pack("!BBHI", 3, 1, 0, 0) + forged)) is None


@given(st.integers(0, 2**32 - 1))
def test_an_ipv4_address_reads_as_python_writes_it(value: int) -> None:
    """Answers name their target in text written in C without inet_ntop: every address."""
    dst = str(ipaddress.IPv4Address(value))
    inner = _ipv4(1, _echo().packet(0x00050006)[:8], src="100.67.0.1", dst=dst)
    err = _ipv4(1, struct.pack("!BBHI", 11, 0, 0, 0) + inner, src="100.66.1.2")
    assert _answer(err) == (wire.TTL_EXCEEDED, -1, 6, dst, 61)


def test_errors_quoting_other_protocols_or_others_probes_are_not_ours():
    udp = _ipv4(17, struct.pack("!HHHH", 1, 2, 8, 0), dst="198.18.3.4")
    assert _answer(_ipv4(1, struct.pack("!BBHI", 3, 3, 0, 0) + udp)) is None
    other = bytearray(_echo(ident=IDENT + 1).packet(5))
    err = _ipv4(1, struct.pack("!BBHI", 11, 0, 0, 0) + _ipv4(1, bytes(other)))
    assert _answer(err) is None
    redirect = _ipv4(1, struct.pack("!BBHI", 5, 0, 0, 0) + _ipv4(1, _echo().packet(5)))
    assert _answer(redirect) is None


def test_icmp6_reply_and_unreachable():
    req = _echo(V6).packet(42)
    assert _answer(bytes([129]) + req[1:], V6) == (wire.REPLY, 42, 42, None, -1)
    ip6 = _ipv6(req, "2001:db8:ff67::1", "2001:db8:1003::4")
    unreach = struct.pack("!BBHI", 1, 0, 0, 0) + ip6
    assert _answer(unreach, V6) == (wire.UNREACHABLE, 42, 42, "2001:db8:1003::4", -1)
    exceeded = struct.pack("!BBHI", 3, 0, 0, 0) + ip6[:48]
    assert _answer(exceeded, V6) == (wire.TTL_EXCEEDED, -1, 42, "2001:db8:1003::4", -1)
    udp6 = _ipv6(req, "2001:db8:ff67::1", "2001:db8:1003::4", next_header=17)
    assert _answer(struct.pack("!BBHI", 1, 0, 0, 0) + udp6, V6) is None


def test_tcp_answers_match_by_ports_and_flags():
    def seg(sport: int, dport: int, ack: int, flags: int) -> bytes:
        return struct.pack("!HHIIBBHHH", sport, dport, 5, ack, 5 << 4, flags, 0, 0, 0)

    isn = 0xABCDEF01 + MAGIC
    synack = seg(80, 61000, isn + 1, 0x12)
    assert _answer(synack, V6, kind=TCP) == (wire.REPLY, 0xABCDEF01, -1, None, -1)
    assert _answer(_ipv4(6, synack), V4, kind=TCP) == (wire.REPLY, 0xABCDEF01, -1, None, 61)
    assert _answer(seg(80, 61000, isn + 1, 0x14), V6, kind=TCP)[:2] == (wire.REPLY, 0xABCDEF01)
    assert _answer(seg(443, 61000, isn + 1, 0x12), V6, kind=TCP) is None  # another port
    assert _answer(seg(80, 61001, isn + 1, 0x12), V6, kind=TCP) is None  # another prober
    assert _answer(seg(80, 61000, isn + 1, 0x02), V6, kind=TCP) is None  # no ACK
    assert _answer(seg(80, 61000, isn + 1, 0x10), V6, kind=TCP) is None  # a bare ACK


def test_whatever_a_udp_socket_receives_is_not_an_answer():
    assert _answer(struct.pack("!II", 1, MAGIC), kind=UDP) is None


def test_every_truncation_of_an_answer_is_a_drop_not_an_error():
    probe = _echo().packet(0x00050006)
    err = _ipv4(1, struct.pack("!BBHI", 3, 1, 0, 0) + _ipv4(1, probe, dst="198.18.3.4"))
    reply = _reply4(9)
    req6 = _echo(V6).packet(42)
    unreach6 = struct.pack("!BBHI", 1, 0, 0, 0) + _ipv6(req6, "2001:db8::1", "2001:db8::2")
    synack = _ipv4(6, struct.pack("!HHIIBBHHH", 80, 61000, 5, MAGIC + 2, 5 << 4, 0x12, 0, 0, 0))
    for data, family, kind, shortest in (
        (reply, V4, ICMP, 36),
        (err, V4, ICMP, 56),  # the quoted 8 bytes; the token needs 8 more
        (bytes([129]) + req6[1:], V6, ICMP, 16),
        (unreach6, V6, ICMP, 56),
        (synack, V4, TCP, 40),
    ):
        for n in range(shortest):
            assert _answer(data[:n], family, kind=kind) is None, (family, kind, n)
        assert _answer(data[:shortest], family, kind=kind) is not None


def test_an_ip_header_length_below_twenty_bytes_is_malformed():
    reply = bytearray(_reply4(9))
    reply[0] = 0x44
    assert _answer(bytes(reply)) is None
    assert _answer(bytes(reply), kind=TCP) is None


@given(st.binary(max_size=120), st.sampled_from([(V4, ICMP), (V6, ICMP), (V4, TCP), (V6, TCP)]))
def test_arbitrary_bytes_never_raise(data: bytes, case: tuple[int, int]) -> None:
    result = _answer(data, case[0], kind=case[1])
    assert result is None or len(result) == 5


def test_icmp_errors_on_the_error_queue():
    quoted_udp = struct.pack("!II", 77, MAGIC)
    assert _fastpath.parse_error(UDP, V4, quoted_udp, MAGIC, 3, 3) == (wire.REPLY, 77, -1, None, -1)
    assert _fastpath.parse_error(UDP, V4, quoted_udp, MAGIC, 11, 0)[:2] == (wire.TTL_EXCEEDED, 77)
    assert _fastpath.parse_error(UDP, V6, quoted_udp, MAGIC, 1, 4)[:2] == (wire.REPLY, 77)
    assert _fastpath.parse_error(UDP, V6, quoted_udp, MAGIC, 1, 0)[:2] == (wire.UNREACHABLE, 77)
    assert _fastpath.parse_error(UDP, V4, quoted_udp, MAGIC + 1, 3, 3) is None  # not ours
    assert _fastpath.parse_error(UDP, V4, quoted_udp[:7], MAGIC, 3, 3) is None  # truncated
    quoted_tcp = struct.pack("!HHI", 61000, 80, 500 + MAGIC)
    # A TCP probe's port unreachable is a router's or host's refusal, not an answer.
    assert _fastpath.parse_error(TCP, V4, quoted_tcp, MAGIC, 3, 3) == (
        wire.UNREACHABLE,
        500,
        -1,
        None,
        -1,
    )
    assert _fastpath.parse_error(TCP, V4, quoted_tcp[:7], MAGIC, 3, 3) is None
    assert _fastpath.parse_error(ICMP, V4, quoted_udp, MAGIC, 3, 3) is None


# --- transmit stamps -----------------------------------------------------------------------


def test_tx_stamps_realign_when_the_kernel_counter_shifts():
    ch = _echo()
    sent = [(1000 + i, 1_000_000_000_000 + i * 10_000_000) for i in range(6)]
    for token, at in sent:
        ch.record(token, at)
    # The kernel counted a packet we never saw leave (a failed send) after the third probe.
    for i, (_token, at) in enumerate(sent):
        assert ch.stamp(i if i < 3 else i + 1, at + 5_000) is True
    assert [ch.tx_ns(token) - at for token, at in sent] == [5_000] * 6


def test_a_stamp_that_fits_no_probe_is_refused_and_none_sent_is_none():
    ch = _echo()
    assert ch.stamp(0, 5) is None
    ch.record(7, 1_000_000_000_000)
    assert ch.stamp(0, 1_000_000_000_000 - 2_000) is False  # before the probe was sent
    assert ch.stamp(0, 1_000_000_000_000 + 2_000_000_000) is False  # two seconds after
    assert ch.tx_ns(7) == 0
    assert ch.stamp(0, 1_000_000_000_000 + 1_000) is True
    assert ch.tx_ns(7) == 1_000_000_000_000 + 1_000
    assert ch.tx_ns(7 + 65536) == 0  # the same ring slot, another token
