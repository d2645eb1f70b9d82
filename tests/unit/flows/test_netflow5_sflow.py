"""NetFlow v5 and sFlow v5 decoding."""

from __future__ import annotations

import struct

import numpy as np
from tests import flowenc as encode

from routepilot.flows.sflow import parse_packet_header

from .helpers import decoder, ip4


def _v5(n: int, sampling: int = 0) -> bytes:
    rec = np.zeros(n, dtype=encode.V5_DTYPE)
    rec["dst"] = [ip4(f"198.18.0.{i + 1}") for i in range(n)]
    rec["bytes"] = np.arange(1, n + 1) * 100
    rec["packets"] = 1
    rec["output"] = 3
    rec["nexthop"] = ip4("100.64.0.9")
    return encode.v5_packet(rec, sampling)


def test_v5_records_and_header_sampling():
    d = decoder()
    d.feed(_v5(3, sampling=(1 << 14) | 50), "192.0.2.1", 0)
    b = d.flush()
    assert b.bytes.tolist() == [100, 200, 300]
    assert b.out_if.tolist() == [3, 3, 3]
    assert b.nh4.tolist() == [ip4("100.64.0.9")] * 3
    assert b.sampling.tolist() == [50] * 3


def test_v5_bad_counts_and_truncation():
    d = decoder()
    d.feed(_v5(3)[:-1], "x", 0)
    d.feed(struct.pack(">HH", 5, 0) + b"\0" * 20, "x", 0)
    d.feed(struct.pack(">HH", 5, 31) + b"\0" * 20, "x", 0)
    d.feed(b"\x00\x05\x00\x01", "x", 0)
    assert d.metrics.drops == {"truncated_records": 1, "bad_record_count": 2, "truncated_header": 1}
    assert len(d.flush()) == 0


def test_sflow_flow_sample_with_vlan_tagged_ethernet():
    frame = encode.ethernet_ipv4(ip4("198.18.3.4"), vlan=100)
    sample = encode.sflow_flow_sample(
        512, 7, [(1, encode.sflow_raw_header(frame, frame_length=1518))]
    )
    d = decoder()
    d.feed(encode.sflow_datagram(ip4("100.64.0.1"), [sample]), "100.64.0.1", 0)
    b = d.flush()
    assert b.dst4.tolist() == [ip4("198.18.3.4")]
    assert b.bytes.tolist() == [1518]
    assert b.packets.tolist() == [1]
    assert b.sampling.tolist() == [512]
    assert b.out_if.tolist() == [7]


def test_sflow_gateway_next_hop_and_ipv6_header():
    ip6 = bytes([0x60]) + b"\0" * 7 + b"\x20\x01\x0d\xb8" + b"\0" * 12
    ip6 += b"\x20\x01\x0d\xb8\x00\x07" + b"\0" * 10
    gateway = struct.pack(">II", 1, ip4("100.64.0.2")) + b"\0" * 16
    sample = encode.sflow_flow_sample(
        10, 1, [(1, encode.sflow_raw_header(ip6, 800, protocol=12)), (1003, gateway)]
    )
    d = decoder()
    d.feed(encode.sflow_datagram(1, [sample]), "x", 0)
    b = d.flush()
    assert b.family.tolist() == [6]
    assert b.dst6_hi.tolist() == [0x20010DB800070000]
    assert b.nh4.tolist() == [ip4("100.64.0.2")]


def test_sflow_counter_samples_are_kept_as_interface_counters():
    generic = struct.pack(
        ">IIQIIQIIIIIIQIIIIII", 5, 6, 10**9, 1, 3, 1000, 10, 0, 0, 0, 0, 0, 2000, 20, 0, 0, 0, 0, 0
    )
    body = struct.pack(">II", 1, 0) + struct.pack(">I", 1) + struct.pack(">II", 1, len(generic))
    body += generic
    sample = struct.pack(">II", 2, len(body)) + body
    d = decoder()
    d.feed(encode.sflow_datagram(1, [sample]), "x", 0)
    d.flush()  # samples are decoded in bulk, a batch at a time
    c = d.sflow.interface_counters[(0, 5)]
    assert (c.in_octets, c.out_octets, c.if_speed) == (1000, 2000, 10**9)


def test_sflow_malformed_samples_are_counted():
    frame = encode.ethernet_ipv4(ip4("198.18.3.4"))
    good = encode.sflow_flow_sample(1, 1, [(1, encode.sflow_raw_header(frame))])
    d = decoder()
    d.feed(encode.sflow_datagram(1, [good])[:-10], "x", 0)
    d.feed(struct.pack(">III", 5, 9, 0), "x", 0)
    d.feed(encode.sflow_datagram(1, [good[:8] + b"\0" * 4]), "x", 0)
    assert len(d.flush()) == 0
    assert sum(d.metrics.drops.values()) == 3


def test_packet_header_parser_rejects_non_ip():
    assert parse_packet_header(1, memoryview(b"\0" * 12 + b"\x08\x06" + b"\0" * 28)) is None
    assert parse_packet_header(1, memoryview(b"\0" * 10)) is None
    assert parse_packet_header(11, memoryview(b"\x45" + b"\0" * 10)) is None


def test_sflow_expanded_flow_sample_and_sampled_ipv4_record():
    ipv4_data = struct.pack(">IIIIIIII", 1400, 17, ip4("100.64.0.1"), ip4("198.18.8.8"), 1, 2, 0, 0)
    body = struct.pack(">IIIIIIIIIII", 1, 0, 3, 256, 0, 0, 0, 9, 0, 21, 1)
    body += struct.pack(">II", 3, len(ipv4_data)) + ipv4_data
    sample = struct.pack(">II", 3, len(body)) + body
    d = decoder()
    d.feed(encode.sflow_datagram(1, [sample]), "x", 0)
    b = d.flush()
    assert b.dst4.tolist() == [ip4("198.18.8.8")]
    assert b.bytes.tolist() == [1400]
    assert b.sampling.tolist() == [256]
    assert b.out_if.tolist() == [21]


def test_sflow_enterprise_samples_are_skipped():
    other = struct.pack(">II", (4413 << 12) | 1, 8) + b"\0" * 8
    frame = encode.ethernet_ipv4(ip4("198.18.3.4"))
    good = encode.sflow_flow_sample(2, 1, [(1, encode.sflow_raw_header(frame))])
    d = decoder()
    d.feed(encode.sflow_datagram(1, [other, good]), "x", 0)
    assert len(d.flush()) == 1
    assert d.metrics.drops == {}


def test_sflow_datagram_sequence_gaps():
    d = decoder()
    for seq in (1, 2, 5):
        d.feed(encode.sflow_datagram(1, [], seq=seq), "x", 0)
    d.flush()
    d.finish()  # a gap is loss once no late datagram can fill it any more
    assert d.metrics.sequence_gaps == {"sflow": 2}


def test_sflow_batch_of_mixed_samples_keeps_arrival_order():
    """Samples of many datagrams are decoded together: each keeps its own values and
    its place, whatever the other samples of the batch look like."""

    def qinq(dst: int) -> bytes:  # 802.1ad outer tag, 802.1Q inner tag, then IPv4
        frame = encode.ethernet_ipv4(dst, vlan=7)
        return frame[:12] + struct.pack(">HH", 0x88A8, 100) + frame[12:]

    ip6 = bytes([0x60]) + b"\0" * 23 + b"\x20\x01\x0d\xb8\x00\x09" + b"\0" * 10
    eth6 = b"\x02" * 12 + struct.pack(">HH", 0x8100, 5) + b"\x86\xdd" + ip6
    counters = struct.pack(">II", 2, 12) + struct.pack(">III", 0, 0, 0)
    other = struct.pack(">II", (4413 << 12) | 1, 4) + b"\0" * 4
    datagrams = []
    expected = []
    for i in range(40):
        samples = [
            encode.sflow_flow_sample(
                100 + i, i, [(1, encode.sflow_raw_header(qinq(ip4(f"198.18.{i}.1")), 64))]
            )
        ]
        expected.append((4, ip4(f"198.18.{i}.1"), 100 + i, i))
        if i % 3 == 0:
            samples.append(counters)
        if i % 4 == 0:
            samples.append(other)
        samples.append(encode.sflow_flow_sample(
            7, 1, [(1, encode.sflow_raw_header(eth6, 90))]))  # fmt: skip
        expected.append((6, 0x20010DB800090000, 7, 1))
        datagrams.append(encode.sflow_datagram(ip4("100.64.0.1"), samples, seq=i))
    d = decoder()
    for dg in datagrams:
        d.feed(dg, "100.64.0.1", 0)
    b = d.flush()
    got = [
        (int(f), int(v4 if f == 4 else v6), int(r), int(o))
        for f, v4, v6, r, o in zip(b.family, b.dst4, b.dst6_hi, b.sampling, b.out_if, strict=True)
    ]
    assert got == expected  # fmt: skip
    assert d.metrics.drops == {}
    assert d.metrics.records["sflow"] == 80


def test_sflow_datagrams_dropped_whole_do_not_shift_the_others():
    frame = encode.ethernet_ipv4(ip4("198.18.3.4"))
    sample = encode.sflow_flow_sample(8, 2, [(1, encode.sflow_raw_header(frame, 200))])
    good = encode.sflow_datagram(ip4("100.64.0.1"), [sample, sample], seq=1)
    d = decoder()
    d.feed(struct.pack(">III", 5, 9, 0) + b"\0" * 40, "x", 0)  # bad agent address type
    d.feed(encode.sflow_datagram(ip4("100.64.0.1"), [sample], seq=2)[:-4], "x", 0)  # cut
    d.feed(good, "x", 0)
    d.feed(encode.sflow_datagram(ip4("100.64.0.1"), [sample] * 3, seq=3), "x", 0)
    b = d.flush()
    assert b.bytes.tolist() == [200] * 5
    assert d.metrics.drops == {"sflow_bad_address_type": 1, "sflow_truncated_sample": 1}
