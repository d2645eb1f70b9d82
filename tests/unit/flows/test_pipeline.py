"""Attribution, aggregation windows, buckets, rollups and the snapshot."""

from __future__ import annotations

import numpy as np
import pytest
from tests import flowenc as encode

from routepilot.config.models import FlowInterface, ProviderConfig
from routepilot.flows.config import FlowsConfig
from routepilot.flows.pipeline import FlowPipeline
from routepilot.flows.sink import MemorySink

from .helpers import ipfix_template, v4_records

PROVIDERS = [
    ProviderConfig(
        name="isp1", asn=65001, next_hops=["100.64.0.1"], capacity_mbps=1000,
        flow_interfaces=[FlowInterface(exporter="192.0.2.1", ifindex=11)],
    ),
    ProviderConfig(name="isp2", asn=65002, next_hops=["100.64.0.2", "2001:db8:ffff::2"],
                   capacity_mbps=1000),
]  # fmt: skip


def _feed(p: FlowPipeline, dsts, nbytes, now, out_if=0, nh="0.0.0.0", exporter="192.0.2.1"):
    rec = v4_records(dsts, nbytes, out_if=out_if, nh=nh)
    p.feed(encode.ipfix_message(1, [ipfix_template(), encode.flow_set(256, rec.tobytes())]),
           exporter, now)  # fmt: skip
    p.process(now)


def test_interface_wins_over_next_hop_and_misses_are_unattributed():
    p = FlowPipeline(FlowsConfig(), PROVIDERS)
    rec = v4_records(["198.18.0.1"] * 3, [1, 2, 4])
    rec["ie14"] = [11, 5, 5]
    rec["ie18"] = [0x64400002, 0x64400002, 0x64400009]
    p.feed(encode.ipfix_message(1, [ipfix_template(), encode.flow_set(256, rec.tobytes())]),
           "192.0.2.1", 0)  # fmt: skip
    batch = p.decoder.flush()
    assert p.providers.attribute(batch).tolist() == [0, 1, 2]


def test_rates_snapshot_and_top_n():
    cfg = FlowsConfig(window_s=10, smoothing_s=10, top_n=2)
    p = FlowPipeline(cfg, PROVIDERS, start=0)
    _feed(
        p, ["198.18.0.1", "198.18.1.1", "198.18.2.1"], [10_000, 20_000, 30_000], 1, nh="100.64.0.2"
    )
    p.process(10)
    snap = p.snapshot(10)
    assert snap.prefixes == ("198.18.2.0/24", "198.18.1.0/24")
    alpha = 1 - np.exp(-1.0)
    assert snap.bps[0, 1] == pytest.approx(30_000 * 8 / 10 * alpha)
    assert snap.bps[0, 0] == 0
    assert snap.provider_bps["isp2"] == pytest.approx(60_000 * 8 / 10 * alpha)
    # With no more traffic the rates decay, and the snapshot stays ordered.
    p.process(20)
    later = p.snapshot(20)
    assert later.bps[0, 1] == pytest.approx(snap.bps[0, 1] * np.exp(-1.0))


def test_minute_and_five_minute_buckets_go_to_the_sink():
    sink = MemorySink()
    p = FlowPipeline(FlowsConfig(), PROVIDERS, sink=sink, start=0)
    for minute in range(5):
        _feed(p, ["198.18.0.1"], [60_000 * (minute + 1)], minute * 60 + 1, out_if=11)
    p.process(300)
    minutes = [r for r in sink.providers if r.window_s == 60 and r.provider == "isp1"]
    assert [r.bytes for r in minutes] == [60_000, 120_000, 180_000, 240_000, 300_000]
    assert minutes[0].bps == pytest.approx(8000)
    five = [r for r in sink.providers if r.window_s == 300 and r.provider == "isp1"]
    assert len(five) == 1 and five[0].bytes == 900_000
    assert p.snapshot(300).provider_5m_samples["isp1"] == (pytest.approx(900_000 * 8 / 300),)
    traffic = [r for r in sink.traffic if r.prefix == "198.18.0.0/24"]
    assert [r.provider for r in traffic] == ["isp1"] * 5


def test_a_minute_begun_before_the_start_is_rated_over_the_part_counted():
    # Started 45 s into a minute: its bucket holds 15 s of traffic, not 60 s' worth.
    sink = MemorySink()
    p = FlowPipeline(FlowsConfig(), PROVIDERS, sink=sink, start=45)
    _feed(p, ["198.18.0.1"], [15_000], 50, out_if=11)
    _feed(p, ["198.18.0.1"], [60_000], 70, out_if=11)
    p.process(121)
    first, second = [r for r in sink.providers if r.provider == "isp1" and r.window_s <= 60]
    assert (first.window_s, first.bps) == (15, pytest.approx(8000))
    assert (second.window_s, second.bps) == (60, pytest.approx(8000))
    (row, _) = [r for r in sink.traffic if r.prefix == "198.18.0.0/24"]
    assert row.window_s == 15 and row.bytes * 8 / row.window_s == pytest.approx(8000)


def test_sink_failure_is_contained():
    class Broken:
        def write_traffic(self, rows):
            raise RuntimeError("disk full")

        def write_provider_traffic(self, rows):
            raise RuntimeError("disk full")

    p = FlowPipeline(FlowsConfig(), PROVIDERS, sink=Broken(), start=0)
    _feed(p, ["198.18.0.1"], [1], 1)
    p.process(61)
    assert p.aggregator.sink_errors == 1


def test_sampling_scales_and_overflowing_counters_are_dropped():
    p = FlowPipeline(FlowsConfig(max_record_bytes=10**9), PROVIDERS, start=0)
    rec = v4_records(["198.18.0.1", "198.18.0.2"], [1000, 2**63])
    rec["ie2"] = [3, 1]
    fields = (*encode.IPV4_FIELDS, (34, 4))
    full = np.zeros(2, dtype=encode.record_dtype(fields))
    for name in rec.dtype.names:
        full[name] = rec[name]
    full["ie34"] = 100
    p.feed(encode.ipfix_message(1, [encode.flow_set(2, encode.template_record(256, fields)),
                                    encode.flow_set(256, full.tobytes())]), "x", 0)  # fmt: skip
    p.process(0)
    assert p.bytes_total == 100_000
    assert p.packets_total == 300
    assert p.metrics.drops["counter_overflow"] == 1


def test_max_prefixes_keeps_the_busiest():
    p = FlowPipeline(FlowsConfig(max_prefixes=10), (), start=0)
    dsts = [f"198.18.{i}.1" for i in range(50)]
    _feed(p, dsts, [1000 * (i + 1) for i in range(50)], 1)
    p.process(10)
    snap = p.snapshot(10)
    assert len(snap.prefixes) == 10
    assert snap.prefixes[0] == "198.18.49.0/24"


def test_routing_table_change_keeps_history_of_surviving_prefixes():
    p = FlowPipeline(FlowsConfig(), PROVIDERS, prefixes=["198.18.0.0/16", "198.19.0.0/16"], start=0)
    _feed(p, ["198.18.0.1", "198.19.0.1"], [1000, 2000], 1, out_if=11)
    p.process(10)
    before = p.snapshot(10)
    assert set(before.prefixes) == {"198.18.0.0/16", "198.19.0.0/16"}
    p.set_routes(["198.19.0.0/16", "10.0.0.0/8"])
    after = p.snapshot(10)
    assert after.prefixes == ("198.19.0.0/16",)
    assert after.bps[0, 0] == before.bps[before.prefixes.index("198.19.0.0/16"), 0]
    _feed(p, ["198.18.0.1"], [1000], 11, out_if=11)  # no longer routed: falls back to /24
    p.process(20)
    assert "198.18.0.0/24" in p.snapshot(20).prefixes
    assert p.metrics.unrouted_records == 1


def test_ipv6_fallback_granularity_and_next_hop():
    rec = np.zeros(1, dtype=encode.record_dtype(encode.IPV6_FIELDS))
    rec["ie28_hi"] = 0x20010DB800120034
    rec["ie63_hi"], rec["ie63_lo"] = 0x20010DB8FFFF0000, 2
    rec["ie1"], rec["ie2"] = 500, 1
    p = FlowPipeline(FlowsConfig(), PROVIDERS, start=0)
    p.feed(encode.ipfix_message(1, [ipfix_template(300, encode.IPV6_FIELDS),
                                    encode.flow_set(300, rec.tobytes())]), "x", 1)  # fmt: skip
    p.process(10)
    snap = p.snapshot(10)
    assert snap.prefixes == ("2001:db8:12::/48",)
    assert snap.bps[0, 1] > 0


def test_snapshot_carries_one_minute_samples():
    p = FlowPipeline(FlowsConfig(), PROVIDERS, start=0)
    _feed(p, ["198.18.0.1"], [600_000], 1, out_if=11)
    p.process(125)
    assert p.snapshot(125).provider_1m_samples["isp1"] == (80_000.0, 0.0)


def test_snapshot_keeps_unattributed_traffic_per_prefix():
    p = FlowPipeline(FlowsConfig(window_s=10, smoothing_s=10), PROVIDERS, start=0)
    _feed(p, ["198.18.0.1", "198.18.0.2"], [1000, 3000], 1, out_if=11)
    _feed(p, ["198.18.0.1"], [2000], 2, out_if=99)
    p.process(10)
    snap = p.snapshot(10)
    assert snap.prefixes == ("198.18.0.0/24",)
    assert snap.prefix_unattributed_bps[0] == pytest.approx(snap.bps[0, 0] / 2)


def test_the_view_is_whole_one_active_timeout_and_a_window_after_the_first_record():
    """An exporter reports a long flow once per active timeout: until one has passed
    since the first record, some flows are in the view and others not yet."""
    cfg = FlowsConfig(window_s=5, smoothing_s=15, active_timeout_s=10)
    p = FlowPipeline(cfg, PROVIDERS, start=0)
    p.process(12)  # windows pass with nothing exported: no view at all yet
    assert not p.whole(12)
    _feed(p, ["198.18.0.1"], [10_000], 16, nh="100.64.0.2")
    for now in (20, 25, 30.9):
        p.process(now)
        assert not p.whole(now), now
    p.process(31)
    assert p.whole(31)  # 16 + 10 + 5
