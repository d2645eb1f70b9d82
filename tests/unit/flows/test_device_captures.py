"""Device-layout golden captures (issue 9 part 2): each decodes to its stored expectation,
and to what a user checks: the rate applied, the records kept, the losses counted.

The captures and their JSON are written by make_device_captures.py; tshark checks
the same files in test_device_tshark.py.
"""

from __future__ import annotations

import json

import pytest

from routepilot.config.models import ProviderConfig
from routepilot.flows.config import FlowsConfig
from routepilot.flows.offline import decode_capture
from routepilot.flows.pcap import read_datagrams
from routepilot.flows.pipeline import FlowPipeline
from routepilot.flows.sink import MemoryRates

from .make_device_captures import CAPTURES, DEVICES, EXPORTER_TEXT

ISP1 = ProviderConfig(name="isp1", asn=65001, next_hops=["100.64.0.1"], capacity_mbps=100)
ISP2 = ProviderConfig(name="isp2", asn=65002, next_hops=["100.64.0.2"], capacity_mbps=100)


def _decode(name: str, **kw) -> dict:
    return decode_capture(DEVICES / f"{name}.pcap", max_records=1000, **kw)


def test_every_case_has_a_capture_and_its_expectation():
    assert len(CAPTURES) >= 8
    for name in CAPTURES:
        assert (DEVICES / f"{name}.pcap").exists(), name
        assert (DEVICES / f"{name}.json").exists(), name


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_decode_matches_golden(name):
    expected = json.loads((DEVICES / f"{name}.json").read_text())
    report = decode_capture(DEVICES / f"{name}.pcap", max_records=100)
    report["capture"] = f"{name}.pcap"
    assert json.loads(json.dumps(report)) == expected


def test_juniper_zero_length_scope_carries_the_sampling_rate():
    report = _decode("juniper-v9-options-zero-scope")
    assert report["drops"] == {}
    assert report["exporters"][0]["sampling"] == 100
    assert {f["sampling"] for f in report["flows"]} == {100}
    assert report["total_bytes"] == 100 * (1000 + 2000 + 3000 + 4000)


def test_zero_length_data_fields_keep_every_record():
    report = _decode("v9-zero-length-fields")
    assert report["drops"] == {}
    assert [f["bytes"] for f in report["flows"]] == [1000, 2000, 3000, 4000, 5000]
    assert [f["out_if"] for f in report["flows"]] == [3] * 5


def test_h3c_variable_length_fields_are_skipped_not_fatal():
    report = _decode("h3c-v9-variable-length")
    assert report["drops"] == {}
    assert [f["dst"] for f in report["flows"]] == [f"198.18.{k}.1" for k in range(4)]
    assert [(f["bytes"], f["packets"], f["out_if"]) for f in report["flows"]] == [
        (1000 * (k + 1), k + 1, 3) for k in range(4)
    ]


@pytest.mark.parametrize("name", ["v9-bgp-next-hop-zero", "sflow-gateway-next-hop-zero"])
def test_unset_bgp_next_hop_falls_back_to_the_ip_next_hop(name):
    report = _decode(name, providers=[ISP1, ISP2])
    assert report["unattributed_records"] == 0
    by_prefix = {r["prefix"]: r["provider"] for r in report["aggregate"]}
    # Three records carry BGP next hop 0.0.0.0 and IP next hop isp2; one a real BGP one.
    assert by_prefix == {"198.18.0.0/24": "isp2", "198.18.1.0/24": "isp2",
                         "198.18.2.0/24": "isp2", "198.18.3.0/24": "isp1"}  # fmt: skip


def test_records_before_their_sampler_are_held_and_scaled():
    report = _decode("v9-records-before-sampler")
    assert report["drops"] == {}
    assert report["exporters"][0]["samplers"] == {2: 2182}
    assert [f["sampling"] for f in report["flows"]] == [2182] * 5
    assert report["total_bytes"] == 2182 * sum(1000 * k for k in range(1, 6))


def test_a_flush_between_records_and_options_data_changes_nothing():
    """The collector flushes every 0.2 s; `flows decode` once per 65536 records. Records
    that wait for their sampler must come out the same either way."""
    pipeline = FlowPipeline(FlowsConfig())
    for d in read_datagrams(DEVICES / "v9-records-before-sampler.pcap"):
        pipeline.feed(d.payload, d.src, d.time)
        pipeline.process(d.time)
    pipeline.finish(1e9)
    assert pipeline.bytes_total == _decode("v9-records-before-sampler")["total_bytes"]


def test_sampler_rate_survives_a_restart_through_the_store():
    rates = MemoryRates()
    datagrams = list(read_datagrams(DEVICES / "v9-records-before-sampler.pcap"))
    first = FlowPipeline(FlowsConfig(), rates=rates)
    for d in datagrams:
        first.feed(d.payload, d.src, d.time)
    first.finish(10)
    assert [(r.exporter, r.version, r.domain, r.sampler, r.rate)
            for r in rates.sampler_rates()] == [(EXPORTER_TEXT, 9, 9, 2, 2182)]  # fmt: skip
    # After a restart, the last packet alone (no options data) is scaled at once.
    second = FlowPipeline(FlowsConfig(), rates=rates)
    second.restore_rates(rates.sampler_rates())
    template, last = datagrams[0], datagrams[-1]
    second.feed(template.payload, template.src, 20)
    second.feed(last.payload, last.src, 21)
    second.finish(22)
    assert second.metrics.drops == {}
    assert second.bytes_total == 2182 * (1000 + 2000 + 3000 + 4000 + 5000)


def test_records_of_a_sampler_that_never_comes_are_counted_lost():
    datagrams = list(read_datagrams(DEVICES / "v9-records-before-sampler.pcap"))
    pipeline = FlowPipeline(FlowsConfig())
    pipeline.feed(datagrams[0].payload, datagrams[0].src, 0)
    pipeline.finish(1)
    assert pipeline.metrics.drops == {"no_sampler_rate": 3}
    assert pipeline.bytes_total == 0  # never counted at 1:1, 2182 times too low


def test_template_that_never_arrives_counts_its_records_lost():
    report = _decode("ipfix-template-never-arrives")
    assert report["records"] == {"ipfix": 6}
    assert report["drops"] == {"no_template": 4}  # records, by the sequence numbers
    assert report["exporters"][0]["pending_sets"] == 0


def test_sflow_datagram_cut_short_counts_each_lost_sample():
    report = _decode("sflow-cut-short")
    assert report["records"] == {"sflow": 3}
    assert report["drops"] == {"sflow_truncated_sample": 5}


def test_zero_padding_after_the_last_flowset_is_not_an_error():
    report = _decode("paloalto-v9-padding")
    assert report["drops"] == {}
    assert report["records"] == {"netflow9": 6}


def test_reordering_is_not_counted_as_loss():
    report = _decode("ipfix-reordered")
    assert report["records"] == {"ipfix": 115}
    assert report["sequence_gaps"] == {"ipfix": 35}  # 7 messages of 5 never sent on
