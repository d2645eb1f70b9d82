"""NetFlow v5: a fixed 24-byte header and fixed 48-byte records.

v5 has no templates, so its record layout is expressed as one: the decoder
then treats v5 records exactly like v9/IPFIX ones (bulk numpy decoding).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from typing import TYPE_CHECKING

from routepilot.flows.templates import TemplateField, compile_template

if TYPE_CHECKING:
    from routepilot.flows.decoder import FlowDecoder

_HEADER = struct.Struct(">HHIIIIBBH")
RECORD_LENGTH = 48
MAX_COUNT = 30

# Cisco's v5 record, in IPFIX information element numbers (8 srcaddr, 12 dstaddr,
# 15 nexthop, 10/14 input/output, 2 dPkts, 1 dOctets, 22/21 first/last, 7/11
# ports, 210 padding, 6 flags, 4 protocol, 5 tos, 16/17 AS, 9/13 masks).
_LAYOUT = [
    (8, 4), (12, 4), (15, 4), (10, 2), (14, 2), (2, 4), (1, 4), (22, 4), (21, 4),
    (7, 2), (11, 2), (210, 1), (6, 1), (4, 1), (5, 1), (16, 2), (17, 2), (9, 1),
    (13, 1), (210, 2),
]  # fmt: skip
V5_TEMPLATE = compile_template(0, [TemplateField(ie, n) for ie, n in _LAYOUT])


def parse_v5(dec: FlowDecoder, data: memoryview, eid: int, now: float) -> None:
    if len(data) < _HEADER.size:
        dec.metrics.drop("truncated_header")
        return
    _, count, _, _, _, _, engine_type, engine_id, sampling = _HEADER.unpack_from(data)
    if count == 0 or count > MAX_COUNT:
        dec.metrics.drop("bad_record_count")
        return
    end = _HEADER.size + count * RECORD_LENGTH
    if end > len(data):
        dec.metrics.drop("truncated_records")
        return
    state = dec.domain(eid, 5, (engine_type << 8) | engine_id, now)
    if state is None:
        return
    # The low 14 bits are the interval, the top 2 the mode; 0 means unsampled.
    state.sampling = max(sampling & 0x3FFF, 1)
    t = state.templates.get(0)
    if t is None:
        t = state.templates[0] = replace(V5_TEMPLATE)
    t.last_seen = now
    dec.metrics.datagrams["netflow5"] += 1
    dec.metrics.records["netflow5"] += count
    dec.add_chunk(t, state, data[_HEADER.size : end], count)
