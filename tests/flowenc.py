"""Builds export datagrams: the fake exporter for the tests and the benchmark.

The counterpart of the decoders, kept deliberately plain (``struct`` and numpy
record arrays) so that a test reads like the RFC's wire layout. Not used by
the collector itself.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence

import numpy as np

# A typical router template: destination, next-hop, interfaces, counters.
IPV4_FIELDS: tuple[tuple[int, int], ...] = (
    (8, 4),  # sourceIPv4Address
    (12, 4),  # destinationIPv4Address
    (18, 4),  # bgpNextHopIPv4Address
    (10, 4),  # ingressInterface
    (14, 4),  # egressInterface
    (1, 8),  # octetDeltaCount
    (2, 8),  # packetDeltaCount
    (4, 1),  # protocolIdentifier
    (7, 2),  # sourceTransportPort
    (11, 2),  # destinationTransportPort
)
IPV6_FIELDS: tuple[tuple[int, int], ...] = (
    (27, 16),  # sourceIPv6Address
    (28, 16),  # destinationIPv6Address
    (63, 16),  # bgpNextHopIPv6Address
    (10, 4),
    (14, 4),
    (1, 8),
    (2, 8),
    (4, 1),
)


def record_dtype(fields: Sequence[tuple[int, int]]) -> np.dtype:
    """A packed big-endian dtype for a template's records (16-byte fields as two halves)."""
    names: list[str] = []
    formats: list[str] = []
    for ie, length in fields:
        if length == 16:
            names += [f"ie{ie}_hi", f"ie{ie}_lo"]
            formats += [">u8", ">u8"]
        elif length in (1, 2, 4, 8):
            names.append(f"ie{ie}")
            formats.append(f">u{length}")
        else:
            names.append(f"ie{ie}")
            formats.append(f"V{length}")
    return np.dtype({"names": names, "formats": formats})


def template_record(tid: int, fields: Sequence[tuple[int, int]]) -> bytes:
    out = struct.pack(">HH", tid, len(fields))
    for ie, length in fields:
        out += struct.pack(">HH", ie, length)
    return out


def options_template_ipfix(tid: int, scope: Sequence[tuple[int, int]],
                           options: Sequence[tuple[int, int]]) -> bytes:  # fmt: skip
    out = struct.pack(">HHH", tid, len(scope) + len(options), len(scope))
    for ie, length in (*scope, *options):
        out += struct.pack(">HH", ie, length)
    return out


def options_template_v9(tid: int, scope: Sequence[tuple[int, int]],
                        options: Sequence[tuple[int, int]]) -> bytes:  # fmt: skip
    out = struct.pack(">HHH", tid, 4 * len(scope), 4 * len(options))
    for ie, length in (*scope, *options):
        out += struct.pack(">HH", ie, length)
    return out


def flow_set(set_id: int, body: bytes, pad_to: int = 4) -> bytes:
    pad = (-(len(body) + 4)) % pad_to
    return struct.pack(">HH", set_id, len(body) + 4 + pad) + body + b"\0" * pad


def ipfix_message(domain: int, sets: Sequence[bytes], seq: int = 0, export_time: int = 0) -> bytes:
    body = b"".join(sets)
    return struct.pack(">HHIII", 10, 16 + len(body), export_time, seq, domain) + body


def v9_packet(source_id: int, sets: Sequence[bytes], count: int, seq: int = 0,
              uptime_ms: int = 0) -> bytes:  # fmt: skip
    return struct.pack(">HHIIII", 9, count, uptime_ms, 0, seq, source_id) + b"".join(sets)


def v5_packet(records: np.ndarray, sampling: int = 0, seq: int = 0, uptime_ms: int = 0) -> bytes:
    """``records`` uses :data:`V5_DTYPE`."""
    header = struct.pack(">HHIIIIBBH", 5, len(records), uptime_ms, 0, 0, seq, 0, 0, sampling)
    return header + records.tobytes()


V5_DTYPE = np.dtype(
    [("src", ">u4"), ("dst", ">u4"), ("nexthop", ">u4"), ("input", ">u2"), ("output", ">u2"),
     ("packets", ">u4"), ("bytes", ">u4"), ("first", ">u4"), ("last", ">u4"), ("sport", ">u2"),
     ("dport", ">u2"), ("pad1", "u1"), ("flags", "u1"), ("proto", "u1"), ("tos", "u1"),
     ("src_as", ">u2"), ("dst_as", ">u2"), ("src_mask", "u1"), ("dst_mask", "u1"),
     ("pad2", ">u2")]
)  # fmt: skip


def sflow_datagram(agent: int, samples: Sequence[bytes], seq: int = 0) -> bytes:
    """sFlow v5 datagram from an IPv4 agent (sflow_version_5.txt, ``sample_datagram_v5``)."""
    head = struct.pack(">IIIIIII", 5, 1, agent, 0, seq, 0, len(samples))
    return head + b"".join(samples)


def sflow_flow_sample(rate: int, output: int, records: Sequence[tuple[int, bytes]],
                      seq: int = 0) -> bytes:  # fmt: skip
    body = struct.pack(">IIIIIIII", seq, 0, rate, 0, 0, 0, output, len(records))
    for fmt, data in records:
        body += struct.pack(">II", fmt, len(data)) + data
    return struct.pack(">II", 1, len(body)) + body


def sflow_raw_header(frame: bytes, frame_length: int | None = None, protocol: int = 1) -> bytes:
    """A raw packet header flow record (format 1), padded to 4 bytes."""
    pad = b"\0" * ((-len(frame)) % 4)
    length = frame_length if frame_length is not None else len(frame) + 4
    return struct.pack(">IIII", protocol, length, 4, len(frame)) + frame + pad


def ethernet_ipv4(dst: int, total_length: int = 100, vlan: int | None = None) -> bytes:
    """An Ethernet frame start carrying an IPv4 header to ``dst`` (enough for sFlow)."""
    eth = b"\x02" * 6 + b"\x04" * 6
    if vlan is not None:
        eth += struct.pack(">HH", 0x8100, vlan)
    eth += b"\x08\x00"
    ip = struct.pack(">BBHHHBBHII", 0x45, 0, total_length, 0, 0, 64, 17, 0, 0xC6120001, dst)
    return eth + ip + b"\0" * 8


def synthetic_records(n: int, prefixes: int, seed: int = 1) -> np.ndarray:
    """``n`` IPv4 records (:data:`IPV4_FIELDS`) to ``prefixes`` /24s in 198.18.0.0/15,
    heavy-tailed (Zipf) like real traffic, next-hops 100.64.0.1..4, egress 1..4."""
    rng = np.random.default_rng(seed)
    rec = np.zeros(n, dtype=record_dtype(IPV4_FIELDS))
    rank = np.minimum(rng.zipf(1.3, n), prefixes) - 1
    rec["ie8"] = 0x64400000 + rng.integers(0, 1 << 16, n)
    rec["ie12"] = 0xC6120000 + ((rank % 512) << 8) + rng.integers(1, 255, n)
    provider = rng.integers(0, 4, n)
    rec["ie18"] = 0x64400001 + provider
    rec["ie10"] = 10
    rec["ie14"] = 1 + provider
    rec["ie2"] = rng.integers(1, 100, n)
    rec["ie1"] = rec["ie2"] * rng.integers(60, 1500, n)
    rec["ie4"] = 6
    rec["ie7"] = rng.integers(1024, 65535, n)
    rec["ie11"] = 443
    return rec


def ipfix_stream(records: np.ndarray, fields: Sequence[tuple[int, int]], tid: int = 256,
                 domain: int = 1, mtu: int = 1400, template_every: int = 1000
                 ) -> Iterator[bytes]:  # fmt: skip
    """IPFIX messages carrying ``records``, the template resent every ``template_every``."""
    per = (mtu - 16 - 4) // records.dtype.itemsize
    tset = flow_set(2, template_record(tid, fields))
    for i, start in enumerate(range(0, len(records), per)):
        chunk = records[start : start + per]
        sets = [flow_set(tid, chunk.tobytes(), pad_to=1)]
        if i % template_every == 0:
            sets.insert(0, tset)
        yield ipfix_message(domain, sets, seq=start)


def v9_stream(records: np.ndarray, fields: Sequence[tuple[int, int]], tid: int = 256,
              source_id: int = 1, mtu: int = 1400, template_every: int = 1000
              ) -> Iterator[bytes]:  # fmt: skip
    """NetFlow v9 packets carrying ``records``, the template resent every ``template_every``."""
    per = (mtu - 20 - 4) // records.dtype.itemsize
    tset = flow_set(0, template_record(tid, fields))
    for i, start in enumerate(range(0, len(records), per)):
        chunk = records[start : start + per]
        sets = [flow_set(tid, chunk.tobytes())]
        count = len(chunk)
        if i % template_every == 0:
            sets.insert(0, tset)
            count += 1
        yield v9_packet(source_id, sets, count, seq=i)


def write_pcap(path: str, datagrams: Sequence[bytes] | Iterator[bytes], src: int = 0x7F000001,
               dst_port: int = 4739) -> int:  # fmt: skip
    """Writes datagrams as Ethernet/IPv4/UDP frames in a classic pcap."""
    count = 0
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, payload in enumerate(datagrams):
            udp = struct.pack(">HHHH", 40000, dst_port, 8 + len(payload), 0)
            ip = struct.pack(">BBHHHBBHII", 0x45, 0, 28 + len(payload), i & 0xFFFF, 0, 64, 17, 0,
                             src, 0x7F000001)  # fmt: skip
            frame = eth + ip + udp + payload
            f.write(struct.pack("<IIII", i // 1000, (i % 1000) * 1000, len(frame), len(frame)))
            f.write(frame)
            count += 1
    return count


JUNK_KINDS = ("random", "netflow9", "ipfix", "sflow", "netflow5")


def junk_datagrams(count: int, seed: int = 0) -> list[bytes]:
    """What an attacker on the flow port sends: random bytes, and NetFlow v9, IPFIX,
    sFlow v5 and NetFlow v5 headers followed by random bytes, the kinds in turn. Each
    header names its own observation domain (source id, domain id, agent address,
    engine): ``count // 5`` distinct ones of each format."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        kind = JUNK_KINDS[i % len(JUNK_KINDS)]
        domain = 1 + i // len(JUNK_KINDS)
        size = int(rng.integers(24, 1400))
        seq, clock, n = (int(x) for x in rng.integers(0, 1 << 16, 3))
        if kind == "netflow9":
            head = struct.pack(">HHIIII", 9, n, clock, clock, seq, domain)
        elif kind == "ipfix":
            head = struct.pack(">HHIII", 10, 16 + size, clock, seq, domain)
        elif kind == "sflow":
            head = struct.pack(">IIIIIII", 5, 1, 0xC0000200 + domain, n, seq, clock, n % 64)
        elif kind == "netflow5":
            # Whole records' length, so that the header is taken and its junk decoded.
            records = 1 + n % 30
            size = records * 48
            head = struct.pack(">HHIIIIBBH", 5, records, clock, clock, 0, seq,
                               (domain >> 8) & 0xFF, domain & 0xFF, n)  # fmt: skip
        else:
            head = b""
        out.append(head + rng.bytes(size))
    return out
