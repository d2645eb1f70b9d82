"""sFlow version 5 (sflow.org/sflow_version_5.txt): flow and counter samples.

sFlow carries sampled packet headers, not flows: each flow sample stands for
``sampling_rate`` packets like the one sampled. Samples are parsed in Python
(a few dozen per datagram) into plain column lists, which become one numpy
batch at flush time.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from routepilot.flows.records import FlowBatch

if TYPE_CHECKING:
    from routepilot.flows.decoder import FlowDecoder

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_QQ = struct.Struct(">QQ")
_HEADER_TAIL = struct.Struct(">IIII")  # sub-agent id, sequence, uptime, samples
_FLOW_SAMPLE = struct.Struct(">IIIIIIII")  # seq, source, rate, pool, drops, in, out, records
_EXPANDED_FLOW_SAMPLE = struct.Struct(">IIIIIIIIIII")
_RAW_HEADER = struct.Struct(">IIII")  # protocol, frame length, stripped, header length
_GENERIC_COUNTERS = struct.Struct(">IIQIIQIIIIIIQIIIIII")
_COUNTER_SAMPLE = struct.Struct(">III")  # sequence, source id, records
_EXPANDED_COUNTER_SAMPLE = struct.Struct(">IIII")  # sequence, source type, index, records

FLOW_SAMPLE = 1
COUNTER_SAMPLE = 2
EXPANDED_FLOW_SAMPLE = 3
EXPANDED_COUNTER_SAMPLE = 4
RECORD_RAW_HEADER = 1
RECORD_IPV4 = 3
RECORD_IPV6 = 4
RECORD_EXT_ROUTER = 1002
RECORD_EXT_GATEWAY = 1003
COUNTERS_GENERIC = 1
HEADER_ETHERNET = 1
HEADER_IPV4 = 11
HEADER_IPV6 = 12
MAX_INTERFACES = 65536


@dataclass
class InterfaceCounters:
    """Generic interface counters of a counter sample (sFlow v5 ``if_counters``)."""

    if_speed: int
    if_status: int
    in_octets: int
    in_packets: int
    out_octets: int
    out_packets: int
    in_errors: int
    out_errors: int


_ROW = np.dtype(
    [("exporter", "u4"), ("family", "u1"), ("dst4", "u4"), ("dst6_hi", "u8"), ("dst6_lo", "u8"),
     ("nh4", "u4"), ("nh6_hi", "u8"), ("nh6_lo", "u8"), ("out_if", "u4"), ("bytes", "u8"),
     ("sampling", "u4")]
)  # fmt: skip


class SflowColumns:
    """Flow samples decoded so far: one tuple each (one append is the cheapest Python
    can do per sample), turned into columns once per batch."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, ...]] = []

    @property
    def count(self) -> int:
        return len(self.rows)

    def batch(self) -> FlowBatch:
        arr = np.array(self.rows, dtype=_ROW)
        self.rows = []
        cols = {name: np.ascontiguousarray(arr[name]) for name in _ROW.names}
        return FlowBatch(packets=np.ones(len(arr), dtype=np.uint64), **cols)


class _Bad(Exception):
    """A malformed sample: the reason becomes the drop counter's label."""


def _address(data: memoryview, pos: int, end: int) -> tuple[int, int, int, int]:
    """Reads an sFlow address: (family, v4 or v6-high, v6-low, new position)."""
    if pos + 4 > end:
        raise _Bad("sflow_truncated_sample")
    kind = _U32.unpack_from(data, pos)[0]
    pos += 4
    if kind == 1:
        if pos + 4 > end:
            raise _Bad("sflow_truncated_sample")
        return 4, _U32.unpack_from(data, pos)[0], 0, pos + 4
    if kind == 2:
        if pos + 16 > end:
            raise _Bad("sflow_truncated_sample")
        hi, lo = _QQ.unpack_from(data, pos)
        return 6, hi, lo, pos + 16
    if kind == 0:
        return 0, 0, 0, pos
    raise _Bad("sflow_bad_address_type")


def parse_sflow(dec: FlowDecoder, data: memoryview, eid: int) -> None:
    end = len(data)
    try:
        family, hi, lo, pos = _address(data, 4, end)
        if family == 0:
            raise _Bad("sflow_bad_address_type")
        if pos + _HEADER_TAIL.size > end:
            raise _Bad("truncated_header")
        sub_agent, seq, _, nsamples = _HEADER_TAIL.unpack_from(data, pos)
        pos += _HEADER_TAIL.size
    except _Bad as bad:
        dec.metrics.drop(str(bad))
        return
    dec.metrics.datagrams["sflow"] += 1
    agent = (eid, family, hi, lo, sub_agent)
    if agent not in dec.sflow_agents and len(dec.sflow_agents) >= dec.config.max_domains:
        dec.metrics.drop("domain_cache_full")
        return
    seen = dec.sflow_agents.setdefault(agent, [0, 0, -1, 0])
    seen[0] += 1
    # The datagram sequence number counts datagrams per (agent, sub-agent).
    if seen[2] >= 0 and seq != seen[2]:
        gap = (seq - seen[2]) & 0xFFFFFFFF
        if gap < 1 << 20:
            dec.metrics.sequence_gaps["sflow"] += gap
    seen[2] = (seq + 1) & 0xFFFFFFFF
    if nsamples > (end - pos) // 8:
        dec.metrics.drop("sflow_bad_sample_count")
        return
    rows = dec.sflow.rows
    before = len(rows)
    try:
        _samples(dec, data, pos, end, nsamples, eid, seen)
    finally:
        added = len(rows) - before
        dec.metrics.records["sflow"] += added
        dec.buffered_records += added
        seen[3] += added


def _samples(
    dec: FlowDecoder, data: memoryview, pos: int, end: int, nsamples: int, eid: int, seen: list
) -> None:
    for _ in range(nsamples):
        if pos + 8 > end:
            dec.metrics.drop("sflow_truncated_sample")
            return
        fmt, length = struct.unpack_from(">II", data, pos)
        pos += 8
        if pos + length > end:
            dec.metrics.drop("sflow_truncated_sample")
            return
        body = data[pos : pos + length]
        pos += length
        if fmt >> 12:  # enterprise-specific sample: skipped whole
            continue
        try:
            if fmt in _FLOW_HEADERS:
                _flow_sample(dec, body, eid, _FLOW_HEADERS[fmt], seen)
            elif fmt in _COUNTER_HEADERS:
                _counter_sample(dec, body, eid, _COUNTER_HEADERS[fmt])
        except (_Bad, struct.error) as bad:
            dec.metrics.drop(str(bad) if isinstance(bad, _Bad) else "sflow_truncated_sample")


def _compact_flow_header(body: memoryview) -> tuple[int, int, int, int]:
    """``flow_sample``: (rate, output ifIndex or 0, records, position of the first)."""
    f = _FLOW_SAMPLE.unpack_from(body)
    output = f[6]
    # Top two bits: 0 an ifIndex, 1 a discard reason, 2 several interfaces.
    out_if = output & 0x3FFFFFFF if output >> 30 == 0 else 0
    return f[2], out_if, f[7], _FLOW_SAMPLE.size


def _expanded_flow_header(body: memoryview) -> tuple[int, int, int, int]:
    """``flow_sample_expanded``: interfaces as (format, value) pairs."""
    f = _EXPANDED_FLOW_SAMPLE.unpack_from(body)
    return f[3], f[9] if f[8] == 0 else 0, f[10], _EXPANDED_FLOW_SAMPLE.size


_FLOW_HEADERS = {FLOW_SAMPLE: _compact_flow_header, EXPANDED_FLOW_SAMPLE: _expanded_flow_header}
_COUNTER_HEADERS = {
    COUNTER_SAMPLE: (_COUNTER_SAMPLE, 2),  # struct, index of the record count
    EXPANDED_COUNTER_SAMPLE: (_EXPANDED_COUNTER_SAMPLE, 3),
}


def _flow_sample(
    dec: FlowDecoder,
    body: memoryview,
    eid: int,
    header: Callable[[memoryview], tuple[int, int, int, int]],
    seen: list[int],
) -> None:
    end = len(body)
    rate, out_if, nrecords, pos = header(body)
    if nrecords > (end - pos) // 8:
        raise _Bad("sflow_bad_record_count")
    seen[1] = rate
    family = dst_hi = dst_lo = length = 0
    nh_family = nh_hi = nh_lo = 0
    gateway = False
    for _ in range(nrecords):
        fmt, rlen = struct.unpack_from(">II", body, pos)
        pos += 8
        if pos + rlen > end:
            raise _Bad("sflow_truncated_record")
        rec = body[pos : pos + rlen]
        pos += rlen
        if fmt == RECORD_RAW_HEADER:
            proto, frame_length, _, hlen = _RAW_HEADER.unpack_from(rec)
            if 16 + hlen > rlen:
                raise _Bad("sflow_truncated_record")
            parsed = parse_packet_header(proto, rec[16 : 16 + hlen])
            if parsed is None:
                dec.metrics.drop("sflow_undecodable_header")
                continue
            family, dst_hi, dst_lo = parsed
            length = frame_length
        elif fmt == RECORD_IPV4 and rlen >= 32 and not family:
            length, _, _, dst = struct.unpack_from(">IIII", rec)
            family, dst_hi, dst_lo = 4, dst, 0
        elif fmt == RECORD_IPV6 and rlen >= 40 and not family:
            length = _U32.unpack_from(rec)[0]
            dst_hi, dst_lo = _QQ.unpack_from(rec, 24)
            family = 6
        elif fmt == RECORD_EXT_GATEWAY or (fmt == RECORD_EXT_ROUTER and not gateway):
            # The gateway record's next-hop is the BGP next-hop, the router's the IP one.
            nh_family, nh_hi, nh_lo, _ = _address(rec, 0, rlen)
            gateway = fmt == RECORD_EXT_GATEWAY
    if not family:
        dec.metrics.drop("sflow_no_destination")
        return
    v4 = family == 4
    dec.sflow.rows.append(
        (eid, family, dst_hi if v4 else 0, 0 if v4 else dst_hi, dst_lo,
         nh_hi if nh_family == 4 else 0, nh_hi if nh_family == 6 else 0,
         nh_lo if nh_family == 6 else 0, out_if, length, rate or 1)
    )  # fmt: skip


def parse_packet_header(proto: int, header: memoryview) -> tuple[int, int, int] | None:
    """Destination of a sampled packet: Ethernet (with 802.1Q/802.1ad tags), IPv4 or IPv6."""
    pos = 0
    n = len(header)
    if proto == HEADER_ETHERNET:
        if n < 14:
            return None
        ethertype = (header[12] << 8) | header[13]
        pos = 14
        while ethertype in (0x8100, 0x88A8, 0x9100):
            if pos + 4 > n:
                return None
            ethertype = (header[pos + 2] << 8) | header[pos + 3]
            pos += 4
        if ethertype == 0x0800:
            proto = HEADER_IPV4
        elif ethertype == 0x86DD:
            proto = HEADER_IPV6
        else:
            return None
    if proto == HEADER_IPV4:
        if pos + 20 > n or header[pos] >> 4 != 4:
            return None
        return 4, _U32.unpack_from(header, pos + 16)[0], 0
    if proto == HEADER_IPV6:
        if pos + 40 > n or header[pos] >> 4 != 6:
            return None
        hi, lo = _QQ.unpack_from(header, pos + 24)
        return 6, hi, lo
    return None


def _counter_sample(
    dec: FlowDecoder, body: memoryview, eid: int, header: tuple[struct.Struct, int]
) -> None:
    layout, count_at = header
    nrecords = layout.unpack_from(body)[count_at]
    pos = layout.size
    end = len(body)
    if nrecords > (end - pos) // 8:
        raise _Bad("sflow_bad_record_count")
    for _ in range(nrecords):
        fmt, rlen = struct.unpack_from(">II", body, pos)
        pos += 8
        if pos + rlen > end:
            raise _Bad("sflow_truncated_record")
        if fmt == COUNTERS_GENERIC and rlen >= _GENERIC_COUNTERS.size:
            c = _GENERIC_COUNTERS.unpack_from(body, pos)
            key = (eid, c[0])
            if key not in dec.interface_counters and len(dec.interface_counters) >= MAX_INTERFACES:
                dec.metrics.drop("interface_cache_full")
            else:
                dec.interface_counters[key] = InterfaceCounters(
                    if_speed=c[2],
                    if_status=c[4],
                    in_octets=c[5],
                    in_packets=c[6] + c[7] + c[8],
                    out_octets=c[12],
                    out_packets=c[13] + c[14] + c[15],
                    in_errors=c[10],
                    out_errors=c[17],
                )
        pos += rlen
    dec.metrics.records["sflow_counters"] += nrecords
