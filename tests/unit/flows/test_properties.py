"""Property-based tests: any template layout round-trips; aggregation never loses a byte."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tests import flowenc as encode

from routepilot.flows.config import FlowsConfig
from routepilot.flows.pipeline import FlowPipeline
from routepilot.flows.sink import MemorySink

from .helpers import decoder

# (column, information element, allowed wire lengths)
KEY_FIELDS = [("bytes", 1, (1, 2, 3, 4, 5, 6, 7, 8)), ("packets", 2, (1, 2, 4, 8)),
              ("dst4", 12, (4,)), ("out_if", 14, (1, 2, 4))]  # fmt: skip


@st.composite
def layouts(draw):
    """A template: the key fields at random lengths, with filler fields mixed in, any order."""
    fields = [(col, ie, draw(st.sampled_from(lengths)), 0) for col, ie, lengths in KEY_FIELDS]
    for _ in range(draw(st.integers(0, 4))):
        ie = draw(st.integers(200, 300))
        fields.append(("filler", ie, draw(st.integers(1, 20)), draw(st.sampled_from([0, 9, 0]))))
    return draw(st.permutations(fields))


def _encode_template(fields, ipfix: bool) -> bytes:
    out = struct.pack(">HH", 256, len(fields))
    for _, ie, length, pen in fields:
        if pen and ipfix:
            out += struct.pack(">HHI", ie | 0x8000, length, pen)
        else:
            out += struct.pack(">HH", ie, length)
    return out


@settings(max_examples=150, deadline=None)
@given(layouts(), st.integers(1, 40), st.booleans(), st.randoms(use_true_random=False))
def test_any_layout_round_trips(fields, n, ipfix, rnd):
    values = {col: [rnd.randrange(1 << (8 * length)) for _ in range(n)]
              for col, _, length, _ in fields if col != "filler"}  # fmt: skip
    body = b""
    for i in range(n):
        for col, _, length, _ in fields:
            if col == "filler":
                body += bytes(rnd.randrange(256) for _ in range(length))
            else:
                body += values[col][i].to_bytes(length, "big")
    tset = _encode_template(fields, ipfix)
    d = decoder()
    if ipfix:
        msg = encode.ipfix_message(7, [encode.flow_set(2, tset), encode.flow_set(256, body)])
    else:
        msg = encode.v9_packet(7, [encode.flow_set(0, tset), encode.flow_set(256, body)], n + 1)
    d.feed(msg, "192.0.2.1", 0)
    b = d.flush()
    assert d.metrics.drops == {}
    for col, got in (("bytes", b.bytes), ("packets", b.packets), ("dst4", b.dst4),
                     ("out_if", b.out_if)):  # fmt: skip
        assert got.tolist() == values[col]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 10**9), st.integers(1, 1000)),
        min_size=1, max_size=200,
    ),
    st.integers(1, 5),
)  # fmt: skip
def test_aggregation_conserves_bytes(records, batches):
    sink = MemorySink()
    p = FlowPipeline(FlowsConfig(rollup_top_n=10_000), sink=sink, start=0.0)
    rec = np.zeros(len(records), dtype=encode.record_dtype(encode.IPV4_FIELDS))
    rec["ie12"] = [r[0] for r in records]
    rec["ie1"] = [r[1] for r in records]
    rec["ie2"] = [r[2] for r in records]
    t = 0.0
    for chunk in np.array_split(rec, batches):
        msg = encode.ipfix_message(1, [encode.flow_set(2, encode.template_record(
            256, encode.IPV4_FIELDS)), encode.flow_set(256, chunk.tobytes())])  # fmt: skip
        p.feed(msg, "192.0.2.1", t)
        p.process(t)
        t += 17.0
    p.process(t + 120.0)
    total = float(sum(r[1] for r in records))
    assert sum(r.bytes for r in sink.traffic) == total
    assert sum(r.bytes for r in sink.providers if r.window_s == 60) == total
