"""Records carry the times of their first and last packets, on the collector's clock."""

from __future__ import annotations

import numpy as np
import pytest
from tests import flowenc as encode

from routepilot.flows.records import FlowBatch

from .helpers import decoder, ip4

V9_TIMED = (*encode.IPV4_FIELDS, (22, 4), (21, 4))  # FIRST_SWITCHED, LAST_SWITCHED
IPFIX_MS = (*encode.IPV4_FIELDS, (152, 8), (153, 8))  # flowStart/EndMilliseconds
IPFIX_S = (*encode.IPV4_FIELDS, (150, 4), (151, 4))  # flowStart/EndSeconds


def _records(fields, n: int) -> np.ndarray:
    rec = np.zeros(n, dtype=encode.record_dtype(fields))
    rec["ie12"] = ip4("198.18.0.1")
    rec["ie1"] = 1500
    rec["ie2"] = 1
    return rec


def _v9(rec: np.ndarray, uptime_ms: int, template: bool = True) -> bytes:
    sets = [encode.flow_set(256, rec.tobytes())]
    if template:
        sets.insert(0, encode.flow_set(0, encode.template_record(256, V9_TIMED)))
    return encode.v9_packet(1, sets, len(rec) + template, uptime_ms=uptime_ms)


def _times(batch: FlowBatch) -> list[float]:
    """Each record's first and last packet times, one after the other."""
    return np.column_stack([batch.start, batch.end]).ravel().tolist()


def test_netflow_v9_uptime_stamps_are_placed_before_the_arrival() -> None:
    rec = _records(V9_TIMED, 4)
    # 6 s and 0.5 s before the header's uptime; across the uptime's 32-bit wrap; and a
    # last packet 3 ms after the header's uptime (exporters stamp that way), which is
    # not 49 days old.
    rec["ie22"] = [100_000 - 6_000, 100_000 - 1_000, 2**32 - 5_000, 99_000]
    rec["ie21"] = [100_000 - 500, 100_000, 100_000 - 10, 100_003]
    d = decoder()
    d.feed(_v9(rec[:2], 100_000), "192.0.2.1", 500.0)
    d.feed(_v9(rec[2:], 100_000), "192.0.2.1", 500.25)
    assert _times(d.flush()) == pytest.approx([
        494.0, 499.5, 499.0, 500.0,
        500.25 - (5.0 + 100.0), 500.25 - 0.01,
        499.25, 500.253,
    ])  # fmt: skip


def test_data_held_for_its_template_keeps_its_own_datagram_s_times() -> None:
    rec = _records(V9_TIMED, 1)
    rec["ie22"], rec["ie21"] = 40_000, 45_000
    d = decoder()
    d.feed(_v9(rec, 50_000, template=False), "192.0.2.1", 100.0)  # before its template
    d.feed(encode.v9_packet(1, [encode.flow_set(0, encode.template_record(256, V9_TIMED))], 1,
                            uptime_ms=58_000), "192.0.2.1", 108.0)  # fmt: skip
    assert _times(d.flush()) == pytest.approx([90.0, 95.0])


def test_netflow_v5_first_and_last_are_read_against_the_header_uptime() -> None:
    rec = np.zeros(2, dtype=encode.V5_DTYPE)
    rec["dst"] = ip4("198.18.0.1")
    rec["bytes"], rec["packets"] = 1500, 1
    rec["first"], rec["last"] = [1_000, 7_000], [7_000, 7_900]
    d = decoder()
    d.feed(encode.v5_packet(rec, uptime_ms=8_000), "192.0.2.1", 20.0)
    assert _times(d.flush()) == pytest.approx([13.0, 19.0, 19.0, 19.9])


@pytest.mark.parametrize(("fields", "unit"), [(IPFIX_MS, 1000), (IPFIX_S, 1)])
def test_ipfix_absolute_stamps_are_taken_as_they_are(fields, unit) -> None:
    rec = _records(fields, 2)
    start, end = (152, 153) if unit == 1000 else (150, 151)
    rec[f"ie{start}"] = [1_795_000_000 * unit, 0]  # unset: no times
    rec[f"ie{end}"] = [1_795_000_006 * unit, 0]
    d = decoder()
    tset = encode.flow_set(2, encode.template_record(256, fields))
    d.feed(encode.ipfix_message(1, [tset, encode.flow_set(256, rec.tobytes())],
                                export_time=1_795_000_007), "192.0.2.1", 3.0)  # fmt: skip
    batch = d.flush()
    assert _times(batch)[:2] == pytest.approx([1_795_000_000.0, 1_795_000_006.0])
    assert np.isnan(batch.start[1]) and np.isnan(batch.end[1])


def test_a_last_packet_before_the_first_is_a_counted_drop_of_the_times_only() -> None:
    rec = _records(V9_TIMED, 2)
    rec["ie22"], rec["ie21"] = [9_000, 5_000], [9_500, 4_000]
    d = decoder()
    d.feed(_v9(rec, 10_000), "192.0.2.1", 50.0)
    batch = d.flush()
    assert len(batch) == 2 and batch.bytes.tolist() == [1500, 1500]
    assert _times(batch)[:2] == pytest.approx([49.0, 49.5])
    assert np.isnan(batch.start[1]) and np.isnan(batch.end[1])
    assert d.metrics.drops["bad_record_times"] == 1


def test_templates_without_times_and_sflow_give_none() -> None:
    d = decoder()
    rec = _records(encode.IPV4_FIELDS, 1)
    tset = encode.flow_set(2, encode.template_record(256, encode.IPV4_FIELDS))
    d.feed(encode.ipfix_message(1, [tset, encode.flow_set(256, rec.tobytes())]), "192.0.2.1", 1.0)
    frame = encode.ethernet_ipv4(ip4("198.18.0.1"))
    sample = encode.sflow_flow_sample(1, 2, [(1, encode.sflow_raw_header(frame))])
    d.feed(encode.sflow_datagram(0x64400001, [sample]), "192.0.2.2", 1.0)
    batch = d.flush()
    assert len(batch) == 2
    assert np.isnan(batch.start).all() and np.isnan(batch.end).all()
