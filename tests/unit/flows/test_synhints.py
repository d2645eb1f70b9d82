"""TCP protocol and flags decoded in every format; unanswered SYNs counted and hinted."""

from __future__ import annotations

import numpy as np
import pytest
from tests import flowenc as encode

from routepilot.config.models import FlowInterface, ProviderConfig
from routepilot.flows import synhints
from routepilot.flows.config import FlowsConfig, SynHintsConfig
from routepilot.flows.pipeline import FlowPipeline

from .helpers import decoder, ip4

pytestmark = pytest.mark.unit

SYN, RST, ACK, PSH, FIN = 0x02, 0x04, 0x10, 0x08, 0x01
EXPORTER = "192.0.2.1"
PROVIDERS = [
    ProviderConfig(
        name=f"isp{k}", asn=65000 + k, next_hops=[f"100.64.0.{k}"], capacity_mbps=1000,
        flow_interfaces=[FlowInterface(exporter=EXPORTER, ifindex=10 + k)],
    )
    for k in (1, 2)
]  # fmt: skip
FIELDS_V4 = (*encode.IPV4_FIELDS, (6, 2))  # tcpControlBits, two bytes as in IPFIX
FIELDS_V6 = (*encode.IPV6_FIELDS, (6, 1))  # one byte as NetFlow v9 sends it


def records(dsts, flags, srcs=None, proto=6, out_if=11, fields=FIELDS_V4):
    rec = np.zeros(len(dsts), dtype=encode.record_dtype(fields))
    rec["ie12"] = [ip4(d) for d in dsts]
    rec["ie8"] = [ip4(s) for s in srcs] if srcs else ip4("100.70.0.1")
    rec["ie1"], rec["ie2"] = 60, 1
    rec["ie4"], rec["ie6"], rec["ie14"] = proto, flags, out_if
    return rec


def ipfix(rec, fields=FIELDS_V4, tid=256) -> bytes:
    return encode.ipfix_message(1, [
        encode.flow_set(2, encode.template_record(tid, fields)),
        encode.flow_set(tid, rec.tobytes()),
    ])  # fmt: skip


# -- decoding -----------------------------------------------------------------------------


def test_ipfix_decodes_protocol_flags_and_source():
    d = decoder()
    d.feed(ipfix(records(["198.18.0.1", "198.18.0.2"], [SYN, SYN | ACK | PSH | FIN],
                         srcs=["100.70.0.1", "100.70.0.2"])), EXPORTER, 0)  # fmt: skip
    b = d.flush()
    assert b.proto.tolist() == [6, 6]
    assert b.tcp_flags.tolist() == [SYN, SYN | ACK | PSH | FIN]
    assert b.src.tolist() == [ip4("100.70.0.1"), ip4("100.70.0.2")]


def test_netflow_v9_decodes_one_byte_flags_of_ipv6_records():
    rec = np.zeros(2, dtype=encode.record_dtype(FIELDS_V6))
    rec["ie28_hi"] = 0x20010DB8_00010000
    rec["ie27_hi"], rec["ie27_lo"] = 0x20010DB8_FFFF0000, 7
    rec["ie1"], rec["ie2"], rec["ie4"] = 60, 1, 6
    rec["ie6"] = [SYN, SYN | RST]
    d = decoder()
    d.feed(encode.v9_packet(1, [
        encode.flow_set(0, encode.template_record(300, FIELDS_V6)),
        encode.flow_set(300, rec.tobytes()),
    ], count=3), EXPORTER, 0)  # fmt: skip
    b = d.flush()
    assert b.family.tolist() == [6, 6]
    assert b.proto.tolist() == [6, 6]
    assert b.tcp_flags.tolist() == [SYN, SYN | RST]
    assert b.src.tolist() == [0x20010DB8_FFFF0000 ^ 7] * 2


def test_netflow_v5_decodes_protocol_and_flags():
    rec = np.zeros(2, dtype=encode.V5_DTYPE)
    rec["dst"] = [ip4("198.18.0.1"), ip4("198.18.0.2")]
    rec["src"] = ip4("100.70.0.9")
    rec["packets"], rec["bytes"] = 1, 60
    rec["proto"] = [6, 17]
    rec["flags"] = [SYN, 0]
    d = decoder()
    d.feed(encode.v5_packet(rec), EXPORTER, 0)
    b = d.flush()
    assert b.proto.tolist() == [6, 17]
    assert b.tcp_flags.tolist() == [SYN, 0]
    assert b.src.tolist() == [ip4("100.70.0.9")] * 2


def test_sflow_records_carry_no_flags_being_one_sampled_packet():
    header = encode.sflow_raw_header(encode.ethernet_ipv4(ip4("198.18.0.1")))
    d = decoder()
    d.feed(encode.sflow_datagram(1, [encode.sflow_flow_sample(1, 11, [(1, header)])]),
           EXPORTER, 0)  # fmt: skip
    b = d.flush()
    assert len(b) == 1
    assert b.proto.tolist() == [0] and b.tcp_flags.tolist() == [0]


def test_a_template_without_flags_decodes_zeros():
    d = decoder()
    rec = np.zeros(1, dtype=encode.record_dtype(encode.IPV4_FIELDS))
    rec["ie12"], rec["ie1"], rec["ie4"] = ip4("198.18.0.1"), 60, 6
    d.feed(ipfix(rec, encode.IPV4_FIELDS), EXPORTER, 0)
    b = d.flush()
    assert b.proto.tolist() == [6] and b.tcp_flags.tolist() == [0]


# -- counting and hints -------------------------------------------------------------------


def pipeline(**hints) -> FlowPipeline:
    cfg = FlowsConfig(syn_hints=SynHintsConfig(**{"min_syns": 10, "min_sources": 3, **hints}))
    return FlowPipeline(cfg, PROVIDERS, start=0)


def feed(p: FlowPipeline, rec, now: float, **kw) -> None:
    p.feed(ipfix(rec, **kw), EXPORTER, now)
    p.process(now)


def sources(n: int) -> list[str]:
    return [f"100.70.0.{i % 250 + 1}" for i in range(n)]


def test_unanswered_syns_from_several_sources_hint_the_prefix_through_that_provider():
    p = pipeline()
    feed(p, records(["198.18.5.9"] * 12, SYN, srcs=sources(12)), 1)
    hints = p.hints.active(1)
    assert [(h.prefix, h.provider) for h in hints] == [("198.18.5.0/24", "isp1")]
    assert (hints[0].unanswered, hints[0].attempts, hints[0].sources) == (12, 12, 3)
    assert p.hints.prefixes(1) == {"198.18.5.0/24": 1 + 300.0}
    assert p.metrics.syn_unanswered_records == 12 and p.metrics.syn_hints == 1
    names = {m.name for m in p.metrics.collect()}
    assert {"routepilot_flow_syn_hinted_prefixes", "routepilot_flow_syn_records"} <= names


def test_below_the_minimum_count_nothing_is_hinted():
    p = pipeline()
    feed(p, records(["198.18.5.9"] * 9, SYN, srcs=sources(9)), 1)
    assert p.hints.active(1) == []
    assert p.metrics.syn_unanswered_records == 9


def test_one_hosts_scan_does_not_hint():
    p = pipeline()
    scan = [f"198.18.5.{i}" for i in range(1, 201)]
    feed(p, records(scan, SYN, srcs=["100.70.0.1"] * 200), 1)
    feed(p, records(scan[:10], SYN, srcs=["100.70.0.2"] * 10), 2)
    assert p.hints.active(2) == []
    feed(p, records(scan[:1], SYN, srcs=["100.70.0.3"]), 3)
    assert [h.prefix for h in p.hints.active(3)] == ["198.18.5.0/24"]


def test_answered_connections_and_resets_are_attempts_not_failures():
    p = pipeline(min_share=0.5)
    flags = [SYN | ACK | PSH | FIN] * 20 + [SYN | RST] * 20
    feed(p, records(["198.18.5.9"] * 40, flags, srcs=sources(40)), 1)
    assert p.metrics.syn_records == 40 and p.metrics.syn_unanswered_records == 0
    # Attempts count from a prefix's first unanswered one on: 16 unanswered of 56
    # attempts is under the share, however many.
    feed(p, records(["198.18.5.9"] * 41, [SYN] + flags, srcs=sources(41)), 2)
    feed(p, records(["198.18.5.9"] * 15, SYN, srcs=sources(15)), 3)
    assert p.hints.active(3) == []
    feed(p, records(["198.18.5.9"] * 30, SYN, srcs=sources(30)), 4)
    (hint,) = p.hints.active(4)
    assert (hint.unanswered, hint.attempts) == (46, 86)


def test_udp_sampled_and_unattributed_records_never_count():
    p = pipeline()
    feed(p, records(["198.18.5.9"] * 20, SYN, srcs=sources(20), proto=17), 1)
    feed(p, records(["198.18.5.9"] * 20, SYN, srcs=sources(20), out_if=99), 1)
    sampled = FlowsConfig(sampling_overrides=[{"exporter": EXPORTER, "rate": 100}])
    q = FlowPipeline(sampled, PROVIDERS, start=0)
    feed(q, records(["198.18.5.9"] * 20, SYN, srcs=sources(20)), 1)
    for pipe in (p, q):
        assert pipe.metrics.syn_records == 0 and pipe.hints.active(1) == []


def test_counts_span_two_windows_and_then_start_over():
    p = pipeline(window_s=10)
    feed(p, records(["198.18.5.9"] * 6, SYN, srcs=sources(6)), 5)
    feed(p, records(["198.18.5.9"] * 6, SYN, srcs=sources(6)), 12)  # the next window
    assert [h.unanswered for h in p.hints.active(12)] == [12]
    p = pipeline(window_s=10)
    feed(p, records(["198.18.5.9"] * 6, SYN, srcs=sources(6)), 5)
    feed(p, records(["198.18.5.9"] * 6, SYN, srcs=sources(6)), 30)  # two windows later
    assert p.hints.active(30) == []


def test_a_hint_lasts_its_hold_and_a_new_one_extends_it():
    p = pipeline(hold_s=60)
    feed(p, records(["198.18.5.9"] * 10, SYN, srcs=sources(10)), 1)
    assert p.hints.prefixes(1) == {"198.18.5.0/24": 61}
    feed(p, records(["198.18.5.9"] * 10, SYN, srcs=sources(10)), 20)
    (hint,) = p.hints.active(20)
    assert (hint.since, hint.until) == (1, 80)
    assert p.metrics.syn_hints == 1
    p.process(81)
    assert p.hints.active(81) == [] and p.metrics.syn_hinted == 0


def test_hints_in_force_are_capped_and_the_rest_counted():
    p = pipeline(max_hinted=1)
    feed(p, records(["198.18.5.9"] * 10 + ["198.18.6.9"] * 10, SYN, srcs=sources(20)), 1)
    assert len(p.hints.active(1)) == 1
    assert p.metrics.syn_hints_skipped == 1


def test_a_syn_flood_to_random_prefixes_keeps_counts_capped():
    p = pipeline(max_keys=100)
    rng = np.random.default_rng(1)
    dsts = [f"198.{18 + int(a) % 2}.{int(b)}.1" for a, b in rng.integers(0, 256, (2000, 2))]
    for chunk in range(0, 2000, 500):
        feed(p, records(dsts[chunk : chunk + 500], SYN, srcs=sources(500)), 1)
    assert p.hints.current is not None and len(p.hints.current.counts) <= 100
    assert p.metrics.syn_keys_evicted > 0


def test_disabled_counts_nothing():
    p = pipeline(enabled=False)
    feed(p, records(["198.18.5.9"] * 20, SYN, srcs=sources(20)), 1)
    assert p.metrics.syn_records == 0 and p.hints.active(1) == []


def test_hinted_prefixes_follow_the_routing_table():
    p = pipeline()
    p.set_routes(["198.18.0.0/16"])
    feed(p, records(["198.18.5.9"] * 10, SYN, srcs=sources(10)), 1)
    assert [h.prefix for h in p.hints.active(1)] == ["198.18.0.0/16"]


def test_ipfix_two_byte_flags_with_ns_bit_still_read_syn_alone():
    # RFC 7125: the high byte carries NS and reserved bits; SYN alone is in the low byte.
    p = pipeline()
    rec = records(["198.18.5.9"] * 10, 0x0100 | SYN, srcs=sources(10))
    feed(p, rec, 1)
    assert len(p.hints.active(1)) == 1


def test_source_pairs_are_compacted_and_still_count(monkeypatch):
    monkeypatch.setattr(synhints, "PAIRS_COMPACT", 8)
    p = pipeline()
    for now in range(1, 6):  # one host again and again: compacted to one pair
        feed(p, records(["198.18.5.9"] * 10, SYN, srcs=["100.70.0.1"] * 10), now)
    assert p.hints.active(5) == []
    assert p.hints.current is not None and len(p.hints.current.pairs()[0]) <= 10
    feed(p, records(["198.18.5.9"] * 2, SYN, srcs=["100.70.0.2", "100.70.0.3"]), 6)
    assert [h.sources for h in p.hints.active(6)] == [3]
